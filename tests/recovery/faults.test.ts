import { describe, it } from 'vitest';
import type { CallLogEntry } from '../../local/emulator/index.ts';
import { type AslMachine, allStates, readAsl } from '../../local/runner/asl.ts';
import { baseScenario, expectSafe, run } from './harness.ts';

/**
 * The fault and race suite of recovery (DESIGN §4, §6): one fault per Databricks endpoint, per AWS call and
 * per Task of the state machine, each in several forms — before its side effect, after it (a lost
 * response), a 429 storm, 5xx, a dropped connection — on the happy path and again during recovery (a failed
 * PATCH first sends the rotation down the compensation path). Each case asserts only from the emulators'
 * final state (`expectSafe`): every workspace RUNNING on the old or the new key, everything that ran running
 * again or named in the error, no schedule paused unreported, no storage key changed, nothing running
 * between the stop and the end of the storage wait.
 */

/** `POST /api/2.1/clusters/start` with ids replaced by `*`, as a fault path. */
function endpointOf(e: CallLogEntry): { method: string; path: string } {
  const path = e.path
    .replace(/^\/ws\/[^/]+/, '')
    .split('?')[0]
    ?.split('/')
    .map((seg, i, all) =>
      /^\d{6,}$|^[0-9a-f]{8}-|^w\d|^local-|^[0-9a-f]{16}$/.test(seg) || (all[i - 1] === 'accounts' && i > 3)
        ? '*'
        : seg,
    )
    .join('/');
  return { method: e.method, path: path ?? '/' };
}

function endpoints(log: readonly CallLogEntry[]): Array<{ method: string; path: string; calls: number }> {
  const seen = new Map<string, { method: string; path: string; calls: number }>();
  for (const e of log) {
    const ep = endpointOf(e);
    if (ep.path.includes('/oidc/')) continue;
    const key = `${ep.method} ${ep.path}`;
    const known = seen.get(key) ?? { ...ep, calls: 0 };
    known.calls++;
    seen.set(key, known);
  }
  return [...seen.values()].sort((a, b) => `${a.method}${a.path}`.localeCompare(`${b.method}${b.path}`));
}

const PATCH_FAILS = { method: 'PATCH', path: '/api/2.0/accounts/*/workspaces/*', status: 500, times: 1 };

/** The forms a Databricks fault takes. */
const DATABRICKS_KINDS = {
  '429 storm': { status: 429, retryAfterSeconds: 2, times: 8 },
  '500 twice': { status: 500, times: 2 },
  '503 x3': { status: 503, times: 3 },
  'dropped before it arrives': { status: 0, times: 1 },
  'answer lost after it took effect': { status: 0, after: true, times: 1 },
} as const;

const happy = await run(baseScenario({ storage: true, name: 'baseline' }));
const failing = await run(
  baseScenario({ storage: true, databricksFaults: [PATCH_FAILS], name: 'baseline-failing' }),
);

const machine = JSON.parse(readAsl()) as AslMachine;
const tasks = [...allStates(machine)].filter(([, s]) => s.Type === 'Task').map(([name]) => name);

describe('Recovery under one Databricks fault per endpoint (happy path)', () => {
  const cases = endpoints(happy.callLog).flatMap((ep) =>
    Object.entries(DATABRICKS_KINDS).map(
      ([kind, fault]) => [`${ep.method} ${ep.path}: ${kind}`, ep, fault] as const,
    ),
  );
  it.each(cases)('%s stays safe', async (label, ep, fault) => {
    const scenario = baseScenario({
      storage: true,
      databricksFaults: [{ method: ep.method, path: ep.path, ...fault }],
    });
    expectSafe(scenario, await run(scenario), label);
  });
});

describe('Recovery under one Databricks fault per endpoint, during compensation', () => {
  // The PATCH fails, so compensation runs; a second fault hits each endpoint halfway through its calls.
  const cases = endpoints(failing.callLog)
    .filter((ep) => ep.method !== 'PATCH')
    .flatMap((ep) =>
      (['500 twice', 'answer lost after it took effect', '429 storm'] as const).map(
        (kind) => [`${ep.method} ${ep.path}: ${kind}`, ep, DATABRICKS_KINDS[kind]] as const,
      ),
    );
  it.each(cases)('%s stays safe', async (label, ep, fault) => {
    const scenario = baseScenario({
      storage: true,
      databricksFaults: [
        PATCH_FAILS,
        { method: ep.method, path: ep.path, skip: Math.floor(ep.calls / 2), ...fault },
      ],
    });
    expectSafe(scenario, await run(scenario), label);
  });
});

describe('Recovery under one Lambda fault per Task', () => {
  const kinds = [
    ['Lambda.Unknown before it runs', { error: 'Lambda.Unknown' }],
    ['States.Timeout after it ran', { error: 'States.Timeout', after: true }],
    ['Sandbox.Timedout, twice', { error: 'Sandbox.Timedout', times: 2 }],
  ] as const;
  const cases = tasks.flatMap((task) =>
    kinds.map(([kind, fault]) => [`${task}: ${kind}`, task, fault] as const),
  );
  it.each(cases)('%s stays safe', async (label, task, fault) => {
    // Recovery Tasks only run after a failure: fail the PATCH for those.
    const recovery = /after failure|before restoring|still stopped/.test(task);
    const scenario = baseScenario({
      storage: true,
      databricksFaults: recovery ? [PATCH_FAILS] : [],
      awsFaults: [{ service: 'lambda', operation: task, ...fault }],
    });
    expectSafe(scenario, await run(scenario), label);
  });
});

describe('Recovery under AWS faults (KMS, S3)', () => {
  const cases = [
    [
      'KMS DescribeKey internal error',
      { service: 'kms', operation: 'DescribeKey', error: 'KMSInternalException' },
    ],
    [
      'KMS GetKeyPolicy throttled x4',
      { service: 'kms', operation: 'GetKeyPolicy', error: 'ThrottlingException', times: 4 },
    ],
    [
      'KMS PutKeyPolicy answer lost',
      { service: 'kms', operation: 'PutKeyPolicy', error: 'KMSInternalException', after: true },
    ],
    [
      'KMS PutKeyPolicy refused',
      {
        service: 'kms',
        operation: 'PutKeyPolicy',
        error: 'MalformedPolicyDocumentException',
        status: 400,
        times: 10,
      },
    ],
    [
      'S3 PutObject of the snapshot fails',
      { service: 's3', operation: 'PutObject', error: 'InternalError', times: 1 },
    ],
    [
      'S3 PutObject answer lost',
      { service: 's3', operation: 'PutObject', error: 'InternalError', after: true },
    ],
    [
      'S3 GetObject slows down x3',
      { service: 's3', operation: 'GetObject', error: 'SlowDown', status: 503, times: 3 },
    ],
    [
      'S3 GetObject fails during the window',
      { service: 's3', operation: 'GetObject', error: 'InternalError', skip: 6, times: 2 },
    ],
    ['S3 DeleteObject fails', { service: 's3', operation: 'DeleteObject', error: 'InternalError', times: 5 }],
    [
      'S3 access denied for good after the stop',
      { service: 's3', operation: 'GetObject', error: 'AccessDenied', status: 403, skip: 4, times: 1000 },
    ],
    ['Secrets Manager throttled', { service: 'secretsManager', error: 'ThrottlingException', times: 3 }],
  ] as const;
  it.each(cases)('%s stays safe', async (label, fault) => {
    const scenario = baseScenario({ storage: true, awsFaults: [fault] });
    expectSafe(scenario, await run(scenario), label);
  });
});
