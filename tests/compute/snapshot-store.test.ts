import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ComputeSnapshot,
  FileSnapshotStore,
  MemorySnapshotStore,
  S3SnapshotStore,
  SnapshotUnreadable,
  snapshotKeyOf,
  snapshotStoreFor,
} from '../../lib/compute/index.ts';

const snapshot = (takenAt: number): ComputeSnapshot => ({
  version: 1,
  executionId: 'exec-1',
  workspaceId: 42,
  deploymentName: 'acme',
  takenAt,
  clusters: [{ cluster_id: 'c', state: 'RUNNING', cluster_source: 'UI' }],
  pools: [],
  warehouses: [],
  jobs: [
    { job_id: 1, schedule: { quartz_cron_expression: 'x', timezone_id: 'UTC', pause_status: 'UNPAUSED' } },
  ],
  runs: [],
  pipelines: [],
});
const KEY = snapshotKeyOf({ executionId: 'exec-1', workspace: { workspaceId: 42 } });

describe('Snapshot key', () => {
  it('is derived from the execution and the workspace only', () => {
    expect(KEY).toBe('exec-1/42/compute-snapshot.json');
  });
});

describe('S3SnapshotStore', () => {
  const s3 = mockClient(S3Client);
  afterEach(() => s3.reset());

  it('writes with If-None-Match: * so the first snapshot wins', async () => {
    s3.on(PutObjectCommand).resolves({});
    const result = await new S3SnapshotStore('bucket', new S3Client({})).putIfAbsent(KEY, snapshot(1));
    expect(result).toEqual({ created: true });
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({
      Bucket: 'bucket',
      Key: KEY,
      IfNoneMatch: '*',
    });
  });

  it('reports created: false on 412 PreconditionFailed', async () => {
    s3.on(PutObjectCommand).rejects(
      Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
        name: 'PreconditionFailed',
        $metadata: { httpStatusCode: 412 },
      }),
    );
    expect(await new S3SnapshotStore('bucket', new S3Client({})).putIfAbsent(KEY, snapshot(1))).toEqual({
      created: false,
    });
  });

  it('reads a snapshot back and answers undefined for a missing key', async () => {
    const text = JSON.stringify(snapshot(7));
    s3.on(GetObjectCommand, { Key: KEY })
      .resolves({ Body: { transformToString: async () => text } } as never)
      .on(GetObjectCommand, { Key: 'other' })
      .rejects(Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' }));
    const store = new S3SnapshotStore('bucket', new S3Client({}));
    expect((await store.get(KEY))?.takenAt).toBe(7);
    expect(await store.get('other')).toBeUndefined();
  });

  it('refuses a stored object that is not a snapshot with SnapshotUnreadable naming the key', async () => {
    s3.on(GetObjectCommand).resolves({ Body: { transformToString: async () => '{"version":2}' } } as never);
    await expect(new S3SnapshotStore('bucket', new S3Client({})).get(KEY)).rejects.toThrow(
      SnapshotUnreadable,
    );
  });

  it('is the store chosen when a bucket is set', () => {
    expect(snapshotStoreFor({ snapshotBucket: 'b', snapshotDir: '/tmp/x' })).toBeInstanceOf(S3SnapshotStore);
  });
});

describe('FileSnapshotStore', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the first snapshot when a second one is written', async () => {
    dir = mkdtempSync(join(tmpdir(), 'snapshots-'));
    const store = new FileSnapshotStore(dir);
    const first = await store.putIfAbsent(KEY, snapshot(1));
    const second = await store.putIfAbsent(KEY, snapshot(2));
    expect([first.created, second.created]).toEqual([true, false]);
    expect((await store.get(KEY))?.takenAt).toBe(1);
    expect(readdirSync(join(dir, 'exec-1', '42'))).toEqual(['compute-snapshot.json']);
  });

  it('answers undefined for a snapshot never written', async () => {
    dir = mkdtempSync(join(tmpdir(), 'snapshots-'));
    expect(await new FileSnapshotStore(dir).get('nope/1/compute-snapshot.json')).toBeUndefined();
  });

  it('refuses a key that would leave the directory', async () => {
    dir = mkdtempSync(join(tmpdir(), 'snapshots-'));
    await expect(new FileSnapshotStore(dir).putIfAbsent('../escape.json', snapshot(1))).rejects.toThrow(
      /inside/,
    );
  });

  it('is the store chosen for a directory without a bucket', () => {
    expect(snapshotStoreFor({ snapshotBucket: undefined, snapshotDir: '/tmp/x' })).toBeInstanceOf(
      FileSnapshotStore,
    );
  });
});

