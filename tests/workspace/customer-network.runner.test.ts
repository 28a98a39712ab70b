import { describe, expect, it } from 'vitest';
import type { CallLogEntry } from '../../local/emulator/index.ts';
import type { Report } from '../../local/runner/report.ts';
import { parseScenario, type Scenario } from '../../local/scenario.ts';
import {
  type BaseOptions,
  baseScenario,
  expectSafe,
  type Json,
  NEW_KEY,
  OLD_KEY,
  run,
} from '../recovery/harness.ts';

/**
 * The whole rotation (real ASL, real handlers, emulated Databricks) against a workspace with a customer-managed
 * VPC that the Account API shows as such (`network_id`): it stays RUNNING while its key changes, and only the
 * key-id field changes at the end. Nothing the product starts may come before the update is over.
 */

const PATCH = { method: 'PATCH', path: '/api/2.0/accounts/*/workspaces/*' };
const UPDATE_SECONDS = 1200;

/** `baseScenario` with its one workspace on a customer-managed VPC, as the Account API shows it. */
function customerNetwork(options: BaseOptions): Scenario {
  const raw = JSON.parse(JSON.stringify(baseScenario(options))) as Json & { databricks: Json };
  const ws = (raw.databricks.workspaces as Json[])[0] as Json;
  ws.network = 'customer-managed';
  ws.network_id = '7e1f2a3b-0000-4000-8000-000000000003';
  return parseScenario(raw);
}

const pathOf = (e: CallLogEntry) => e.path.replace(/^\/ws\/[^/]+/, '').split('?')[0] ?? '';
const START =
  /^POST (\/api\/2\.[01]\/clusters\/start|\/api\/2\.0\/sql\/warehouses\/[^/]+\/start|\/api\/2\.0\/pipelines\/[^/]+\/updates)$/;

/** The product's accepted start calls and when (simulated seconds). */
function starts(r: Report): number[] {
  return r.callLog.filter((e) => e.status < 400 && START.test(`${e.method} ${pathOf(e)}`)).map((e) => e.t);
}
const patchesOf = (r: Report) =>
  r.callLog.filter((e) => e.method === 'PATCH' && /workspaces/.test(pathOf(e)));
const finalWorkspace = (r: Report) => (r.final.databricks.workspaces as Json[])[0] as Json;
const keyOf = (r: Report, id: unknown) =>
  (
    (r.final.databricks.keyConfigs as Json[]).find((c) => c.customer_managed_key_id === id)
      ?.aws_key_info as Json
  )?.key_arn;
const why = (r: Report) => `${r.status} ${r.error?.name ?? ''}: ${r.error?.cause.slice(0, 1500) ?? ''}`;

describe('A customer-managed VPC whose PATCH answer was lost or 5xx after it took effect', () => {
  it.each([
    ['lost answer (status 0)', { ...PATCH, status: 0, after: true }],
    ['500 after it took effect', { ...PATCH, status: 500, after: true }],
  ])(
    '%s: waits for the update it started, restarts nothing before it ends, and rotates',
    async (_, fault) => {
      // Prepare
      const scenario = customerNetwork({
        timings: { workspaceUpdate: [UPDATE_SECONDS, UPDATE_SECONDS] },
        databricksFaults: [fault],
      });
      // Act
      const report = await run(scenario);
      // Assess
      expectSafe(scenario, report, String(fault.status));
      const updateStartedAt = patchesOf(report)[0]?.t ?? 0;
      expect(Math.min(...starts(report)), why(report)).toBeGreaterThanOrEqual(
        updateStartedAt + UPDATE_SECONDS,
      );
      // The second PATCH only asked: Databricks answered that an update is in progress.
      expect(patchesOf(report).map((e) => e.status)).toEqual([fault.status, 400]);
      expect(report.status, why(report)).toBe('SUCCEEDED');
      expect(keyOf(report, finalWorkspace(report).managed_services_customer_managed_key_id)).toBe(NEW_KEY);
    },
  );

  it('a Lambda timeout after the PATCH took effect: the retry finds the update in progress and waits', async () => {
    const scenario = customerNetwork({
      timings: { workspaceUpdate: [UPDATE_SECONDS, UPDATE_SECONDS] },
      awsFaults: [
        { service: 'lambda', operation: 'Update workspace', error: 'Sandbox.Timedout', after: true },
      ],
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'lambda timeout');
    const updateStartedAt = patchesOf(report)[0]?.t ?? 0;
    expect(Math.min(...starts(report)), why(report)).toBeGreaterThanOrEqual(updateStartedAt + UPDATE_SECONDS);
    expect(report.status, why(report)).toBe('SUCCEEDED');
  });
});

describe('A customer-managed VPC that stays on its old key', () => {
  it('is never called reverted nor restarted unconfirmed: recovery waits, then fails naming what is stopped', async () => {
    const scenario = customerNetwork({
      timings: { workspaceUpdate: [600, 600] },
      databricksFaults: [{ kind: 'silentRevert', workspace_id: 1234567890123456 }],
      settings: { workspaceUpdateTimeoutMinutes: 30, recoveryWorkspaceWaitMinutes: 30 },
    });
    const report = await run(scenario);
    expect(report.status).toBe('FAILED');
    expect(starts(report), why(report)).toEqual([]);
    expect(report.error?.cause).toMatch(/WorkspaceStillUpdating/);
    expect(report.error?.cause).toMatch(/customer-managed VPC/);
    expect(report.error?.cause).toMatch(/w1-ui/);
    expect(report.error?.cause).not.toMatch(/silently reverted/);
    expect(keyOf(report, finalWorkspace(report).managed_services_customer_managed_key_id)).toBe(OLD_KEY);
  });

  it('a 3-hour update past the update deadline is waited out in recovery, then compute comes back', async () => {
    const scenario = customerNetwork({ timings: { workspaceUpdate: [10_800, 10_800] } });
    const report = await run(scenario);
    expectSafe(scenario, report, '3 hours');
    const updateStartedAt = patchesOf(report)[0]?.t ?? 0;
    expect(starts(report).length).toBeGreaterThan(0);
    expect(Math.min(...starts(report)), why(report)).toBeGreaterThanOrEqual(updateStartedAt + 10_800);
    expect(report.error?.name).toBe('WorkspaceUpdateTimedOut');
    expect(report.error?.cause).toMatch(/\[key changed; compute restored/);
    // Nothing says it went back to the old key (only that the old key must be kept: the key changed).
    expect(report.error?.cause).not.toMatch(/reverted|(?<!keep the )old key/i);
    expect(report.error?.cause).toContain('The key of every failed workspace changed before it failed');
    expect(keyOf(report, finalWorkspace(report).managed_services_customer_managed_key_id)).toBe(NEW_KEY);
  });
});

describe('A Databricks-managed VPC keeps its proven revert', () => {
  it('PROVISIONING then RUNNING on the old key is WorkspaceUpdateReverted, with compute restored', async () => {
    const scenario = baseScenario({
      databricksFaults: [{ kind: 'silentRevert', workspace_id: 1234567890123456 }],
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'revert');
    expect(report.error?.name).toBe('WorkspaceUpdateReverted');
    expect(report.error?.cause).toMatch(/compute restored/);
  });
});
