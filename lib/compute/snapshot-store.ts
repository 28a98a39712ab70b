import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { SdkClient } from '../aws/clients.ts';
import { clock } from '../clock.ts';
import { InvalidInput, TransientError } from '../errors.ts';
import type { Settings } from '../settings.ts';
import { SnapshotMismatch, SnapshotMissing, SnapshotUnreadable } from './errors.ts';
import {
  type ComputeSnapshot,
  ComputeSnapshotSchema,
  type RestoreAdditions,
  RestoreAdditionsSchema,
} from './model.ts';
import { mergeRestoreSet } from './rules.ts';

/**
 * Where compute snapshots live. The Step Functions state is limited to 256 KB, and a workspace with
 * thousands of clusters and jobs has a snapshot far bigger than that, so only its key travels in the state.
 * A snapshot is written once: the first one wins, so a retried stop never overwrites what really ran.
 */
export interface SnapshotStore {
  putIfAbsent(key: string, snapshot: ComputeSnapshot): Promise<{ created: boolean }>;
  get(key: string): Promise<ComputeSnapshot | undefined>;
  /** Small documents beside the snapshots (restore additions, open-snapshot pointers): plain overwrite. */
  putDocument(key: string, document: unknown): Promise<void>;
  getDocument(key: string): Promise<unknown | undefined>;
  deleteDocument(key: string): Promise<void>;
  /** Where a key lives, in words an operator can use (`s3://bucket/key`, a file path). */
  locate(key: string): string;
}

/**
 * Validates a snapshot against the schema it will be read back with, and returns the text to store: a
 * snapshot that could not be read back is refused before anything is stopped (DESIGN §6.4).
 */
export function serializeSnapshot(key: string, snapshot: ComputeSnapshot): string {
  const text = JSON.stringify(snapshot);
  parseSnapshot(key, text);
  return text;
}

/**
 * Reads a stored snapshot back; anything that does not parse is `SnapshotUnreadable` naming the key. A
 * snapshot stored under a standard key (`<execution>/<workspace>/compute-snapshot.json`, `snapshotKeyOf`)
 * must name that execution and workspace, else `SnapshotMismatch` — on write too, so a misplaced snapshot is
 * refused before anything is stopped.
 */
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
    const issue = parsed.error.issues[0];
    throw new SnapshotUnreadable(
      `compute snapshot ${key} does not have the expected shape (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}); restore the compute by hand`,
      { details: { snapshotKey: key } },
    );
  }
  const owner = ownerOfKey(key);
  if (owner) assertSnapshotOwner(key, parsed.data, owner, 'the workspace and execution its key names');
  return parsed.data;
}

/** Who a snapshot is read for: its workspace, and its execution when the caller knows it. */
export interface SnapshotOwner {
  workspaceId: number;
  executionId?: string;
}

/** `<execution>/<workspace>/compute-snapshot.json` or `…/restore-additions.json` (see `snapshotKeyOf`). */
const STANDARD_KEY = /^([^/]+)\/(\d+)\/(?:compute-snapshot|restore-additions)\.json$/;

/** The execution and workspace a standard snapshot or additions key names; `undefined` for any other key. */
function ownerOfKey(key: string): Required<SnapshotOwner> | undefined {
  const match = STANDARD_KEY.exec(key);
  if (!match) return undefined;
  const workspaceId = Number(match[2]);
  return Number.isSafeInteger(workspaceId) ? { executionId: match[1] as string, workspaceId } : undefined;
}

/**
 * Refuses a snapshot that does not belong to `owner` (DESIGN §6.4: restore brings back exactly what ran in
 * this workspace, never another's): `SnapshotMismatch` naming both ids.
 */
