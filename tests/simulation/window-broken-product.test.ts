import { beforeEach, describe, expect, it, vi } from 'vitest';
import { clock } from '../../lib/clock.ts';
import type { Report } from '../../local/runner/report.ts';
import { parseScenario } from '../../local/scenario.ts';
import { baseScenario, type Json, run } from '../recovery/harness.ts';

/**
 * The runner's invariant nothing-started-during-window against a deliberately broken product, through the
 * real ASL and the emulator: a "Check workspace" step that takes RUNNING for "updated". On a customer-managed
 * VPC the workspace stays RUNNING while its key changes, so this product believes the update over at once
 * and restarts compute while Databricks is still updating. Only the emulator's record of the update can
 * tell; the invariant must not take the product's word for when the window ended.
 */

const broken = vi.hoisted(() => ({ on: true }));

vi.mock('../../functions/check-workspace.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../functions/check-workspace.ts')>();
  const handler = async (event: unknown, context: never) => {
    const result = (await real.handler(event as never, context)) as Json;
    if (!broken.on || result.status !== 'WAITING' || result.workspaceStatus !== 'RUNNING') return result;
    // The bug: RUNNING is read as "updated", whatever the key ids show.
    return { ...result, status: 'RUNNING', runningAt: clock().now() };
  };
  return { ...real, handler };
});

const UPDATE_SECONDS = 1800;

/** One workspace on a customer-managed VPC whose update takes 30 minutes. */
function customerVpc(faults: unknown[] = []) {
  const raw = JSON.parse(
    JSON.stringify(baseScenario({ timings: { workspaceUpdate: [UPDATE_SECONDS, UPDATE_SECONDS] } })),
  ) as Json & { databricks: Json & { workspaces: Json[] } };
  const [ws] = raw.databricks.workspaces;
  if (ws) ws.network = 'customer-managed';
  raw.databricks.faults = faults;
  return parseScenario(raw);
}

const invariant = (r: Report) => r.invariants.find((i) => i.name === 'nothing-started-during-window');
const patchedAt = (r: Report) =>
  r.callLog.find((e) => e.method === 'PATCH' && e.status < 400 && /\/workspaces\//.test(e.path))?.t ??
  Number.NaN;
const productStarts = (r: Report) =>
  r.callLog.filter(
    (e) => e.status < 400 && /^POST \/api\/2\.[01]\/clusters\/start$/.test(`${e.method} ${e.path}`),
  );

beforeEach(() => {
  broken.on = true;
});

describe('Invariant nothing-started-during-window, judged from the emulator and not the product', () => {
  it('flags a product step that restarts compute while a customer-managed VPC is still updating', async () => {
    // Prepare
    const scenario = customerVpc();
    // Act
    const report = await run(scenario);
    // Assess: the product restarted clusters well before the update (PATCH + 1800 s) was over...
    const updateEnd = patchedAt(report) + UPDATE_SECONDS;
    const early = productStarts(report).filter((e) => e.t < updateEnd);
    expect(early.length).toBeGreaterThan(0);
    // ...after its own "Check workspace" said RUNNING (so the product's word alone would close the window)
    const sawRunningAt = report.states.find((s) => s.name === 'Check workspace')?.enteredAt ?? Number.NaN;
    expect(early.every((e) => e.t > sawRunningAt)).toBe(true);
    // ...and the runner's invariant says so
    expect(invariant(report)?.holds).toBe(false);
    expect(invariant(report)?.detail).toMatch(
      /acme-prod: POST \/api\/2\.1\/clusters\/start at [\d.]+s \(window/,
    );
  }, 120_000);

  it('flags compute a user starts after the product stopped looking, while the update still runs', async () => {
    // Prepare: a user starts a cluster that was not running, 15 minutes into the run
    const scenario = customerVpc([{ kind: 'startCluster', cluster_id: 'w1-off', atSeconds: 900 }]);
    // Act
    const report = await run(scenario);
    // Assess
    expect(900).toBeLessThan(patchedAt(report) + UPDATE_SECONDS);
    expect(invariant(report)?.holds).toBe(false);
    expect(invariant(report)?.detail).toContain('cluster w1-off started at 900s and left running');
  }, 120_000);

  it('holds for the real product in the same scenario: it waits for the key id to change', async () => {
    // Prepare
    broken.on = false;
    const scenario = customerVpc();
    // Act
    const report = await run(scenario);
    // Assess
    const updateEnd = patchedAt(report) + UPDATE_SECONDS;
    expect(report.status).toBe('SUCCEEDED');
    expect(productStarts(report).length).toBeGreaterThan(0);
    expect(productStarts(report).every((e) => e.t >= updateEnd)).toBe(true);
    expect(invariant(report)).toMatchObject({ holds: true });
  }, 120_000);
});
