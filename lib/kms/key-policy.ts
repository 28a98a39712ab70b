import { GetKeyPolicyCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import type { SdkClient } from '../aws/clients.ts';
import { clock } from '../clock.ts';
import { TransientError } from '../errors.ts';
import { logger } from '../log.ts';
import { fromKmsError, KeyPolicyUnparseable } from './errors.ts';
import { type DatabricksGrant, mergeDatabricksStatements, missingDatabricksGrants } from './policy.ts';

const POLICY_NAME = 'default';
/** Read-merge-write rounds before giving up on a policy that keeps changing under us. */
const MAX_ROUNDS = 3;

export interface KeyPolicyPatch {
  changed: boolean;
  /** Sids of the statements added. */
  added: string[];
  /** Sids of existing statements the Databricks account id(s) were merged into. */
  merged: string[];
  /** UTF-8 size of the policy as it stands now. */
  bytes: number;
}

/** The key's `default` policy document. KMS errors become the named errors of `./errors.ts`. */
export async function readKeyPolicy(kms: SdkClient, keyArn: string): Promise<string> {
  let out: { Policy?: unknown } | undefined;
  try {
    out = await kms.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: POLICY_NAME }));
  } catch (error) {
    throw fromKmsError(error, { keyId: keyArn, operation: 'GetKeyPolicy' });
  }
  if (typeof out?.Policy !== 'string') {
    throw new KeyPolicyUnparseable(`KMS returned no key policy for ${keyArn}; check the key and re-run`, {
      details: { keyArn },
    });
  }
  return out.Policy;
}

/**
 * Makes the key policy grant Databricks what `grant` needs (DESIGN §1 step 2): reads the `default`
 * policy, merges the missing Databricks statement(s) or account id(s), and writes it back only when
 * something changed — never with `BypassPolicyLockoutSafetyCheck`. Safe to run twice.
 *
 * Workspaces sharing a key are patched in parallel and KMS has no conditional write, so a concurrent
 * patch (e.g. another workspace's EBS statement) can overwrite ours: the policy is read back after each
 * write and merged again when it lost something; a policy that keeps changing raises `TransientError`.
 */
export async function ensureDatabricksKeyPolicy(
  kms: SdkClient,
  keyArn: string,
  grant: DatabricksGrant,
): Promise<KeyPolicyPatch> {
  const added = new Set<string>();
  const merged = new Set<string>();
  let changed = false;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const current = await readKeyPolicy(kms, keyArn);
    if (changed && missingDatabricksGrants(current, grant).length === 0) {
      return {
        changed,
        added: [...added],
        merged: [...merged],
        bytes: new TextEncoder().encode(current).length,
      };
    }
    const result = mergeDatabricksStatements(current, grant);
    if (!result.changed) {
      return { changed, added: [...added], merged: [...merged], bytes: result.bytes };
    }
    try {
      await kms.send(
        new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: POLICY_NAME, Policy: result.policy }),
      );
    } catch (error) {
      throw fromKmsError(error, { keyId: keyArn, operation: 'PutKeyPolicy' });
    }
    changed = true;
    for (const sid of result.added) added.add(sid);
    for (const sid of result.merged) merged.add(sid);
    logger.info('key policy patched for Databricks', {
      keyArn,
      added: result.added,
      merged: result.merged,
      bytes: result.bytes,
      round,
    });
    if (round < MAX_ROUNDS) await clock().sleep(200 * round);
  }
  throw new TransientError(
    `the policy of KMS key ${keyArn} kept changing while the Databricks statement(s) were written (${MAX_ROUNDS} rounds); it is retried`,
    { details: { keyArn } },
  );
}
