import { ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { mapLimit } from '../lib/concurrency.ts';
import type { KeyUseCase } from '../lib/databricks/types.ts';
import { RotatorError } from '../lib/errors.ts';
import { readKeyPolicy } from '../lib/kms/key-policy.ts';
import { planRotation } from '../lib/plan/plan.ts';
import type { Plan, PlannedWorkspace } from '../lib/rotation.ts';
import { verifyKeyUse } from '../lib/verify.ts';
import { changedUseCases, findReusableKeyConfig } from '../lib/workspace/key-config.ts';
import { type ComputePreview, describeStops, previewCompute } from './compute-preview.ts';
import { type Hooks, openTarget, TARGET_FLAGS, TARGET_HELP, type Target } from './context.ts';
import { HELP, parseCommand, UsageError } from './flags.ts';
import { INPUT_FLAGS, INPUT_HELP, inputFrom } from './input.ts';
import type { Io } from './io.ts';
import { type PolicyPreview, previewKeyPolicy } from './policy-preview.ts';

export const PLAN_HELP = `usage: cmk-rotator plan (--input FILE.json | --workspace-ids 1,2 --key-arn ARN …) [--secret-arn ARN | --scenario FILE] [--json]

Read-only preflight of a rotation: runs the plan step's own code (planRotation) against the real Databricks
account and KMS, or against the local emulation of a scenario, and prints what the rotation would do: the
plan, each workspace's current and target key configurations, what Stop compute would stop per kind (read
with the same list calls, nothing is stopped), the key-policy change as a diff (the same merge, never
written), and any refusal with its named error. Only reads: DescribeKey, GetKeyPolicy, ListResourceTags and
Databricks GETs (plus the OAuth token request). Exit code: 0 the rotation would go ahead, 1 it would be
refused or a problem was found, 2 a command-line mistake.

${INPUT_HELP}
${TARGET_HELP}
  --skip-compute           do not read each workspace's compute (counted when stopping)
  --key-tag KEY=VALUE      the tag the deployment's roles require on the target key (default
                           cmk-rotator:managed=true; keyTagKey/keyTagValue in docs/deploy.md)
  --json                   print one JSON document instead of text
  --verbose                also print the product's structured logs
  -h, --help               this help

The deployment's settings (WATCHED_ALIAS, WORKSPACE_IDS, DATABRICKS_ACCOUNTS_HOST, …) are read from the
environment under the names the Lambda functions use (docs/deploy.md § Settings).

examples:
  npx cmk-rotator plan --scenario local/scenarios/demo.json
  npx cmk-rotator plan --workspace-ids 1234567890123456 --key-alias alias/databricks-managed-services \\
      --secret-arn arn:aws:secretsmanager:eu-west-1:111122223333:secret:cmk-rotator/databricks-AbCdEf \\
      --account-id 11111111-2222-3333-4444-555555555555
  npx cmk-rotator plan --input rotation.json --json > plan.json
`;

const OPTIONS = {
  ...HELP,
  ...INPUT_FLAGS,
  ...TARGET_FLAGS,
  'skip-compute': { type: 'boolean', default: false },
  'key-tag': { type: 'string' },
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
} as const;

/** One planned (or verified) workspace, as the preflight shows it. */
export interface WorkspacePreview {
  workspaceId: number;
  workspaceName?: string;
  deploymentName: string;
  region: string;
  current: PlannedWorkspace['current'];
  changes: PlannedWorkspace['changes'];
  /** Register key configuration: the configuration it would reuse, or null (a new one is registered). */
  keyConfig: { reuse: string | null; useCases: KeyUseCase[] } | null;
  compute: ComputePreview | { error: { name: string; message: string } } | null;
  steps: string[];
}

export interface PlanReport {
  readOnly: true;
  against: string;
  input: unknown;
  plan: Plan | null;
  /** The plan refused the rotation: the named error the plan step would fail with. */
  refused: { name: string; message: string; details?: Record<string, unknown> } | null;
  /** Planning could not run (credentials, network, a missing permission that is not a named error). */
  error: { name: string; message: string } | null;
  workspaces: WorkspacePreview[];
  keyPolicy: PolicyPreview | null;
  keyTag: { key: string; value: string; present: boolean | null; note?: string } | null;
  /** Anything a later step would fail on, found by this preflight. */
  problems: Array<{ workspaceId?: number; step: string; name: string; message: string }>;
}

const SCENARIO_INPUT = Symbol('the scenario input');

export async function planCommand(args: string[], io: Io, hooks: Hooks = {}): Promise<number> {
  const { values } = parseCommand(OPTIONS, args);
  if (values.help) {
    io.out(PLAN_HELP);
    return 0;
  }
  const tag = parseTag(values['key-tag']);
  const given = inputFrom(values, values.scenario === undefined ? {} : { fallback: SCENARIO_INPUT });
  const target = await openTarget(values, hooks);
  try {
    let input = given;
    if (input === SCENARIO_INPUT) {
      input = target.scenario?.input;
      if (input === undefined)
        throw new UsageError(
          `scenario ${values.scenario} has no "input" (it has executions): give --input FILE.json or the input flags`,
        );
    }
    const report = await preflight(input, target, { skipCompute: values['skip-compute'], tag });
    if (values.json) io.out(JSON.stringify(report, null, 2));
    else printReport(report, io);
    return report.refused || report.error || report.problems.length > 0 ? 1 : 0;
  } finally {
    await target.close();
  }
}

function parseTag(text: string | undefined): { key: string; value: string } {
  if (text === undefined) return { key: 'cmk-rotator:managed', value: 'true' };
  const at = text.indexOf('=');
  if (at <= 0) throw new UsageError(`--key-tag must be KEY=VALUE, got ${text}`);
  return { key: text.slice(0, at), value: text.slice(at + 1) };
}

/**
 * The preflight itself: `planRotation` exactly as the plan step calls it, but without `recordEvent` (a
 * DynamoDB write) and `lockHolder`, then the reads that show what the later steps would do.
 */
export async function preflight(
  input: unknown,
  target: Target,
  options: { skipCompute: boolean; tag: { key: string; value: string } },
): Promise<PlanReport> {
  const report: PlanReport = {
    readOnly: true,
    against: target.describe,
    input,
    plan: null,
    refused: null,
    error: null,
    workspaces: [],
    keyPolicy: null,
    keyTag: null,
    problems: [],
  };
  const { settings, kms, databricks } = target;
  try {
    report.plan = await planRotation(input, {
      settings,
      kms,
      account: databricks.account,
      now: target.now(),
    });
  } catch (error) {
    const e = error as Error;
    if (error instanceof RotatorError)
      report.refused = { name: e.name, message: e.message, details: (error as RotatorError).details };
    else report.error = { name: e.name, message: e.message };
    return report;
  }
  const plan = report.plan;
  if ((plan.mode !== 'rotate' && plan.mode !== 'verify') || !plan.target) return report;
  const keyArn = plan.target.keyArn;
  const verifying = plan.mode === 'verify';

  const keyConfigs = verifying ? [] : await databricks.account.listKeyConfigs();
  report.workspaces = plan.workspaces.map((w) => {
    const useCases = changedUseCases(w);
    const reusable = verifying
      ? undefined
      : findReusableKeyConfig(keyConfigs, {
          keyArn,
          useCases,
          reuseKeyForClusterVolumes: plan.reuseKeyForClusterVolumes,
        });
    return {
      workspaceId: w.workspaceId,
      ...(w.workspaceName === undefined ? {} : { workspaceName: w.workspaceName }),
      deploymentName: w.deploymentName,
      region: w.region,
      current: w.current,
      changes: w.changes,
      keyConfig: verifying ? null : { reuse: reusable?.customer_managed_key_id ?? null, useCases },
      compute: null,
      steps: w.steps,
    };
  });

  // The key policy as the patch (or, for a verification, the repair) would leave it.
  try {
    const policyJson = await readKeyPolicy(kms, keyArn);
    report.keyPolicy = await previewKeyPolicy({
      keyArn,
      policyJson,
      workspaces: plan.workspaces.map((w) => ({
        workspaceId: w.workspaceId,
        useCases: verifying ? usesOf(w, keyArn) : changedUseCases(w),
      })),
      reuseKeyForClusterVolumes: plan.reuseKeyForClusterVolumes,
      settings,
      account: databricks.account,
    });
    for (const p of report.keyPolicy.problems)
      report.problems.push({
        workspaceId: p.workspaceId,
        step: 'Patch key policy',
        name: p.name,
        message: p.message,
      });
  } catch (error) {
    const e = error as Error;
    report.problems.push({ step: 'Patch key policy', name: e.name, message: e.message });
  }

  if (verifying) {
    // The verification step's own checks, with repair forced off so that it only reads (its repair would
    // write the policy): what it would report, and whether it would fail.
    try {
      await verifyKeyUse({ ...plan, repairPolicy: false }, { account: databricks.account, kms, settings });
    } catch (error) {
      const e = error as Error;
      const repaired = e.name === 'KeyPolicyDrift' && plan.repairPolicy === true;
      if (!repaired)
        report.problems.push({ step: 'Verify keys and policies', name: e.name, message: e.message });
    }
  }

  report.keyTag = target.scenario ? null : await checkKeyTag(target, keyArn, options.tag);
  if (report.keyTag?.present === false) {
    report.problems.push({
      step: 'Patch key policy',
      name: 'KmsAccessDenied',
      message: `KMS key ${keyArn} does not carry the tag ${options.tag.key}=${options.tag.value}: the deployed functions may read and write the policy only of keys with that tag (docs/deploy.md, prerequisite 5), so the rotation would fail with KmsAccessDenied. Tag it (aws kms tag-resource --key-id ${keyArn} --tags TagKey=${options.tag.key},TagValue=${options.tag.value}) or name the deployment's tag with --key-tag.`,
    });
  }

  if (!verifying && !options.skipCompute) {
    await mapLimit(report.workspaces, 4, async (w) => {
      try {
        w.compute = await previewCompute(databricks.workspace(w.deploymentName), {
          workspaceId: w.workspaceId,
          activeRuns: plan.activeRuns,
          emergency: plan.emergency,
          concurrency: settings.apiConcurrency,
          now: target.now(),
        });
        if (w.compute.runs.refuse > 0) {
          report.problems.push({
            workspaceId: w.workspaceId,
            step: 'Stop compute',
            name: 'ActiveRunsPresent',
            message: `workspace ${w.workspaceId} has ${w.compute.runs.refuse} active job run(s) and activeRuns is "fail": the rotation would stop at Stop compute, after the key policy and key configuration steps. Let them finish, or use activeRuns "wait" or "cancel".`,
          });
        }
      } catch (error) {
        const e = error as Error;
        w.compute = { error: { name: e.name, message: e.message } };
        report.problems.push({
          workspaceId: w.workspaceId,
          step: 'Stop compute',
          name: e.name,
          message: e.message,
        });
      }
    });
  }
  return report;
}

function usesOf(w: PlannedWorkspace, keyArn: string): KeyUseCase[] {
  const out: KeyUseCase[] = [];
  if (w.current.managedServicesKeyArn === keyArn) out.push('MANAGED_SERVICES');
  if (w.current.storageKeyArn === keyArn) out.push('STORAGE');
  return out;
}

/** The deployment's roles reach only tagged keys (docs/deploy.md, prerequisite 5): say whether the tag is there. */
async function checkKeyTag(
  target: Target,
  keyArn: string,
  tag: { key: string; value: string },
): Promise<PlanReport['keyTag']> {
  try {
    const tags: Array<{ TagKey?: string; TagValue?: string }> = [];
    let marker: string | undefined;
    do {
      const page = await target.kms.send(new ListResourceTagsCommand({ KeyId: keyArn, Marker: marker }));
      tags.push(...(page?.Tags ?? []));
      marker = page?.Truncated ? page.NextMarker : undefined;
    } while (marker);
    return { ...tag, present: tags.some((t) => t.TagKey === tag.key && t.TagValue === tag.value) };
  } catch (error) {
    return { ...tag, present: null, note: `could not read the key's tags (${(error as Error).name})` };
  }
}

// ------------------------------------------------------------------------------------------------ text

function printReport(r: PlanReport, io: Io): void {
  io.out('cmk-rotator plan: read-only preflight (nothing is changed)');
  io.out(`Against: ${r.against}`);
  io.out(`Input: ${JSON.stringify(r.input)}`);
  io.out('');
  if (r.refused) {
    io.out(`REFUSED: ${r.refused.name}: ${r.refused.message}`);
    io.out('The plan step would fail with this error before anything is touched.');
    return;
  }
  if (r.error) {
    io.out(`COULD NOT PLAN: ${r.error.name}: ${r.error.message}`);
    return;
  }
  const plan = r.plan as Plan;
  io.out(`Plan: ${plan.mode}${plan.dryRun ? ' (dry run)' : ''} — ${plan.reason}`);
  if (plan.target && (plan.mode === 'rotate' || plan.mode === 'verify')) {
    const t = plan.target;
    io.out(
      `Target: ${t.keyArn}${t.keyAlias ? ` (${t.keyAlias})` : ''}; use cases ${plan.useCases.join(', ')}; active runs: ${plan.activeRuns}${plan.activeRuns === 'wait' ? ` (drain up to ${plan.drainTimeoutMinutes} min)` : ''}${plan.storageWaitSeconds > 0 ? `; storage wait ${plan.storageWaitSeconds / 60} min` : ''}; ${plan.maxConcurrency} workspace(s) at a time`,
    );
  }
  for (const w of r.workspaces) printWorkspace(w, plan, io);
  if (r.keyPolicy) printPolicy(r.keyPolicy, plan.mode === 'verify', io);
  if (r.keyTag) {
    io.out('');
    io.out(
      `Key tag ${r.keyTag.key}=${r.keyTag.value}: ${r.keyTag.present === null ? `not checked — ${r.keyTag.note}` : r.keyTag.present ? 'present' : 'MISSING'}`,
    );
  }
  io.out('');
  if (r.problems.length > 0) {
    io.out(`PROBLEMS (${r.problems.length}): the execution would fail at these steps`);
    for (const p of r.problems)
      io.out(
        `  - ${p.step}${p.workspaceId === undefined ? '' : ` [${p.workspaceId}]`}: ${p.name}: ${p.message}`,
      );
  } else {
    io.out(
      `No refusal, no problem found.${plan.mode === 'rotate' && !plan.dryRun ? ' Start it with: npx cmk-rotator start … (same input)' : ''}`,
    );
  }
}

function printWorkspace(w: WorkspacePreview, plan: Plan, io: Io): void {
  const targetArn = plan.target?.keyArn ?? '';
  io.out('');
  io.out(
    `Workspace ${w.workspaceId}${w.workspaceName ? ` (${w.workspaceName})` : ''} — deployment ${w.deploymentName}, ${w.region}`,
  );
  const key = (config: string | null, arn: string | null | undefined) =>
    config ? `${config} → ${arn ?? 'unknown key'}` : 'none';
  const ms = key(w.current.managedServicesKeyConfigId, w.current.managedServicesKeyArn);
  const st = key(w.current.storageKeyConfigId, w.current.storageKeyArn);
  if (plan.mode === 'verify') {
    io.out(`  managed services: ${ms}`);
    io.out(`  storage:          ${st}`);
    io.out('  verify only: no compute is touched, no key changes');
    return;
  }
  const config = w.keyConfig?.reuse
    ? `key configuration ${w.keyConfig.reuse} reused`
    : `new key configuration registered for ${w.keyConfig?.useCases.join(' and ')}`;
  io.out(
    `  managed services: ${ms}${w.changes.managedServices ? `\n                 ⇒ ${targetArn} (${config})` : ' (unchanged)'}`,
  );
  io.out(
    `  storage:          ${st}${w.changes.storage ? `\n                 ⇒ ${targetArn} (first storage key, never changed again; ${config})` : ' (unchanged)'}`,
  );
  if (w.compute === null) io.out('  compute:          not read (counted when stopping)');
  else if ('error' in w.compute)
    io.out(`  compute:          could not be read: ${w.compute.error.name}: ${w.compute.error.message}`);
  else {
    io.out(`  stop compute:     ${describeStops(w.compute, plan.drainTimeoutMinutes)}`);
    const back = Object.entries(w.compute.restores)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ');
    io.out(`  restore after:    ${back || 'nothing (nothing restartable runs)'}`);
  }
  if (w.steps.length > 0) {
    io.out('  steps:');
    w.steps.forEach((s, i) => {
      io.out(`    ${i + 1}. ${s}`);
    });
  }
}

function printPolicy(p: PolicyPreview, verifying: boolean, io: Io): void {
  io.out('');
  if (!p.changed) {
    io.out(
      `Key policy of ${p.keyArn}: already grants Databricks what is needed; ${verifying ? 'nothing to repair' : 'Patch key policy writes nothing'} (${p.bytesBefore} bytes).`,
    );
    return;
  }
  const what = [
    p.added.length > 0
      ? `${p.added.length} statement(s) added (${p.added.map((a) => `"${a.sid}"`).join(', ')})`
      : '',
    p.extended.length > 0
      ? `${p.extended.length} extended (${p.extended.map((e) => `"${e.sid}"`).join(', ')})`
      : '',
  ]
    .filter(Boolean)
    .join(', ');
  io.out(
    `Key policy of ${p.keyArn}: ${verifying ? 'a repair (repairPolicy) would write' : 'Patch key policy would write'} ${what}; ${p.bytesBefore} → ${p.bytesAfter} bytes; every other statement kept as it is:`,
  );
  for (const line of p.diff) io.out(`  ${line}`);
}
