import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { SdkClient } from '../aws/clients.ts';
import { InvalidInput, TransientError } from '../errors.ts';
import type { Settings } from '../settings.ts';
import { SnapshotMissing, SnapshotUnreadable } from './errors.ts';
import { type ComputeSnapshot, ComputeSnapshotSchema } from './model.ts';

/**
 * Where compute snapshots live. The Step Functions state is limited to 256 KB, and a workspace with
 * thousands of clusters and jobs has a snapshot far bigger than that, so only its key travels in the state.
 * A snapshot is written once: the first one wins, so a retried stop never overwrites what really ran.
 */
export interface SnapshotStore {
  putIfAbsent(key: string, snapshot: ComputeSnapshot): Promise<{ created: boolean }>;
  get(key: string): Promise<ComputeSnapshot | undefined>;
}

/** Reads a stored snapshot back; anything that does not parse is `SnapshotUnreadable` naming the key. */
function parseSnapshot(key: string, text: string): ComputeSnapshot {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SnapshotUnreadable(`compute snapshot ${key} is not valid JSON; restore the compute by hand`, {
      details: { snapshotKey: key },
    });
  }
  const parsed = ComputeSnapshotSchema.safeParse(json);
  if (!parsed.success) {
    throw new SnapshotUnreadable(
      `compute snapshot ${key} does not have the expected shape (${parsed.error.issues[0]?.message ?? 'invalid'}); restore the compute by hand`,
      { details: { snapshotKey: key } },
    );
  }
  return parsed.data;
}

let s3: SdkClient | undefined;

/** The S3 client of this container, created once on first use (compute steps only). */
function defaultS3(): SdkClient {
  s3 ??= new S3Client({});
  return s3;
}

/** S3: a conditional put (`If-None-Match: *`) makes the first snapshot win even under concurrent retries. */
export class S3SnapshotStore implements SnapshotStore {
  constructor(
    private readonly bucket: string,
    private readonly client: SdkClient = defaultS3(),
  ) {}

  async putIfAbsent(key: string, snapshot: ComputeSnapshot): Promise<{ created: boolean }> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: JSON.stringify(snapshot),
          ContentType: 'application/json',
          IfNoneMatch: '*',
        }),
      );
      return { created: true };
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || nameOf(error) === 'PreconditionFailed') return { created: false };
      // 409 ConditionalRequestConflict: another conditional write of the same key is in flight.
      if (status === 409 || nameOf(error) === 'ConditionalRequestConflict') {
        throw new TransientError(`compute snapshot ${key} is being written concurrently; retry`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  async get(key: string): Promise<ComputeSnapshot | undefined> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const text = await (answer.Body as { transformToString(): Promise<string> }).transformToString();
      return parseSnapshot(key, text);
    } catch (error) {
      if (nameOf(error) === 'NoSuchKey' || statusOf(error) === 404) return undefined;
      throw error;
    }
  }
}

/** A directory (local mode, `SNAPSHOT_DIR`): exclusive create (`wx`) gives the same first-wins rule. */
export class FileSnapshotStore implements SnapshotStore {
  private readonly root: string;

  constructor(dir: string) {
    this.root = resolve(dir);
  }

  async putIfAbsent(key: string, snapshot: ComputeSnapshot): Promise<{ created: boolean }> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true });
    try {
      await writeFile(path, JSON.stringify(snapshot), { flag: 'wx' });
      return { created: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { created: false };
      throw error;
    }
  }

  async get(key: string): Promise<ComputeSnapshot | undefined> {
    try {
      return parseSnapshot(key, await readFile(this.pathOf(key), 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Keys are `execution/workspace/file`; one that would leave the directory is refused. */
  private pathOf(key: string): string {
    const path = resolve(this.root, key);
    if (!path.startsWith(this.root + sep)) {
      throw new InvalidInput(
        `snapshot key ${JSON.stringify(key)} is not a relative path inside the snapshot directory`,
      );
    }
    return path;
  }
}

/** In memory (tests). Snapshots are copied in and out, as a real store would. */
export class MemorySnapshotStore implements SnapshotStore {
  private readonly snapshots = new Map<string, string>();

  async putIfAbsent(key: string, snapshot: ComputeSnapshot): Promise<{ created: boolean }> {
    if (this.snapshots.has(key)) return { created: false };
    this.snapshots.set(key, JSON.stringify(snapshot));
    return { created: true };
  }

  async get(key: string): Promise<ComputeSnapshot | undefined> {
    const text = this.snapshots.get(key);
    return text === undefined ? undefined : parseSnapshot(key, text);
  }
}

/** Reads the snapshot a later step needs; its absence is an error (only stop-compute may create it). */
export async function loadSnapshot(
  store: SnapshotStore,
  key: string,
  workspaceId: number,
): Promise<ComputeSnapshot> {
  const snapshot = await store.get(key);
  if (!snapshot) {
    throw new SnapshotMissing(
      `compute snapshot ${key} of workspace ${workspaceId} is missing from the snapshot store; check the store's retention, and restore the compute by hand if it was stopped`,
      { details: { snapshotKey: key, workspaceId } },
    );
  }
  return snapshot;
}

// Shared by every step of this process. Memory only works when all steps run in one process (the local
// runner, tests); a deployment always sets SNAPSHOT_BUCKET.
const memory = new MemorySnapshotStore();

/** The store the settings name: S3 when `SNAPSHOT_BUCKET` is set, a directory for `SNAPSHOT_DIR`, else memory. */
export function snapshotStoreFor(settings: Pick<Settings, 'snapshotBucket' | 'snapshotDir'>): SnapshotStore {
  if (settings.snapshotBucket) return new S3SnapshotStore(settings.snapshotBucket);
  if (settings.snapshotDir) return new FileSnapshotStore(settings.snapshotDir);
  return memory;
}

/** Replace the S3 client used by `snapshotStoreFor` (tests). */
export function setSnapshotS3Client(client: SdkClient | undefined): void {
  s3 = client;
}

function nameOf(error: unknown): string | undefined {
  return (error as { name?: string } | null)?.name;
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}
