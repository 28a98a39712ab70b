import { GetObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SdkClient } from '../../lib/aws/clients.ts';
import { type Clock, setClock } from '../../lib/clock.ts';
import { type ComputeSnapshot, S3SnapshotStore, SnapshotUnreadable } from '../../lib/compute/index.ts';
import { TransientError } from '../../lib/errors.ts';
import { awsError, FaultPlan } from '../../local/aws/faults.ts';
import { LocalS3 } from '../../local/aws/s3.ts';
import { parseScenario } from '../../local/scenario.ts';
import { baseScenario, expectSafe, run } from '../recovery/harness.ts';

const BUCKET = 'cmk-rotator-local-snapshots';
const KEY = 'exec-1/42/compute-snapshot.json';
const snapshot = (takenAt: number): ComputeSnapshot => ({
  version: 1,
  executionId: 'exec-1',
  workspaceId: 42,
  deploymentName: 'acme',
  takenAt,
  clusters: [{ cluster_id: 'c', state: 'RUNNING', cluster_source: 'UI' }],
  pools: [],
  warehouses: [],
  jobs: [],
  runs: [],
  pipelines: [],
});

/** The S3 stand-in behind the scenario faults, counting the calls that reach it. */
function s3With(faults: unknown[]) {
  const local = new LocalS3();
  const calls: string[] = [];
  const counted: SdkClient = {
    send: (command) => {
      calls.push(String(command.constructor.name).replace(/Command$/, ''));
      return local.send(command);
    },
  };
  const plan = new FaultPlan(parseScenario({ aws: { faults } }).aws.faults);
  return { local, calls, client: plan.wrap('s3', counted) };
}

let previousClock: Clock;
const sleeps: number[] = [];
beforeEach(() => {
  sleeps.length = 0;
  previousClock = setClock({ now: () => 0, sleep: async (ms) => void sleeps.push(ms) });
});
afterEach(() => {
  setClock(previousClock);
});

describe('LocalS3', () => {
  it('answers a conditional put of an existing key with 412 PreconditionFailed, as S3 does', async () => {
    // Prepare
    const s3 = new LocalS3();
    const put = () => new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: 'x', IfNoneMatch: '*' });
    await s3.send(put());
    // Act
    const error = await s3.send(put()).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(S3ServiceException);
    expect(error).toMatchObject({
      name: 'PreconditionFailed',
      $fault: 'client',
      $metadata: { httpStatusCode: 412 },
    });
  });

  it('answers GetObject of a missing key with NoSuchKey (404)', async () => {
    // Act
    const error = await new LocalS3()
      .send(new GetObjectCommand({ Bucket: BUCKET, Key: 'nope' }))
      .catch((e: unknown) => e);
    // Assess
    expect(error).toMatchObject({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
  });
});

describe('S3SnapshotStore against the S3 stand-in', () => {
  // S3 API reference, PutObject `If-None-Match`: "If a conflicting operation occurs during the upload S3
  // returns a 409 ConditionalRequestConflict response. On a 409 failure you should retry the upload."
  it('retries a conditional write answered 409 ConditionalRequestConflict and stores the snapshot', async () => {
    // Prepare
    const { client, calls, local } = s3With([
      { service: 's3', operation: 'PutObject', error: 'ConditionalRequestConflict' },
    ]);
    const store = new S3SnapshotStore(BUCKET, client);
    // Act
    const result = await store.putIfAbsent(KEY, snapshot(1));
    // Assess
    expect(result).toEqual({ created: true });
    expect(calls).toEqual(['PutObject']);
    expect(local.keys()).toEqual([`${BUCKET}/${KEY}`]);
    expect((await store.get(KEY))?.takenAt).toBe(1);
    expect(sleeps).toEqual([200]);
  });

  it("keeps the racing writer's snapshot when the retry after a 409 finds the key written", async () => {
    // Prepare: another writer's snapshot lands while ours is answered 409
    const local = new LocalS3();
    let raced = false;
    const racing: SdkClient = {
      send: async (command) => {
        if (command instanceof PutObjectCommand && !raced) {
          raced = true;
          await local.send(
            new PutObjectCommand({
              Bucket: BUCKET,
              Key: KEY,
              Body: JSON.stringify(snapshot(7)),
              IfNoneMatch: '*',
            }),
          );
          throw awsError('s3', 'ConditionalRequestConflict', 'conflicting conditional operation');
        }
        return local.send(command);
      },
    };
    const store = new S3SnapshotStore(BUCKET, racing);
    // Act
    const result = await store.putIfAbsent(KEY, snapshot(1));
    // Assess
    expect(result).toEqual({ created: false });
    expect((await store.get(KEY))?.takenAt).toBe(7);
  });

  it('gives up after three 409 answers with TransientError, which the Task retries', async () => {
    // Prepare
    const { client, calls } = s3With([
      { service: 's3', operation: 'PutObject', error: 'ConditionalRequestConflict', times: 3 },
    ]);
    // Act
    const error = await new S3SnapshotStore(BUCKET, client)
      .putIfAbsent(KEY, snapshot(1))
      .catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ message: expect.stringContaining('being written concurrently') });
    expect(calls).toEqual([]);
    expect(sleeps).toEqual([200, 400]);
  });

  it.each([
    ['putIfAbsent', 'PutObject', (store: S3SnapshotStore) => store.putIfAbsent(KEY, snapshot(1))],
    ['get', 'GetObject', (store: S3SnapshotStore) => store.get(KEY)],
    ['putDocument', 'PutObject', (store: S3SnapshotStore) => store.putDocument('open/42.json', { key: KEY })],
    ['deleteDocument', 'DeleteObject', (store: S3SnapshotStore) => store.deleteDocument('open/42.json')],
  ] as const)('treats 503 SlowDown in %s (%s) as retryable (TransientError)', async (_, operation, act) => {
    // Prepare
    const { client } = s3With([{ service: 's3', operation, error: 'SlowDown' }]);
    // Act
    const error = await act(new S3SnapshotStore(BUCKET, client)).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ message: expect.stringContaining('SlowDown (HTTP 503)') });
  });

  it('treats 403 AccessDenied as SnapshotUnreadable naming the object (not retried)', async () => {
    // Prepare
    const { client } = s3With([{ service: 's3', operation: 'GetObject', error: 'AccessDenied' }]);
    // Act
    const error = await new S3SnapshotStore(BUCKET, client).get(KEY).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(SnapshotUnreadable);
    expect(error).toMatchObject({ message: expect.stringContaining(`s3://${BUCKET}/${KEY}`) });
  });
});

describe('A rotation with S3 faults (scenario aws.faults)', () => {
  it.each([
    [
      'the snapshot write answered 409 ConditionalRequestConflict twice',
      { error: 'ConditionalRequestConflict', times: 2 },
    ],
    ['the snapshot write answered 503 SlowDown', { error: 'SlowDown', times: 1 }],
  ])('succeeds when %s', async (_, fault) => {
    // Prepare
    const scenario = baseScenario({
      storage: true,
      awsFaults: [{ service: 's3', operation: 'PutObject', ...fault }],
    });
    // Act
    const report = await run(scenario);
    // Assess
    expectSafe(scenario, report);
    expect(report.status).toBe('SUCCEEDED');
  });
});
