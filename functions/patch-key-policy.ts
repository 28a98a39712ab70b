import { databricksGrantFor } from '../lib/kms/grant.ts';
import { ensureDatabricksKeyPolicy } from '../lib/kms/key-policy.ts';
import { RotationItemSchema } from '../lib/rotation.ts';
import { defineStep } from './commons/handler.ts';

/**
 * Patch key policy: grant Databricks the target key for the item's use cases (DESIGN §4). Writes the
 * policy only when something is missing, so a retry or redrive is a no-op.
 */
export const handler = defineStep('patch-key-policy', RotationItemSchema, async (item, env) => {
  const grant = await databricksGrantFor({
    useCases: item.useCases,
    reuseKeyForClusterVolumes: item.reuseKeyForClusterVolumes,
    workspaceId: item.workspace.workspaceId,
    settings: env.settings,
    account: env.databricks().account,
  });
  const { changed, added, merged, bytes } = await ensureDatabricksKeyPolicy(
    env.aws.kms,
    item.target.keyArn,
    grant,
  );
  return { changed, added, merged, bytes };
});
