import { describe, expect, it } from 'vitest';
import type { CallLogEntry, ComputeStart, WorkspaceUpdate } from '../../local/emulator/index.ts';
import { checkInvariants, updatesEnd } from '../../local/runner/invariants.ts';
import type { Report, RunTrace, TaskCall } from '../../local/runner/report.ts';
import { baseScenario } from '../recovery/harness.ts';

/**
 * DESIGN §6.5 as the runner judges it (invariant nothing-started-during-window), on fabricated records of a
 * run: the window ends at the later of the product's own end and the end of the update as the Databricks
 * emulator recorded it (plus the storage wait after a storage key was added). A product that misjudges the
 * end of the update cannot shorten the window.
 */

const WS1 = 1234567890123456;
const NEW_CONFIG = '33333333-cccc-4ddd-8eee-000000000003';

const ws = (t: number, method: string, path: string, body: unknown = {}): CallLogEntry => ({
  t,
  method,
  path,
  status: 200,
  body,
  host: 'acme-prod',
});
const firstStop = ws(100, 'POST', '/api/2.1/clusters/delete', { cluster_id: 'w1-ui' });
const patch: CallLogEntry = {
  t: 200,
  method: 'PATCH',
  path: `/api/2.0/accounts/acc/workspaces/${WS1}`,
  status: 200,
  body: { managed_services_customer_managed_key_id: NEW_CONFIG },
  host: 'account',
};
const productStart = (t: number) => ws(t, 'POST', '/api/2.1/clusters/start', { cluster_id: 'w1-ui' });

/** The product's own poll that saw the workspace RUNNING on the new key (or believed it did). */
const sawRunning = (t: number): TaskCall => ({
  state: 'Check workspace',
  fn: 'CheckWorkspace',
  input: { workspace: { workspaceId: WS1 } },
  output: { status: 'RUNNING' },
  enteredAt: t,
  exitedAt: t + 1,
});
const planOf = (storageAdded: boolean, storageWaitSeconds: number): TaskCall => ({
  state: 'Plan',
  fn: 'Plan',
  input: {},
  output: { storageWaitSeconds, workspaces: [{ workspaceId: WS1, storageAdded }] },
  enteredAt: 0,
  exitedAt: 1,
});
const update = (u: Partial<WorkspaceUpdate> = {}): WorkspaceUpdate => ({
  workspaceId: WS1,
  startedAt: 200,
  changes: { managed_services_customer_managed_key_id: NEW_CONFIG },
  endedAt: 1400,
  outcome: 'applied',
  ...u,
});
const userStart = (t: number, id = 'w1-off'): ComputeStart => ({
  t,
  workspaceId: WS1,
  kind: 'cluster',
  id,
  by: 'fault',
});

function window(args: {
  calls: CallLogEntry[];
  taskCalls?: TaskCall[];
  starts?: ComputeStart[];
  updates?: WorkspaceUpdate[];
  output?: unknown;
  storageWaitMinutes?: number;
}) {
  const scenario = baseScenario({ settings: { storageWaitMinutes: args.storageWaitMinutes ?? 20 } });
  const report: Report = {
    scenario: 'window',
    status: 'SUCCEEDED',
    error: null,
    output: args.output ?? {},
    states: [],
    downtime: [],
    apiCalls: { total: args.calls.length, byEndpoint: {} },
    stateTransitions: 0,
    maxStatePayloadBytes: 0,
    final: { aws: { keys: [] }, databricks: { keyConfigs: [], workspaces: [] } },
    callLog: args.calls,
    invariants: [],
    simulatedSeconds: 100_000,
    historyEvents: 0,
    executions: [],
  };
  const trace: RunTrace = {
    startedAtSim: 0,
    states: [],
    taskCalls: [planOf(false, 0), ...(args.taskCalls ?? [])],
    maxPayloadBytes: 0,
    retainUntil: undefined,
    historyEvents: 0,
  };
  const found = checkInvariants(scenario, report, trace, args.starts ?? [], args.updates).find(
    (i) => i.name === 'nothing-started-during-window',
  );
  if (!found) throw new Error('invariant nothing-started-during-window is missing');
  return found;
}

