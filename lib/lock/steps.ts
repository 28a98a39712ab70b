import { logger } from '../log.ts';
import { compactRotationResult } from '../retention.ts';
import { requireLockTable } from '../settings.ts';
import * as z from '../zod.ts';
import { WorkspaceBusy } from './errors.ts';
import { ExecutionArnSchema, type LockEnv, leaseSeconds } from './item.ts';
import { acquireWorkspaceLock, type HeldLock, releaseLocksHeldBy, releaseWorkspaceLock } from './lease.ts';

/** What the lock steps read of the per-workspace item: its workspace id. */
const LockedWorkspaceSchema = z.looseObject({ workspaceId: z.number().check(z.int(), z.positive()) });

/**
 * Input of acquire-workspace-lock: the per-workspace item, the execution taking the lock
 * (`$$.Execution.Id`) and, in a child execution, the parent that started it.
 */
export const AcquireLockInputSchema = z.object({
  item: z.looseObject({
    workspace: LockedWorkspaceSchema,
    /** Wait for another execution's lock instead of failing with `WorkspaceBusy`. */
    waitForLock: z.optional(z.boolean()),
    /** The rotation that started this workspace's execution (`$$.Execution.Id` of the parent). */
    rootExecution: z.optional(ExecutionArnSchema),
  }),
  holder: ExecutionArnSchema,
  /** The execution that started `holder` (`AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID`); else `holder`. */
  rootExecution: z.optional(ExecutionArnSchema),
});
export type AcquireLockInput = z.infer<typeof AcquireLockInputSchema>;

/** Acquire's result, stored at `item.lock`: the lock held, or (with `waitForLock`) who holds it. */
export type LockOutcome =
  | HeldLock
  | { busy: true; holder: string; acquiredAt: number | undefined; expiresAt: number | undefined };

/**
 * Takes the workspace's lock for LOCK_LEASE_MINUTES before anything is changed. Held by another execution:
 * `WorkspaceBusy`, or `{ busy: true, holder }` when the item asks to `waitForLock` (the state machine waits
 * and asks again).
 */
export async function takeWorkspaceLock(input: AcquireLockInput, env: LockEnv): Promise<LockOutcome> {
  const table = requireLockTable(env.settings, 'lock the workspace before it is rotated');
  try {
    return await acquireWorkspaceLock(env.client, table, {
      workspaceId: input.item.workspace.workspaceId,
      holder: input.holder,
      // The parent's id (a lock of a child is released with its parent), from the input or the item.
      ...((input.rootExecution ?? input.item.rootExecution) === undefined
        ? {}
        : { rootExecution: (input.rootExecution ?? input.item.rootExecution) as string }),
      leaseSeconds: leaseSeconds(env.settings),
      now: env.now,
    });
  } catch (error) {
    if (!(error instanceof WorkspaceBusy) || input.item.waitForLock !== true) throw error;
    const { holder, acquiredAt, expiresAt } = error.details as {
      holder: string;
      acquiredAt?: number;
      expiresAt?: number;
    };
    logger.info('workspace locked by another execution; waiting for it', { holder });
    return { busy: true, holder, acquiredAt, expiresAt };
  }
}

/**
 * Input of release-workspace-lock: the workspace, the execution releasing (`$$.Execution.Id`) and the
 * workspace's result, which the step passes through as its own output (the child execution's output).
 */
export const ReleaseLockInputSchema = z.looseObject({
  workspace: LockedWorkspaceSchema,
  holder: ExecutionArnSchema,
  result: z.optional(z.unknown()),
  /** Bytes the result may take in the rotation's state (the plan's `resultBudgetBytes`). */
  resultBudgetBytes: z.optional(z.number().check(z.int(), z.positive())),
});
export type ReleaseLockInput = z.infer<typeof ReleaseLockInputSchema>;

/**
 * Releases the workspace's lock if this execution holds it (after compensation, never before), and
 * returns `input.result` made compact (`compactRotationResult`) when there is one, else `{ released }`.
 */
export async function giveUpWorkspaceLock(input: ReleaseLockInput, env: LockEnv): Promise<unknown> {
  const table = requireLockTable(env.settings, 'release the workspace lock');
  const { released } = await releaseWorkspaceLock(env.client, table, {
    workspaceId: input.workspace.workspaceId,
    holder: input.holder,
  });
  logger.info(released ? 'workspace lock released' : 'workspace lock was not held by this execution', {
    workspaceId: input.workspace.workspaceId,
  });
  // The workspace's result goes to the rotation's Map: compact, so hundreds of them fit its payload quota.
  return input.result === undefined
    ? { released }
    : compactRotationResult(input.result, input.resultBudgetBytes);
}

/**
 * The EventBridge event "Step Functions Execution Status Change" of an execution that ended without
 * releasing its locks (the rule sends only these statuses).
 */
export const ExecutionEndedEventSchema = z.looseObject({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.looseObject({
    executionArn: ExecutionArnSchema,
    status: z.enum(['ABORTED', 'TIMED_OUT', 'FAILED']),
  }),
});
export type ExecutionEndedEvent = z.infer<typeof ExecutionEndedEventSchema>;

/** Releases every lock the ended execution (or a child it started) still holds. */
export async function releaseLocksOfEndedExecution(
  event: ExecutionEndedEvent,
  env: LockEnv,
): Promise<{ executionArn: string; status: string; released: { workspaceId: number; holder: string }[] }> {
  const table = requireLockTable(env.settings, 'release the locks of an ended execution');
  const { executionArn, status } = event.detail;
  const { released } = await releaseLocksHeldBy(env.client, table, executionArn);
  logger.info('locks of an ended execution released', {
    executionArn,
    status,
    workspaceIds: released.map((r) => r.workspaceId),
  });
  return { executionArn, status, released };
}
