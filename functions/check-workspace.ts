import {
  checkComputeStopped,
  computeDeps,
  StopCheckItemSchema,
  type StopCheckResult,
} from '../lib/compute/index.ts';
import { logger } from '../lib/log.ts';
import { checkWorkspace } from '../lib/workspace/check.ts';
import { CheckItemSchema, type WorkspaceCheckResult } from '../lib/workspace/schemas.ts';
import { defineStep, type StepEnv } from './commons/handler.ts';

/**
 * One poll after the update: RUNNING on the new key, WAITING, or a named failure; stored under
 * `item.workspaceCheck`. While the workspace updates it also keeps compute stopped (DESIGN §6.5: nothing may
 * start until the storage wait ends, whoever starts it): what came back is stopped again and added to the
 * restore set. That guard is best effort here — a workspace API that does not answer during the update
 * does not fail the poll.
 */
export const handler = defineStep('check-workspace', CheckItemSchema, async (item, env) => {
  const result = await checkWorkspace(env.databricks().account, item, env.clock.now());
  return { ...result, ...(await guard(item, env)) };
});

async function guard(item: unknown, env: StepEnv): Promise<Pick<WorkspaceCheckResult, 'guard'>> {
  const parsed = StopCheckItemSchema.safeParse(item);
  if (!parsed.success) return {};
  const stopItem = { ...parsed.data, workspaceCheck: undefined };
  try {
    const check: StopCheckResult = await checkComputeStopped(stopItem, computeDeps(stopItem, env), {
      guard: true,
    });
    const stillRunning = Object.values(check.remaining).reduce((a: number, b) => a + (b ?? 0), 0);
    return { guard: { stillRunning, cameBack: check.restartedCount } };
  } catch (error) {
    const e = error as Error;
    logger.warn('could not check compute during the workspace update', { errorName: e.name });
    return { guard: { stillRunning: 0, cameBack: 0, error: `${e.name}: ${e.message}`.slice(0, 300) } };
  }
}
