import { kmsClient } from '../lib/aws/kms.ts';
import { snapshotStoreFor } from '../lib/compute/snapshot-store.ts';
import { databricksFor } from '../lib/databricks/index.ts';
import { logger } from '../lib/log.ts';
import { loadFullPlan } from '../lib/plan/stored.ts';
import { PlanSchema } from '../lib/rotation.ts';
import { type VerifiedWorkspace, verifyKeyUse } from '../lib/verify.ts';
import { defineStep } from './commons/handler.ts';

/** Workspaces listed one by one in the step's result; beyond, the ones with findings first, then counts. */
const LISTED = 100;

/**
 * After an in-place key material rotation: verify configurations and key policy, no compute touched. A
 * verification of more than 100 workspaces is kept in the snapshot store (lib/plan/stored.ts): loaded first,
 * so that every planned workspace is verified. The result lists at most 100 workspaces (those with findings
 * or a re-patched policy first) and counts the rest, so that 1,000 fit the state's 256 KB.
 */
export const handler = defineStep('verify', PlanSchema, async (carried, env) => {
  const plan = await loadFullPlan(carried, snapshotStoreFor(env.settings));
  const result = await verifyKeyUse(plan, {
    account: databricksFor(env.settings).account,
    kms: kmsClient(),
    settings: env.settings,
  });
  logger.info('verified', {
    keyArn: plan.target?.keyArn,
    repatched: result.workspaces.filter((w) => w.policyRepatched).map((w) => w.workspaceId),
  });
  return compactVerification(result.workspaces);
});

function compactVerification(workspaces: VerifiedWorkspace[]): {
  workspaces: VerifiedWorkspace[];
  workspaceCount?: number;
  repatched?: number[];
  notListed?: number;
} {
  if (workspaces.length <= LISTED) return { workspaces };
  const notable = (w: VerifiedWorkspace) => (w.policyRepatched || (w.missing?.length ?? 0) > 0 ? 0 : 1);
  const listed = [...workspaces].sort((a, b) => notable(a) - notable(b)).slice(0, LISTED);
  return {
    workspaces: listed,
    workspaceCount: workspaces.length,
    repatched: workspaces.filter((w) => w.policyRepatched).map((w) => w.workspaceId),
    notListed: workspaces.length - listed.length,
  };
}
