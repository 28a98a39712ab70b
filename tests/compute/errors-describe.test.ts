import { describe, expect, it } from 'vitest';
import { describeRefs, describeStillStopped, fitStillStopped } from '../../lib/compute/errors.ts';
import type { ResourceRef } from '../../lib/compute/model.ts';

type Ref = ResourceRef & { why?: string };

const SNAPSHOT = 's3://cmk-rotator-snapshots/rotate-2026-11-26/1000000000000001/compute-snapshot.json';

/** `w1-ui`, `w1-api`, then `w1-c0000-xxxxxxxxxxxxxxxxxxxx` …: the clusters of a workspace with `extra` more. */
function clusters(extra: number, why?: string): Ref[] {
  const ids = [
    'w1-ui',
    'w1-api',
    ...Array.from({ length: extra }, (_, i) => `w1-c${String(i).padStart(4, '0')}-${'x'.repeat(20)}`),
  ];
  return ids.map((id) => ({ kind: 'cluster', id, ...(why ? { why } : {}) }));
}

const PAUSED: Ref[] = [{ kind: 'job', id: '7001', why: 'update failed: HTTP 500 job-broken' }];
const OTHERS: Ref[] = [
  { kind: 'warehouse', id: 'w1wh01', why: 'STOPPED' },
  { kind: 'pipeline', id: 'w1-pipe' },
  { kind: 'pool', id: 'w1-pool' },
];

/** Every cluster id the text names is one of `known` (none cut in the middle). */
function expectWholeIds(text: string, known: Ref[]): void {
  const ids = new Set(known.map((r) => r.id));
  const named = text.match(/w1-[\w-]+/g) ?? [];
  expect(named.length).toBeGreaterThan(0);
  for (const id of named) expect(ids.has(id) || ['w1-pipe', 'w1-pool'].includes(id), id).toBe(true);
}

describe('describeRefs', () => {
  it('names a short list whole, grouped by kind, with its reasons', () => {
    // Act
    const text = describeRefs([
      { kind: 'cluster', id: 'a', why: 'not running by the deadline (PENDING)' },
      { kind: 'cluster', id: 'b' },
      { kind: 'warehouse', id: 'c' },
    ]);

    // Assess
    expect(text).toBe('clusters: a (not running by the deadline (PENDING)), b; warehouses: c');
  });

  it('summarises a huge id list as its first ids and a count, within the budget', () => {
    // Prepare
    const runs: Ref[] = Array.from({ length: 5_000 }, (_, i) => ({
      kind: 'run',
      id: String(900_000_000 + i),
    }));

    // Act
    const roomy = describeRefs(runs);
    const tight = describeRefs(runs, 200);

    // Assess
    expect(roomy).toMatch(/^runs \(5000\): 900000000, 900000001, .* and 4900 more$/);
    expect(tight.length).toBeLessThanOrEqual(200);
    expect(tight).toMatch(/^runs \(5000\): 900000000, (\d{9}, )*\d{9} and \d+ more$/);
  });

  it('gives every kind a share: none vanishes behind a long list of another', () => {
    // Act
    const text = describeRefs(
      [...clusters(300, 'TERMINATED; last error: capacity'), ...OTHERS, ...PAUSED],
      400,
    );

    // Assess
    expect(text.length).toBeLessThanOrEqual(400);
    expect(text).toMatch(/^jobs \(1\): 7001; clusters \(302\): w1-ui, w1-api, .* and \d+ more; /);
    expect(text).toContain('warehouses (1): w1wh01');
    expect(text).toContain('pipelines: w1-pipe');
    expect(text).toContain('pools: w1-pool');
    expectWholeIds(text, clusters(300));
  });

  it('drops the reasons before it drops any id', () => {
    // Prepare: ten ids fit, their long reasons do not
    const refs = clusters(8, `TERMINATED; last error: ${'capacity '.repeat(10)}`);

    // Act
    const text = describeRefs(refs, 320);

    // Assess
    expect(text.length).toBeLessThanOrEqual(320);
    for (const ref of refs) expect(text).toContain(ref.id);
    expect(text).toMatch(/^clusters \(10\): w1-ui/);
    expect(text).not.toContain(' more');
  });

  it('keeps reasons with unbalanced parentheses readable back', () => {
    // Act
    const text = describeRefs([
      { kind: 'cluster', id: 'a', why: 'failed (quota' },
      { kind: 'cluster', id: 'b' },
    ]);

    // Assess
    expect(text).toBe('clusters: a (failed quota), b');
    expect(fitStillStopped(`still stopped: ${text}; snapshot ${SNAPSHOT}`, 60)).toContain('clusters (2)');
  });
});