describe('MemorySnapshotStore', () => {
  it('keeps the first snapshot and hands out copies', async () => {
    const store = new MemorySnapshotStore();
    await store.putIfAbsent(KEY, snapshot(1));
    await store.putIfAbsent(KEY, snapshot(2));
    const read = (await store.get(KEY)) as ComputeSnapshot;
    read.clusters.length = 0;
    expect((await store.get(KEY))?.takenAt).toBe(1);
    expect((await store.get(KEY))?.clusters).toHaveLength(1);
  });
});

describe('A snapshot that was written can always be read back (DESIGN §6.4)', () => {
  /** What Databricks can return: numeric tag values, nulls for absent fields, fields nobody modelled. */
  const asDatabricksSendsIt = {
    ...snapshot(1),
    clusters: [
      {
        cluster_id: 'c',
        state: 'RUNNING',
        cluster_source: 'UI',
        cluster_name: null,
        instance_pool_id: null,
        spark_version: '15.4.x-scala2.12',
        custom_tags: { cost_center: 4711 },
      },
    ],
    pools: [
      {
        instance_pool_id: 'p',
        instance_pool_name: 'pool',
        node_type_id: 'i3.xlarge',
        min_idle_instances: 2,
        max_capacity: null,
        idle_instance_autotermination_minutes: 30,
        custom_tags: { team: 7, owner: 'data' },
        stats: { idle_count: 2, used_count: null },
        preloaded_spark_versions: ['15.4.x-scala2.12'],
      },
    ],
    warehouses: [{ id: 'w', state: 'RUNNING', name: null, channel: { name: 'CHANNEL_NAME_CURRENT' } }],
    jobs: [{ job_id: 1, name: null, schedule: { quartz_cron_expression: 'x', pause_status: 'UNPAUSED' } }],
    pipelines: [{ pipeline_id: 'pl', state: 'RUNNING', continuous: true, serverless: null, creator: 'x' }],
    runs: [{ run_id: 5, life_cycle_state: 'RUNNING', continuous: false, job_id: null, run_page_url: 'u' }],
    somethingNew: { kept: true },
  } as unknown as ComputeSnapshot;

  it.each([
    ['memory', () => new MemorySnapshotStore()],
    ['file', () => new FileSnapshotStore(mkdtempSync(join(tmpdir(), 'snapshots-')))],
  ] as const)('round-trips numeric tag values, nulls and unknown fields (%s store)', async (_, make) => {
    const store = make();
    await store.putIfAbsent(KEY, asDatabricksSendsIt);
    const back = (await store.get(KEY)) as unknown as Record<string, unknown>;
    expect(back).toBeDefined();
    const pools = back.pools as Array<Record<string, unknown>>;
    expect(pools[0]?.custom_tags).toEqual({ team: 7, owner: 'data' });
    expect(pools[0]?.preloaded_spark_versions).toEqual(['15.4.x-scala2.12']);
    expect(pools[0]?.max_capacity).toBeUndefined();
    expect((back.clusters as Array<Record<string, unknown>>)[0]?.spark_version).toBe('15.4.x-scala2.12');
    expect(back.somethingNew).toEqual({ kept: true });
  });

  it('refuses to write a snapshot it could not read back, before anything is stopped', async () => {
    const store = new MemorySnapshotStore();
    const broken = { ...snapshot(1), clusters: [{ state: 'RUNNING' }] } as unknown as ComputeSnapshot;
    await expect(store.putIfAbsent(KEY, broken)).rejects.toThrow(SnapshotUnreadable);
    expect(await store.get(KEY)).toBeUndefined();
  });
});
