import { kmsClient } from '../lib/aws/kms.ts';
import { databricksFor } from '../lib/databricks/index.ts';
import { databricksGrantFor } from '../lib/kms/grant.ts';
import { assertKeyUsable, describeKey } from '../lib/kms/key.ts';
import { ensureDatabricksKeyPolicy } from '../lib/kms/key-policy.ts';
import { holdLease } from '../lib/lock/index.ts';
import { RotationItemSchema } from '../lib/rotation.ts';
import { defineStep } from './commons/handler.ts';

/**
 * Patch key policy: grant Databricks the target key for the item's use cases (DESIGN §4). Writes the
 * policy only when something is missing, so a retry or redrive is a no-op.
 *
 * The key is read again first: KMS lets the policy of a disabled key or one pending deletion be changed, so
 * without this a key that became unusable after the plan would be noticed only at the PATCH — after compute
 * was stopped. Failing here (`KeyDisabled`, `KeyInvalidState`, …) stops the rotation before any downtime.
 */
export const handler = defineStep('patch-key-policy', RotationItemSchema, async (item, env) => {
  await holdLease(item, env);
  assertKeyUsable(await describeKey(kmsClient(), item.target.keyArn), item.workspace.region);
  const grant = await databricksGrantFor({
    useCases: item.useCases,
    reuseKeyForClusterVolumes: item.reuseKeyForClusterVolumes,
    workspaceId: item.workspace.workspaceId,
    keyArn: item.target.keyArn,
    settings: env.settings,
    account: databricksFor(env.settings).account,
  });
  const { changed, added, merged, bytes } = await ensureDatabricksKeyPolicy(
    kmsClient(),
    item.target.keyArn,
    grant,
  );
  return { changed, added, merged, bytes };
});
