import type { SdkClient } from './aws/clients.ts';
import type { AccountApi } from './databricks/api.ts';
import type { CustomerManagedKey, KeyUseCase } from './databricks/types.ts';
import { InvalidInput, RotatorError, TransientError } from './errors.ts';
import { databricksGrantFor } from './kms/grant.ts';
import { describeKey, type KeyFacts, keyUnusableReason } from './kms/key.ts';
import { ensureDatabricksKeyPolicy, readKeyPolicy } from './kms/key-policy.ts';
import { missingDatabricksGrants } from './kms/policy.ts';
import type { Plan } from './rotation.ts';
import type { Settings } from './settings.ts';

/** Checks failed that cannot be fixed without downtime; the message lists every problem. */
export class VerificationFailed extends RotatorError {}

/**
 * The key policy no longer grants Databricks what the workspaces on the key need, and repair was not asked
 * (REPAIR_POLICY_ON_ROTATION, or `"repairPolicy": true` in a manual verification): it may be a deliberate
 * revocation, so it is reported, not undone. The message names the missing statements.
 */
export class KeyPolicyDrift extends RotatorError {}

export interface VerifyDeps {
  account: AccountApi;
  kms: SdkClient;
  settings: Settings;
}

export interface VerifiedWorkspace {
  workspaceId: number;
  /** The workspace's key configurations that point at the verified key. */
  keyConfigIds: string[];
  policyRepatched: boolean;
  /** Statements added to the key policy (by Sid). */
  added: string[];
  /** What the key policy lacks (drift found and not repaired). */
  missing?: string[];
  /** What was found, in words (problems and notes). */
  findings: string[];
}

// Retried by the state machine rather than reported as a finding.
const TRANSIENT = new Set(['KmsThrottled', 'DatabricksThrottled', 'DatabricksUnavailable']);

function isTransient(error: unknown): boolean {
  return error instanceof TransientError || TRANSIENT.has((error as { name?: string })?.name ?? '');
}

/**
 * The no-downtime reconciliation after KMS rotated a key's material in place (plan mode `verify`): for
 * each planned workspace, its key configuration(s) still exist and point at the key, the key is usable in
 * the workspace's region, and its policy still grants Databricks. A drifted policy is re-patched only when
 * the plan says `repairPolicy`; otherwise it raises `KeyPolicyDrift` naming what is missing (a revoked grant
 * may be the security team's decision). No compute is touched. Other problems that need downtime or a
 * human raise `VerificationFailed` listing them all.
 */
export async function verifyKeyUse(
  plan: Plan,
  deps: VerifyDeps,
): Promise<{ workspaces: VerifiedWorkspace[] }> {
  if (!plan.target) {
    throw new InvalidInput('verify input field target is invalid: a verify plan names the key', {
      details: { field: 'target' },
    });
  }
  const keyArn = plan.target.keyArn;
  const configs = await deps.account.listKeyConfigs();
  let key: KeyFacts | undefined;
  let keyProblem: string | undefined;
  try {
    key = await describeKey(deps.kms, keyArn);
  } catch (error) {
    if (isTransient(error) || !(error instanceof RotatorError)) throw error;
    keyProblem = `${error.name}: ${error.message}`;
  }

  const results: VerifiedWorkspace[] = [];
  const problems: string[] = [];
  const drift: string[] = [];
  // Sequential on purpose: every workspace shares the key policy, and concurrent read-modify-write of one
  // policy would lose statements.
  for (const planned of plan.workspaces) {
    const id = planned.workspaceId;
    const workspace = await deps.account.getWorkspace(id);
    const result: VerifiedWorkspace = {
      workspaceId: id,
      keyConfigIds: [],
      policyRepatched: false,
      added: [],
      findings: [],
    };
    const problem = (text: string) => {
      result.findings.push(text);
      problems.push(`workspace ${id}: ${text}`);
    };
    const uses: KeyUseCase[] = [];
    let storageConfig: CustomerManagedKey | undefined;
    for (const [useCase, configId] of [
      ['MANAGED_SERVICES', workspace.managed_services_customer_managed_key_id],
      ['STORAGE', workspace.storage_customer_managed_key_id],
    ] as const) {
      if (!configId) continue;
      const config = configs.find((c) => c.customer_managed_key_id === configId);
      if (!config) {
        problem(`its ${useCase} key configuration ${configId} no longer exists in the account`);
      } else if (config.aws_key_info?.key_arn !== keyArn) {
        result.findings.push(
          `uses ${config.aws_key_info?.key_arn ?? 'another key'} for ${useCase} (configuration ${configId}), not ${keyArn}; not checked`,
        );
      } else {
        uses.push(useCase);
        result.keyConfigIds.push(configId);
        if (useCase === 'STORAGE') storageConfig = config;
      }
    }
    if (uses.length === 0) {
      if (result.findings.length === 0) result.findings.push(`no longer uses ${keyArn}; nothing to verify`);
      results.push(result);
      continue;
    }
    if (keyProblem) problem(keyProblem);
    else if (key) {
      const unusable = keyUnusableReason(key, workspace.aws_region ?? planned.region);
      if (unusable) problem(`${unusable.name}: ${unusable.message}`);
    }
    try {
      const grant = await databricksGrantFor({
        useCases: uses,
        reuseKeyForClusterVolumes: storageConfig?.aws_key_info?.reuse_key_for_cluster_volumes ?? true,
        workspaceId: id,
        keyArn,
        settings: deps.settings,
        account: deps.account,
      });
      if (plan.repairPolicy) {
        const patched = await ensureDatabricksKeyPolicy(deps.kms, keyArn, grant);
        result.policyRepatched = patched.changed;
        result.added = patched.added;
        if (patched.changed) {
          result.findings.push(
            `the key policy had drifted: re-patched it as asked (added ${patched.added.join(', ') || 'none'}; merged ${patched.merged.join(', ') || 'none'})`,
          );
        }
      } else {
        const missing = missingDatabricksGrants(await readKeyPolicy(deps.kms, keyArn), grant);
        if (missing.length > 0) {
          result.missing = missing;
          const text = `the key policy no longer grants Databricks ${uses.join(' and ')}: missing ${missing.join('; ')}`;
          problem(text);
          drift.push(`workspace ${id}: ${text}`);
        }
      }
    } catch (error) {
      if (isTransient(error) || !(error instanceof RotatorError)) throw error;
      problem(`the key policy cannot be verified: ${error.name}: ${error.message}`);
    }
    if (result.findings.length === 0)
      result.findings.push(`key configuration(s) and key policy of ${keyArn} are sound`);
    results.push(result);
  }
  if (drift.length > 0) {
    throw new KeyPolicyDrift(
      `the policy of KMS key ${keyArn} no longer grants Databricks what ${drift.length} workspace(s) need, and repair was not asked: ${problems.join('; ')}. If the grant was revoked on purpose, this is expected: those workspaces will fail to use the key. Otherwise restore it: start a verification with {"verify": true, "keyArn": "${keyArn}", "repairPolicy": true, "workspaceIds": [...]}, or set REPAIR_POLICY_ON_ROTATION=true.`,
      { details: { keyArn, missing: drift, problems, workspaces: results } },
    );
  }
  if (problems.length > 0) {
    throw new VerificationFailed(
      `verification of ${keyArn} found ${problems.length} problem(s) that need a person: ${problems.join('; ')}`,
      { details: { keyArn, problems, workspaces: results } },
    );
  }
  return { workspaces: results };
}
