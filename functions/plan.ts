import { z } from 'zod';
import { logger } from '../lib/log.ts';
import { planRotation } from '../lib/plan/plan.ts';
import { defineStep } from './commons/handler.ts';

/** Plan the rotation: the execution input or an EventBridge event becomes an explicit Plan (DESIGN §3). */
export const handler = defineStep('plan', z.unknown(), async (input, env) => {
  const plan = await planRotation(input, {
    settings: env.settings,
    kms: env.aws.kms,
    account: env.databricks().account,
    now: env.clock.now(),
  });
  logger.info('plan', {
    mode: plan.mode,
    dryRun: plan.dryRun,
    reason: plan.reason,
    trigger: plan.trigger,
    targetKeyArn: plan.target?.keyArn,
    workspaceIds: plan.workspaces.map((w) => w.workspaceId),
    emergency: plan.emergency,
  });
  return plan;
});