function assertSnapshotOwner(
  key: string,
  snapshot: Pick<ComputeSnapshot, 'workspaceId' | 'executionId'>,
  owner: SnapshotOwner,
  readFor: string,
): void {
  const workspaceWrong = snapshot.workspaceId !== owner.workspaceId;
  const executionWrong = owner.executionId !== undefined && snapshot.executionId !== owner.executionId;
  if (!workspaceWrong && !executionWrong) return;
  const what = workspaceWrong
    ? `belongs to workspace ${snapshot.workspaceId}, not to workspace ${owner.workspaceId}`
    : `was taken by execution ${snapshot.executionId}, not by execution ${owner.executionId}`;
  throw new SnapshotMismatch(
    `compute snapshot ${key} ${what} (${readFor}); nothing is restored from it. Check the snapshot store and restore the compute of workspace ${owner.workspaceId} by hand`,
    {
      details: {
        snapshotKey: key,
        workspaceId: owner.workspaceId,
        snapshotWorkspaceId: snapshot.workspaceId,
        ...(owner.executionId === undefined
          ? {}
          : { executionId: owner.executionId, snapshotExecutionId: snapshot.executionId }),
      },
    },
  );
}

let s3: SdkClient | undefined;

/** The S3 client of this container, created once on first use (compute steps only). */
function defaultS3(): SdkClient {
  s3 ??= new S3Client({});
  return s3;
}

/** Conditional writes of a snapshot answered `409 ConditionalRequestConflict` before giving up (`TransientError`). */
const CONFLICT_ATTEMPTS = 3;

/** S3: a conditional put (`If-None-Match: *`) makes the first snapshot win even under concurrent retries. */
export class S3SnapshotStore implements SnapshotStore {
  constructor(
    private readonly bucket: string,
    private readonly client: SdkClient = defaultS3(),
  ) {}

  async putIfAbsent(key: string, snapshot: ComputeSnapshot): Promise<{ created: boolean }> {
    const body = serializeSnapshot(key, snapshot);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: body,
            ContentType: 'application/json',
            IfNoneMatch: '*',
          }),
        );
        return { created: true };
      } catch (error) {
        const status = statusOf(error);
        if (status === 412 || nameOf(error) === 'PreconditionFailed') return { created: false };
        // 409 ConditionalRequestConflict: a write or delete of the same key raced this one, and S3 says to
        // retry the upload (S3 API reference, PutObject `If-None-Match`). The retry ends in 200 or 412.
        if (status === 409 || nameOf(error) === 'ConditionalRequestConflict') {
          if (attempt < CONFLICT_ATTEMPTS) {
            await clock().sleep(200 * attempt);
            continue;
          }
          throw new TransientError(`compute snapshot ${key} is being written concurrently; retry`, {
            cause: error,
          });
        }
        throw storeError(error, `writing ${this.locate(key)}`);
      }
    }
  }

  async get(key: string): Promise<ComputeSnapshot | undefined> {
    const text = await this.read(key);
    return text === undefined ? undefined : parseSnapshot(key, text);
  }

  async putDocument(key: string, document: unknown): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: JSON.stringify(document),
          ContentType: 'application/json',
        }),
      );
    } catch (error) {
      throw storeError(error, `writing ${this.locate(key)}`);
    }
  }

  async getDocument(key: string): Promise<unknown | undefined> {
    const text = await this.read(key);
    return text === undefined ? undefined : parseDocument(key, text);
  }

  async deleteDocument(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (nameOf(error) === 'NoSuchKey' || statusOf(error) === 404) return;
      throw storeError(error, `deleting ${this.locate(key)}`);
    }
  }

  locate(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  private async read(key: string): Promise<string | undefined> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return await (answer.Body as { transformToString(): Promise<string> }).transformToString();
    } catch (error) {
      if (nameOf(error) === 'NoSuchKey' || statusOf(error) === 404) return undefined;
      throw storeError(error, `reading ${this.locate(key)}`);
    }
  }
}

/**
 * An S3 error in the operator's words: throttling and 5xx are `TransientError` (the Task retries them),
 * anything else (access denied, a missing bucket) is `SnapshotUnreadable` naming the object.
 */
function storeError(error: unknown, what: string): Error {
  const status = statusOf(error);
  const name = nameOf(error) ?? 'Error';
  const message = (error as { message?: string } | null)?.message ?? String(error);
  const transient =
    status === undefined ||
    status >= 500 ||
    status === 429 ||
    /SlowDown|Throttl|RequestTimeout|InternalError|ServiceUnavailable/i.test(name);
  const text = `S3 ${name}${status ? ` (HTTP ${status})` : ''} while ${what}: ${message.slice(0, 300)}`;
  return transient
    ? new TransientError(text, { cause: error })
    : new SnapshotUnreadable(`${text}; check the snapshot bucket and this function's S3 permissions`, {
        cause: error,
      });
}

