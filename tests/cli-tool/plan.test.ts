import { describe, expect, it } from 'vitest';
import type { PlanReport } from '../../cli/plan.ts';
import { cli, mutating, requests, scenarioPath, settled } from './helpers.ts';

/**
 * `cmk-rotator plan`: the plan step's own code against the emulated account, read-only. Each run starts the
 * Databricks emulator and the KMS stand-in in process (--scenario), so the proofs below read what they saw.
 */
describe('cmk-rotator plan against the local emulation', () => {
  it('plans the demo rotation and makes no mutating call: only GETs (and the OAuth token POSTs), no PutKeyPolicy', async () => {
    const run = await cli(['plan', '--scenario', scenarioPath('demo'), '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as PlanReport;

    // Read-only, proven from the emulators' own records.
    expect(mutating(run)).toEqual([]);
    expect(requests(run)).toContain('POST /oidc/accounts/0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e/v1/token');
    expect(requests(run).filter((r) => r.startsWith('GET ')).length).toBeGreaterThan(5);
    const kmsCalls = run.target?.scenario?.kms.calls() ?? [];
    expect(kmsCalls.map((c) => c.operation)).not.toContain('PutKeyPolicy');
    expect(new Set(kmsCalls.map((c) => c.operation))).toEqual(new Set(['DescribeKey', 'GetKeyPolicy']));
    expect(settled(run.target?.scenario?.emulator.state())).toEqual(settled(run.before?.databricks));
    expect(run.target?.scenario?.kms.keys()).toEqual(run.before?.keys);

    // The plan, as the Lambda makes it.
    expect(report.readOnly).toBe(true);
    expect(report.refused).toBeNull();
    expect(report.problems).toEqual([]);
    expect(report.plan?.mode).toBe('rotate');
    expect(report.plan?.target?.keyArn).toBe(
      'arn:aws:kms:us-east-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef',
    );
    const [ws] = report.workspaces;
    expect(ws?.workspaceId).toBe(1234567890123456);
    expect(ws?.current.managedServicesKeyArn).toBe(
      'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    );
    expect(ws?.keyConfig).toEqual({ reuse: null, useCases: ['MANAGED_SERVICES'] });
    // The same figures the run's "Stop compute" and "Restore compute" lines print for this scenario.
    expect(ws?.compute).toMatchObject({
      stops: { clusters: 8, pools: 2, warehouses: 2, jobsPaused: 4, runs: 2, pipelines: 1 },
      allPurposeClusters: 5,
      restores: { clusters: 5, pools: 2, warehouses: 2, pipelines: 1, jobs: 4 },
      runs: { drain: 0, cancel: 2, refuse: 0 },
    });

    // The key-policy change the patch step would write, computed and not written.
    expect(report.keyPolicy?.changed).toBe(true);
    expect(report.keyPolicy?.added.map((a) => a.sid)).toEqual([
      'Allow Databricks to use KMS key for managed services in the control plane',
    ]);
    expect(report.keyPolicy?.diff).toContain(
      '+   "Sid": "Allow Databricks to use KMS key for managed services in the control plane",',
    );
    expect(report.keyPolicy?.diff.every((l) => l.startsWith('+ '))).toBe(true);
  });

  it('prints the same as text: per-kind stops, current and target keys, the policy diff', async () => {
    const run = await cli(['plan', '--scenario', scenarioPath('demo')]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('read-only preflight');
    expect(run.stdout).toContain('Plan: rotate — manual request: rotating 1 workspace(s)');
    expect(run.stdout).toContain(
      'stop compute:     8 cluster(s) terminated (5 all-purpose, 3 job/pipeline); 2 pool(s) released (min idle 0)',
    );
    expect(run.stdout).toContain('restore after:    5 clusters, 2 pools, 2 warehouses, 1 pipelines, 4 jobs');
    expect(run.stdout).toMatch(
      /managed services: 11111111-aaaa-4bbb-8ccc-000000000001 → arn:aws:kms:\S+1234abcd/,
    );
    expect(run.stdout).toContain(
      '⇒ arn:aws:kms:us-east-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef',
    );
    expect(run.stdout).toContain(
      '  +   "Sid": "Allow Databricks to use KMS key for managed services in the control plane",',
    );
    expect(run.stdout).toContain('No refusal, no problem found.');
    expect(mutating(run)).toEqual([]);
  });

  it('takes the input from flags as well as from the scenario, with the same result', async () => {
    const run = await cli([
      'plan',
      '--scenario',
      scenarioPath('rotate-managed-services'),
      '--workspace-ids',
      '1234567890123456',
      '--key-arn',
      'arn:aws:kms:us-east-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef',
      '--json',
      '--skip-compute',
    ]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as PlanReport;
    expect(report.input).toEqual({
      workspaceIds: [1234567890123456],
      keyArn: 'arn:aws:kms:us-east-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef',
    });
    expect(report.plan?.workspaces.map((w) => w.workspaceId)).toEqual([1234567890123456]);
    expect(report.workspaces[0]?.compute).toBeNull();
    expect(requests(run).some((r) => r.includes('/clusters/'))).toBe(false);
  });

  it('answers a refusal with the named error and exit code 1, touching nothing', async () => {
    const run = await cli(['plan', '--scenario', scenarioPath('storage-already-set')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /REFUSED: StorageKeyAlreadySet: workspace 1234567890123456 \(prod\) already has storage key/,
    );
    expect(mutating(run)).toEqual([]);

    const denied = await cli(['plan', '--scenario', scenarioPath('key-policy-denies'), '--json']);
    expect(denied.code).toBe(1);
    expect((JSON.parse(denied.stdout) as PlanReport).refused?.name).toBe('KeyPolicyDeniesDatabricks');
  });

  it('refuses a bad input as the plan step would (InvalidInput naming the field)', async () => {
    const run = await cli([
      'plan',
      '--scenario',
      scenarioPath('demo'),
      '--workspace-ids',
      '1234567890123456',
      '--key-alias',
      'alias/databricks-managed-services',
      '--use-cases',
      'MANAGED_SERVICE',
      '--json',
    ]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as PlanReport;
    expect(report.refused?.name).toBe('InvalidInput');
    expect(report.refused?.message).toContain('useCases[0]');
    expect(requests(run)).toEqual([]);
  });

  it('reports what a verification would find, without repairing: KeyPolicyDrift, no PutKeyPolicy', async () => {
    const run = await cli(['plan', '--scenario', scenarioPath('kms-rotation-event'), '--json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as PlanReport;
    expect(report.plan?.mode).toBe('verify');
    expect(report.problems.map((p) => [p.step, p.name])).toEqual([
      ['Verify keys and policies', 'KeyPolicyDrift'],
    ]);
    expect(report.keyPolicy?.added).toHaveLength(1);
    expect((run.target?.scenario?.kms.calls() ?? []).map((c) => c.operation)).not.toContain('PutKeyPolicy');
    expect(mutating(run)).toEqual([]);
  });

  it('answers command-line mistakes with the usage and exit code 2', async () => {
    const typo = await cli(['plan', '--sceanrio', 'x.json']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('unknown option --sceanrio; did you mean --scenario?');
    expect(typo.stderr).toContain('usage: cmk-rotator plan');

    const both = await cli([
      'plan',
      '--scenario',
      scenarioPath('demo'),
      '--input',
      'x.json',
      '--key-arn',
      'k',
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give either --input FILE or the input flags');

    const nothing = await cli(['plan']);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('name the execution input');

    const help = await cli(['plan', '-h']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('examples:');
  });
});
