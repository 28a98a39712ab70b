import { kmsClient } from '../lib/aws/kms.ts';
import { databricksFor } from '../lib/databricks/index.ts';
import { logger } from '../lib/log.ts';
import { PlanSchema } from '../lib/rotation.ts';
import { verifyKeyUse } from '../lib/verify.ts';
import { defineStep } from './commons/handler.ts';

/** After an in-place key material rotation: verify configurations and key policy, no compute touched. */
export const handler = defineStep('verify', PlanSchema, async (plan, env) => {
  const result = await verifyKeyUse(plan, {
    account: databricksFor(env.settings).account,
    kms: kmsClient(),
    settings: env.settings,
  });
  logger.info('verified', {
    keyArn: plan.target?.keyArn,
    repatched: result.workspaces.filter((w) => w.policyRepatched).map((w) => w.workspaceId),
  });
  return result;
});