function parseDocument(key: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new SnapshotUnreadable(`document ${key} beside the compute snapshots is not valid JSON`, {
      details: { snapshotKey: key },
    });
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
      await writeFile(path, serializeSnapshot(key, snapshot), { flag: 'wx' });
      return { created: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { created: false };
      throw error;
    }
  }

  async get(key: string): Promise<ComputeSnapshot | undefined> {
    const text = await this.read(key);
    return text === undefined ? undefined : parseSnapshot(key, text);
  }

  async putDocument(key: string, document: unknown): Promise<void> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true });
    // Write then rename: a reader never sees half a document.
    const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temp, JSON.stringify(document));
    await rename(temp, path);
  }

  async getDocument(key: string): Promise<unknown | undefined> {
    const text = await this.read(key);
    return text === undefined ? undefined : parseDocument(key, text);
  }

  async deleteDocument(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  locate(key: string): string {
    return this.pathOf(key);
  }

  private async read(key: string): Promise<string | undefined> {
    try {
      return await readFile(this.pathOf(key), 'utf8');
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
    this.snapshots.set(key, serializeSnapshot(key, snapshot));
    return { created: true };
  }

  async get(key: string): Promise<ComputeSnapshot | undefined> {
    const text = this.snapshots.get(key);
    return text === undefined ? undefined : parseSnapshot(key, text);
  }

  async putDocument(key: string, document: unknown): Promise<void> {
    this.snapshots.set(key, JSON.stringify(document));
  }

  async getDocument(key: string): Promise<unknown | undefined> {
    const text = this.snapshots.get(key);
    return text === undefined ? undefined : parseDocument(key, text);
  }

  async deleteDocument(key: string): Promise<void> {
    this.snapshots.delete(key);
  }

  locate(key: string): string {
    return `memory:${key}`;
  }
}

/** The key of the restore additions beside a snapshot. */
export const additionsKeyOf = (snapshotKey: string): string =>
  snapshotKey.replace(/compute-snapshot\.json$/, 'restore-additions.json');

/** The key of the pipelines read so far for a snapshot that is not taken yet (see `takeSnapshot`). */
export const pipelineSpecsKeyOf = (snapshotKey: string): string =>
  snapshotKey.replace(/compute-snapshot\.json$/, 'pipeline-specs.json');

/**
 * The pointer to a workspace's snapshot while its compute is stopped: written when the stop begins,
 * removed once everything is verified back. A later execution that finds it (the earlier one failed
 * without restoring) honours that snapshot instead of snapshotting a stopped workspace (DESIGN §6.4).
 */
export const openSnapshotKeyOf = (workspaceId: number): string => `open/${workspaceId}.json`;

/**
 * What the open pointer (`open/<workspace id>.json`) says about the compute an execution left stopped — it
 * failed, was aborted or timed out, and never saw it back. A later execution must not take such a workspace
 * for one where nothing runs (DESIGN §6.4).
 */
export interface OpenPointer {
  snapshotKey: string;
  /** The execution that stopped it. */
  executionId?: string;
  /** That execution was adding a storage key (absent: a pointer written before this was recorded). */
  storageAdded?: boolean;
  /** Epoch ms when its storage wait ends, once it began (the key took effect). */
  storageWaitUntil?: number;
}

export async function openPointerOf(
  workspaceId: number,
  store: SnapshotStore,
): Promise<OpenPointer | undefined> {
  const pointer = (await store.getDocument(openSnapshotKeyOf(workspaceId))) as
    | { snapshotKey?: unknown; executionId?: unknown; storageAdded?: unknown; storageWaitUntil?: unknown }
    | null
    | undefined;
  if (typeof pointer?.snapshotKey !== 'string') return undefined;
  return {
    snapshotKey: pointer.snapshotKey,
    ...(typeof pointer.executionId === 'string' ? { executionId: pointer.executionId } : {}),
    ...(typeof pointer.storageAdded === 'boolean' ? { storageAdded: pointer.storageAdded } : {}),
    ...(Number.isFinite(pointer.storageWaitUntil)
      ? { storageWaitUntil: pointer.storageWaitUntil as number }
      : {}),
  };
}

/**
 * What restore brings back: the snapshot united with its restore additions (`undefined`: no snapshot,
 * nothing was touched). With `owner`, a snapshot (or additions) of another workspace or execution is
 * `SnapshotMismatch` and nothing is restored.
 */
export async function loadRestoreSet(
  store: SnapshotStore,
  snapshotKey: string,
  owner?: SnapshotOwner,
): Promise<ComputeSnapshot | undefined> {
  const snapshot = await store.get(snapshotKey);
  if (!snapshot) return undefined;
  if (owner) assertSnapshotOwner(snapshotKey, snapshot, owner, readForText(owner));
  const additions = await loadAdditions(store, snapshotKey, owner);
  return additions ? mergeRestoreSet(snapshot, additions) : snapshot;
}

/**
 * The restore additions stored beside `snapshotKey` (none yet: `undefined`). They carry no ids of their own:
 * with `owner`, a standard key (`<execution>/<workspace>/…`) must name the owner's workspace (and execution),
 * else `SnapshotMismatch`.
 */
export async function loadAdditions(
  store: SnapshotStore,
  snapshotKey: string,
  owner?: SnapshotOwner,
): Promise<RestoreAdditions | undefined> {
  const key = additionsKeyOf(snapshotKey);
  const keyOwner = owner ? ownerOfKey(key) : undefined;
  if (owner && keyOwner) {
    const workspaceWrong = keyOwner.workspaceId !== owner.workspaceId;
    const executionWrong = owner.executionId !== undefined && keyOwner.executionId !== owner.executionId;
    if (workspaceWrong || executionWrong) {
      throw new SnapshotMismatch(
        `restore additions ${store.locate(key)} belong to ${workspaceWrong ? `workspace ${keyOwner.workspaceId}, not to workspace ${owner.workspaceId}` : `execution ${keyOwner.executionId}, not to execution ${owner.executionId}`} (${readForText(owner)}); nothing is restored from them. Restore the compute of workspace ${owner.workspaceId} by hand`,
        {
          details: {
            snapshotKey: key,
            workspaceId: owner.workspaceId,
            snapshotWorkspaceId: keyOwner.workspaceId,
            ...(owner.executionId === undefined
              ? {}
              : { executionId: owner.executionId, snapshotExecutionId: keyOwner.executionId }),
          },
        },
      );
    }
  }
  const document = await store.getDocument(key);
  if (document === undefined) return undefined;
  const parsed = RestoreAdditionsSchema.safeParse(document);
  if (!parsed.success) {
    throw new SnapshotUnreadable(
      `restore additions ${store.locate(key)} do not have the expected shape (${parsed.error.issues[0]?.message ?? 'invalid'}); restore the compute by hand`,
      { details: { snapshotKey: key } },
    );
  }
  return parsed.data;
}

/**
 * Reads the snapshot a later step needs; its absence is an error (only stop-compute may create it). A
 * snapshot of another workspace — or, when `executionId` is given, of another execution — is
 * `SnapshotMismatch`.
 */
export async function loadSnapshot(
  store: SnapshotStore,
  key: string,
  workspaceId: number,
  executionId?: string,
): Promise<ComputeSnapshot> {
  const snapshot = await store.get(key);
  if (!snapshot) {
    throw new SnapshotMissing(
      `compute snapshot ${key} of workspace ${workspaceId} is missing from the snapshot store; check the store's retention, and restore the compute by hand if it was stopped`,
      { details: { snapshotKey: key, workspaceId } },
    );
  }
  const owner: SnapshotOwner = executionId === undefined ? { workspaceId } : { workspaceId, executionId };
  assertSnapshotOwner(key, snapshot, owner, readForText(owner));
  return snapshot;
}

function readForText(owner: SnapshotOwner): string {
  return `read for workspace ${owner.workspaceId}${owner.executionId === undefined ? '' : ` in execution ${owner.executionId}`}`;
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