describe('Invariant nothing-started-during-window: when the window ends', () => {
  it('flags the product restarting compute after it saw RUNNING but before the platform ended the update', async () => {
    // Prepare: a customer-managed VPC stays RUNNING while it updates (200 s → 1400 s); a broken step takes
    // RUNNING at 210 s for "updated" and restarts a cluster at 220 s
    const calls = [firstStop, patch, productStart(220)];
    // Act
    const judged = window({ calls, taskCalls: [sawRunning(210)], updates: [update()] });
    const productWord = window({ calls, taskCalls: [sawRunning(210)] });
    // Assess: from the emulator's record it is flagged; from the product's word alone it would not be
    expect(judged.holds).toBe(false);
    expect(judged.detail).toContain('acme-prod: POST /api/2.1/clusters/start at 220s (window 100s–1400s)');
    expect(productWord.holds).toBe(true);
  });

  it('flags what a user started after the product stopped looking but before the update ended', async () => {
    // Prepare: the product believed the update over at 210 s; a user starts a cluster at 900 s
    const calls = [firstStop, patch];
    // Act
    const judged = window({
      calls,
      taskCalls: [sawRunning(210)],
      starts: [userStart(900)],
      updates: [update()],
    });
    // Assess
    expect(judged.holds).toBe(false);
    expect(judged.detail).toContain('cluster w1-off started at 900s and left running');
  });

  it("keeps today's rule for what a user started: stopped again and reported holds, unreported does not", async () => {
    // Prepare: the user's cluster of 900 s is stopped again at 950 s
    const calls = [firstStop, patch, ws(950, 'POST', '/api/2.1/clusters/delete', { cluster_id: 'w1-off' })];
    const base = { calls, taskCalls: [sawRunning(210)], starts: [userStart(900)], updates: [update()] };
    // Act
    const reported = window({ ...base, output: { restartedDuringWindow: ['w1-off'] } });
    const unreported = window(base);
    // Assess
    expect(reported.holds).toBe(true);
    expect(unreported.holds).toBe(false);
    expect(unreported.detail).toContain('cluster w1-off started at 900s, stopped again but not reported');
  });

  it('lasts to the end of the run while the update has not ended', async () => {
    // Prepare: the platform never finished the update during the run; the product restarted at 5000 s
    const calls = [firstStop, patch, productStart(5000)];
    // Act
    const judged = window({
      calls,
      taskCalls: [sawRunning(210)],
      updates: [update({ endedAt: undefined, outcome: undefined })],
    });
    // Assess
    expect(judged.holds).toBe(false);
    expect(judged.detail).toContain('at 5000s (window 100s–end of run)');
  });

  it('adds the storage wait of the settings after an update that applied a storage key', async () => {
    // Prepare: the storage key took effect at 1400 s; the deployment waits 20 minutes after it
    const storage = update({
      changes: {
        managed_services_customer_managed_key_id: NEW_CONFIG,
        storage_customer_managed_key_id: NEW_CONFIG,
      },
    });
    const at = (t: number) =>
      window({
        calls: [firstStop, patch, productStart(t)],
        taskCalls: [sawRunning(210)],
        updates: [storage],
      });
    // Act & Assess
    expect(at(1400 + 1199).holds).toBe(false);
    expect(at(1400 + 1201).holds).toBe(true);
    expect(updatesEnd([storage], WS1, 100, 210, 20 * 60)).toBe(1400 + 1200);
  });

  it('adds no storage wait after an update that reverted or failed', async () => {
    // Prepare: the storage key was asked for but never took effect
    const changes = {
      managed_services_customer_managed_key_id: NEW_CONFIG,
      storage_customer_managed_key_id: NEW_CONFIG,
    };
    // Act & Assess
    for (const outcome of ['reverted', 'failed'] as const) {
      const judged = window({
        calls: [firstStop, patch, productStart(1500)],
        taskCalls: [sawRunning(210)],
        updates: [update({ changes, outcome })],
      });
      expect(judged.holds, outcome).toBe(true);
    }
  });

  it("never ends before the product's own end", async () => {
    // Prepare: the platform ended the update at 300 s; the product saw it RUNNING at 500 s
    const calls = [firstStop, patch, productStart(400)];
    // Act
    const judged = window({ calls, taskCalls: [sawRunning(500)], updates: [update({ endedAt: 300 })] });
    // Assess
    expect(judged.holds).toBe(false);
  });

  it("is not stretched by a later update of the workspace, after the product's window (another execution)", async () => {
    // Prepare: the rotation saw RUNNING at 1500 s and restored at 1600 s; a later execution updates the
    // workspace again from 3000 s to 4000 s
    const calls = [firstStop, patch, productStart(1600)];
    // Act
    const judged = window({
      calls,
      taskCalls: [sawRunning(1500)],
      updates: [update(), update({ startedAt: 3000, endedAt: 4000 })],
    });
    // Assess
    expect(judged.holds).toBe(true);
  });

  it('keeps one window per execution: a failed execution’s own restarts are not in the next one’s window', async () => {
    // Prepare: execution A stops at 100 s, its PATCH fails and it restarts compute at 160 s; execution B
    // stops again at 880 s, its update runs 950–1150 s and it sees RUNNING at 1160 s
    const task = (fn: string, execution: string, t: number, output: unknown = {}): TaskCall => ({
      state: fn,
      fn,
      input: { executionId: execution, workspace: { workspaceId: WS1, storageAdded: false } },
      output,
      enteredAt: t,
      exitedAt: t + 1,
    });
    const taskCalls = [
      task('StopCompute', 'A', 99),
      task('RestoreCompute', 'A', 150),
      task('StopCompute', 'B', 879),
      task('CheckWorkspace', 'B', 1160, { status: 'RUNNING' }),
    ];
    const bStop = ws(880, 'POST', '/api/2.1/clusters/delete', { cluster_id: 'w1-ui' });
    const bUpdate = update({ startedAt: 950, endedAt: 1150 });
    // Act
    const clean = window({ calls: [firstStop, productStart(160), bStop], taskCalls, updates: [bUpdate] });
    const startInB = window({
      calls: [firstStop, productStart(160), bStop, productStart(1000)],
      taskCalls,
      updates: [bUpdate],
    });
    // Assess: one merged window (100–1160 s) flagged A's restart at 160 s
    expect(clean.holds, clean.detail).toBe(true);
    expect(startInB.holds).toBe(false);
    expect(startInB.detail).toContain('at 1000s');
    expect(startInB.detail).not.toContain('at 160s');
  });
});
