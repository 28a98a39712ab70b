import type { SdkClient } from './aws/clients.ts';
import type { AccountApi } from './databricks/api.ts';
import type { CustomerManagedKey, KeyUseCase } from './databricks/types.ts';
import { InvalidInput, listSome, RotatorError, TransientError } from './errors.ts';
import { databricksGrantFor } from './kms/grant.ts';
import { describeKey, type KeyFacts, keyUnusableReason } from './kms/key.ts';
import { ensureDatabricksKeyPolicy, readKeyPolicy } from './kms/key-policy.ts';
import { type DatabricksGrant, missingDatabricksGrants } from './kms/policy.ts';
import { databricksDenials, describeDenials } from './kms/policy-eval.ts';
import type { Plan } from './rotation.ts';
import type { Settings } from './settings.ts';
import { KeyPolicyDeniesDatabricks } from './workspace/errors.ts';

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
  /** The key policy's Deny statements that apply to this workspace's use of the key (Sid or index). */
  denied?: string[];
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
 * the workspace's region, and its policy still grants Databricks and does not deny it (DESIGN §3, §6.9).
 * A drifted policy is re-patched only when the plan says `repairPolicy`; otherwise it raises
 * `KeyPolicyDrift` naming what is missing (a revoked grant may be the security team's decision). An
 * explicit Deny that applies to Databricks (or, for a storage key that encrypts cluster volumes, to the
 * workspace's cross-account role) raises `KeyPolicyDeniesDatabricks` naming the statements: a Deny is the
 * key owners' decision and is never repaired, so nothing is written then, with or without `repairPolicy`.
 * No compute is touched. Other problems that need downtime or a human raise `VerificationFailed` listing
 * them all.
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
  /** Workspaces whose grant is known, to be checked against the key policy. */
  const checks: Array<{ result: VerifiedWorkspace; uses: KeyUseCase[]; grant: DatabricksGrant }> = [];
  const problemOf = (result: VerifiedWorkspace) => (text: string) => {
    result.findings.push(text);
    problems.push(`workspace ${result.workspaceId}: ${text}`);
  };
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
    results.push(result);
    const problem = problemOf(result);
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
      checks.push({ result, uses, grant });
    } catch (error) {
      if (isTransient(error) || !(error instanceof RotatorError)) throw error;
      problem(`the key policy cannot be verified: ${error.name}: ${error.message}`);
    }
  }

  // The policy is read once, and every workspace's Deny is known before anything is repaired: a Deny is
  // never repaired, and a verification that fails on one must not have written the policy for another.
  const denied = new Map<string, number[]>();
  const denialProblems = new Set<string>();
  let policy: string | undefined;
  if (checks.length > 0) {
    try {
      policy = await readKeyPolicy(deps.kms, keyArn);
    } catch (error) {
      if (isTransient(error) || !(error instanceof RotatorError)) throw error;
      for (const { result } of checks) {
        problemOf(result)(`the key policy cannot be verified: ${error.name}: ${error.message}`);
      }
    }
  }
  const sound: typeof checks = [];
  for (const check of policy === undefined ? [] : checks) {
    const { result, uses, grant } = check;
    try {
      const denials = databricksDenials(policy as string, {
        databricksPrincipalArn: grant.databricksPrincipalArn,
        accountIds: grant.accountIds,
        keyArn,
        useCases: uses,
        ...(grant.ebsRoleArn !== undefined ? { clusterVolumes: { roleArn: grant.ebsRoleArn } } : {}),
      });
      if (denials.length > 0) {
        result.denied = denials.map((d) => d.statement);
        const text = describeDenials(denials);
        const problem = `the key policy explicitly denies Databricks what ${uses.join(' and ')} needs: ${text}`;
        problemOf(result)(problem);
        denialProblems.add(`workspace ${result.workspaceId}: ${problem}`);
        denied.set(text, [...(denied.get(text) ?? []), result.workspaceId]);
      }
      if (denials.length > 0 || !plan.repairPolicy) {
        const missing = missingDatabricksGrants(policy as string, grant);
        if (missing.length > 0) {
          result.missing = missing;
          const text = `the key policy no longer grants Databricks ${uses.join(' and ')}: missing ${missing.join('; ')}`;
          problemOf(result)(text);
          drift.push(`workspace ${result.workspaceId}: ${text}`);
        }
      }
      if (denials.length === 0) sound.push(check);
    } catch (error) {
      if (isTransient(error) || !(error instanceof RotatorError)) throw error;
      problemOf(result)(`the key policy cannot be verified: ${error.name}: ${error.message}`);
    }
  }

  // Sequential on purpose: every workspace shares the key policy, and concurrent read-modify-write of one
  // policy would lose statements.
  if (plan.repairPolicy && denied.size === 0) {
    for (const { result, grant } of sound) {
      try {
        const patched = await ensureDatabricksKeyPolicy(deps.kms, keyArn, grant);
        result.policyRepatched = patched.changed;
        result.added = patched.added;
        if (patched.changed) {
          result.findings.push(
            `the key policy had drifted: re-patched it as asked (added ${patched.added.join(', ') || 'none'}; merged ${patched.merged.join(', ') || 'none'})`,
          );
        }
      } catch (error) {
        if (isTransient(error) || !(error instanceof RotatorError)) throw error;
        problemOf(result)(`the key policy cannot be verified: ${error.name}: ${error.message}`);
      }
    }
  }
  for (const result of results) {
    if (result.findings.length === 0)
      result.findings.push(`key configuration(s) and key policy of ${keyArn} are sound`);
  }

  if (denied.size > 0) {
    const which = [...denied].map(([text, ids]) => `${text} (workspace(s) ${listSome(ids)})`);
    const ids = [...denied.values()].flat();
    const others = problems.filter((p) => !denialProblems.has(p));
    const also = others.length > 0 ? ` Other problems found: ${others.join('; ')}` : '';
    throw new KeyPolicyDeniesDatabricks(
      `the policy of KMS key ${keyArn} explicitly denies Databricks what ${ids.length} workspace(s) on the key need: ${which.join('; ')}. A Deny overrides every Allow, so KMS refuses those workspaces' use of the key. A Deny is the key owners' decision: it is never repaired automatically (not even with repairPolicy), and nothing was changed. If it was meant to revoke Databricks, this alarm is expected; otherwise remove the statement or narrow it so it does not apply to Databricks, then verify again.${also}`,
      {
        details: {
          keyArn,
          denials: [...denied].map(([statements, workspaceIds]) => ({ statements, workspaceIds })),
          missing: drift,
          problems,
          workspaces: results,
        },
      },
    );
  }
  if (drift.length > 0) {
    throw new KeyPolicyDrift(
      `the policy of KMS key ${keyArn} no longer grants Databricks what ${drift.length} workspace(s) need, and repair was not asked: ${problems.join('; ')}. If the grant was revoked on purpose, this is expected: those workspaces will fail to use the key. Otherwise restore it: start a verification with {"verify": true, "keyArn": "${keyArn}", "repairPolicy": true, "workspaceIds": [...]}, or set REPAIR_POLICY_ON_ROTATION=true.`,
      { details: { keyArn, missing: drift, problems, workspaces: results } },
    );
  }
  if (problems.length > 0) {
    // What this verification changed before it found those problems is said too (nothing half-done goes
    // unreported): the repair asked for still ran for the workspaces whose policy could be repaired.
    const repaired = results.filter((r) => r.policyRepatched === true).map((r) => r.workspaceId);
    const changed =
      repaired.length > 0
        ? ` The key policy was re-patched as asked (repairPolicy) for workspace(s) ${listSome(repaired)}.`
        : '';
    throw new VerificationFailed(
      `verification of ${keyArn} found ${problems.length} problem(s) that need a person: ${problems.join('; ')}.${changed}`,
      { details: { keyArn, problems, workspaces: results } },
    );
  }
  return { workspaces: results };
}