describe('describeStillStopped', () => {
  it('names the paused schedule first and every one of 62 clusters the room allows, without cutting an id', () => {
    // Prepare
    const stopped = [...clusters(60, 'TERMINATED; last error: HTTP 500 INTERNAL_ERROR: capacity'), ...OTHERS];

    // Act
    const text = describeStillStopped({ stopped, paused: PAUSED, snapshot: SNAPSHOT });

    // Assess
    expect(text.length).toBeLessThanOrEqual(3_000);
    expect(text).toMatch(
      /^schedules still paused: jobs: 7001 \(update failed: HTTP 500 job-broken\); still stopped: clusters \(62\): w1-ui \(TERMINATED/,
    );
    // DESIGN §6.4: by id — the reasons give way to the ids, not the ids to a count
    expect(text).toMatch(
      /, w1-c0059-x+; warehouses: w1wh01 \(STOPPED\); pipelines: w1-pipe; pools: w1-pool; /,
    );
    expect(text).not.toContain(' more');
    expect(text.endsWith(`; snapshot ${SNAPSHOT}`)).toBe(true);
    expectWholeIds(text, stopped);
  });

  it('keeps the paused schedule, the counts and the snapshot location in a small budget', () => {
    // Act
    const text = describeStillStopped(
      { stopped: [...clusters(60), ...OTHERS], paused: PAUSED, snapshot: SNAPSHOT },
      250,
    );

    // Assess
    expect(text.length).toBeLessThanOrEqual(250);
    expect(text).toMatch(
      /^schedules still paused: jobs \(1\): 7001; still stopped: clusters \(62\): w1-ui, w1-api and 60 more; warehouses \(1\): w1wh01; /,
    );
    expect(text).toContain(`snapshot ${SNAPSHOT}`);
    expect(describeStillStopped({ stopped: clusters(60), paused: PAUSED, snapshot: SNAPSHOT }, 0)).toBe(
      `schedules still paused: jobs (1): 7001; still stopped: clusters (62); snapshot ${SNAPSHOT}`,
    );
  });

  it('says when nothing is left stopped or paused', () => {
    expect(describeStillStopped({ stopped: [], paused: PAUSED, snapshot: 'memory:k' })).toBe(
      'schedules still paused: jobs: 7001 (update failed: HTTP 500 job-broken); no compute left stopped; snapshot memory:k',
    );
    expect(describeStillStopped({ stopped: clusters(0), paused: [], snapshot: 's3://b/k' })).toBe(
      'no schedule left paused; still stopped: clusters: w1-ui, w1-api; snapshot s3://b/k',
    );
  });
});

describe('fitStillStopped', () => {
  /** What restore.ts wrote before: every id with its reason, the schedules after the clusters. */
  const longText = `still stopped: clusters: ${clusters(60, 'TERMINATED; last error: capacity (500)')
    .map((r) => `${r.id} (${r.why})`)
    .join(
      ', ',
    )}; schedules still paused: jobs: 7001; snapshot ${SNAPSHOT} (left stopped by execution rotate-1)`;

  it('leaves a text that fits as it is', () => {
    expect(fitStillStopped(longText, longText.length)).toBe(longText);
  });

  it('shortens kind by kind: the paused schedule, the counts and the snapshot stay, no id is cut', () => {
    // Act
    const text = fitStillStopped(longText, 600);

    // Assess
    expect(longText.length).toBeGreaterThan(4_000);
    expect(text.length).toBeLessThanOrEqual(600);
    expect(text).toMatch(
      /^still stopped: clusters \(62\): w1-ui, w1-api, .* and \d+ more; schedules still paused: jobs: 7001; /,
    );
    expect(text.endsWith(`; snapshot ${SNAPSHOT} (left stopped by execution rotate-1)`)).toBe(true);
    expectWholeIds(text, clusters(60));
  });

  it('shortens a text in another shape between words, keeping where the snapshot is', () => {
    // Prepare
    const text = `the compute snapshot ${SNAPSHOT} could not be read (${'AccessDenied '.repeat(50)}): what was stopped is unknown`;
    const other = `compute of workspace 1 (acme) was not fully restored; start these by hand: ${'word '.repeat(100)}; snapshot at ${SNAPSHOT}.`;

    // Act
    const short = fitStillStopped(text, 200);
    const tail = fitStillStopped(other, 200);

    // Assess
    expect(short.length).toBeLessThanOrEqual(200);
    expect(short).toContain(SNAPSHOT);
    expect(tail).toMatch(/word…; snapshot s3:\/\/\S+compute-snapshot\.json$/);
  });
});
