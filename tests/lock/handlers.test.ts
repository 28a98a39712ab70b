import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler as acquire } from '../../functions/acquire-workspace-lock.ts';
import { handler as releaseOnAbort } from '../../functions/release-locks-on-abort.ts';
import { handler as release } from '../../functions/release-workspace-lock.ts';
import { replaceAwsClient, setAwsClients } from '../../lib/aws/clients.ts';
import { type Clock, setClock } from '../../lib/clock.ts';
import { holdLease, readLock, releaseWorkspaceLock, renewIfHeld } from '../../lib/lock/index.ts';
import { loadSettings } from '../../lib/settings.ts';
import { type LocalLockTable, startLocalLockTable } from '../../local/aws/dynamodb.ts';
import { rotationItem } from '../workspace/items.ts';

const T0 = Date.parse('2026-11-25T16:45:00Z');
const PARENT = 'arn:aws:states:us-east-1:111122223333:execution:rotate-workspace-key-prod:manual-1';
const CHILD = 'arn:aws:states:us-east-1:111122223333:execution:rotate-one-workspace-prod:42-abc';
const OTHER = 'arn:aws:states:us-east-1:111122223333:execution:rotate-one-workspace-prod:42-def';

const context = {
  functionName: 'test',
  awsRequestId: randomUUID(),
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;
const invoke = <T>(fn: (event: unknown, ctx: Context) => Promise<unknown>, event: unknown) =>
  fn(JSON.parse(JSON.stringify(event)), context) as Promise<T>;
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected the step to fail');
    },
    (error: Error) => error,
  );

let db: LocalLockTable;
let now = T0;
let nextWorkspace = 2_000_000_000_000_000;
let saved: { env: NodeJS.ProcessEnv; clock: Clock };

beforeAll(async () => {
  db = await startLocalLockTable('locks-handlers-test');
});
afterAll(() => db.close());
beforeEach(() => {
  saved = {
    env: { ...process.env },
    clock: setClock({ now: () => now, sleep: async () => undefined }),
  };
  Object.assign(process.env, {
    DATABRICKS_ACCOUNT_ID: 'acc-0d6c9a2e',
    DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf',
    LOCK_TABLE: db.table,
    LOCK_LEASE_MINUTES: '30',
  });
  setAwsClients({ dynamodb: db.client });
  now = T0;
});
afterEach(() => {
  process.env = saved.env;
  setClock(saved.clock);
});

/** The per-workspace item as the state machine carries it (only what the lock steps read matters). */
function itemFor(workspaceId = nextWorkspace++, extra: Record<string, unknown> = {}) {
  return {
    executionId: 'manual-1',
    workspace: { workspaceId, deploymentName: 'acme', region: 'us-east-1' },
    ...extra,
  };
}
const holderOf = async (workspaceId: number) => (await readLock(db.client, db.table, workspaceId))?.holder?.S;

describe('Step: acquire-workspace-lock', () => {
  it('takes the lock for LOCK_LEASE_MINUTES and returns what the state machine stores at item.lock', async () => {
    // Prepare
    const item = itemFor();
    // Act
    const lock = await invoke(acquire, { item, holder: CHILD, rootExecution: PARENT });
    // Assess
    expect(lock).toEqual({ holder: CHILD, expiresAt: T0 / 1000 + 30 * 60 });
    const stored = await readLock(db.client, db.table, item.workspace.workspaceId);
    expect(stored?.rootExecution?.S).toBe(PARENT);
  });

  it('fails with WorkspaceBusy naming the holder when another execution has the workspace', async () => {
    // Prepare
    const item = itemFor();
    await invoke(acquire, { item, holder: CHILD });
    now += 60_000;
    // Act
    const error = await failure(invoke(acquire, { item, holder: OTHER }));
    // Assess
    expect(error.name).toBe('WorkspaceBusy');
    expect(error.message).toContain(`locked by execution ${CHILD}`);
    expect(await holderOf(item.workspace.workspaceId)).toBe(CHILD);
  });

  it('answers busy with the holder instead of failing when the item says waitForLock', async () => {
    // Prepare
    const item = itemFor(undefined, { waitForLock: true });
    await invoke(acquire, { item, holder: CHILD });
    // Act
    const answer = await invoke(acquire, { item, holder: OTHER });
    // Assess
    expect(answer).toEqual({
      busy: true,
      holder: CHILD,
      acquiredAt: T0 / 1000,
      expiresAt: T0 / 1000 + 30 * 60,
    });
  });

  it('fails with InvalidSettings naming LOCK_TABLE when the table is not configured', async () => {
    // Prepare
    delete process.env.LOCK_TABLE;
    // Act
    const error = await failure(invoke(acquire, { item: itemFor(), holder: CHILD }));
    // Assess
    expect(error.name).toBe('InvalidSettings');
    expect(error.message).toContain('setting LOCK_TABLE is not set');
  });

  it('refuses an input without the holder, naming the field', async () => {
    const error = await failure(invoke(acquire, { item: itemFor() }));
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toContain('holder');
  });
});

describe('Step: release-workspace-lock', () => {
  it("releases this execution's lock and passes the workspace's result through", async () => {
    // Prepare
    const item = itemFor();
    await invoke(acquire, { item, holder: CHILD });
    const result = { workspaceId: item.workspace.workspaceId, status: 'ROTATED', keyChanged: true };
    // Act
    const output = await invoke(release, { ...item, holder: CHILD, result });
    // Assess
    expect(output).toEqual(result);
    expect(await holderOf(item.workspace.workspaceId)).toBeUndefined();
  });

  it("leaves another execution's lock in place (the busy path releases nothing)", async () => {
    // Prepare
    const item = itemFor();
    await invoke(acquire, { item, holder: CHILD });
    // Act
    const output = await invoke(release, { ...item, holder: OTHER });
    // Assess
    expect(output).toEqual({ released: false });
    expect(await holderOf(item.workspace.workspaceId)).toBe(CHILD);
  });
});

describe('Step: release-locks-on-abort', () => {
  const event = (status: string, executionArn: string) => {
    const base = JSON.parse(
      readFileSync(new URL('../fixtures/events/sfn-execution-failed.json', import.meta.url), 'utf8'),
    );
    return { ...base, detail: { ...base.detail, status, executionArn } };
  };

  it.each(['ABORTED', 'TIMED_OUT', 'FAILED'])(
    'releases the locks of a %s parent and of its children, and lets a new execution proceed',
    async (status) => {
      // Prepare
      const parent = `${PARENT}-${status}`;
      const [mine, childs, others] = [itemFor(), itemFor(), itemFor()];
      await invoke(acquire, { item: mine, holder: parent });
      await invoke(acquire, { item: childs, holder: `${CHILD}-${status}`, rootExecution: parent });
      await invoke(acquire, { item: others, holder: OTHER });
      // Act
      const output = await invoke(releaseOnAbort, event(status, parent));
      // Assess
      expect(output).toEqual({
        executionArn: parent,
        status,
        released: [
          { workspaceId: mine.workspace.workspaceId, holder: parent },
          { workspaceId: childs.workspace.workspaceId, holder: `${CHILD}-${status}` },
        ],
      });
      expect(await holderOf(others.workspace.workspaceId)).toBe(OTHER);
      await expect(invoke(acquire, { item: mine, holder: OTHER })).resolves.toMatchObject({ holder: OTHER });
    },
  );

  it('refuses an execution that has not ended (the rule never sends one)', async () => {
    const error = await failure(invoke(releaseOnAbort, event('RUNNING', PARENT)));
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toContain('detail.status');
  });
});

describe('Function: renewIfHeld', () => {
  const env = () => ({ client: db.client, settings: loadSettings(), now });

  it('does nothing for an item that holds no lock', async () => {
    await expect(renewIfHeld(itemFor(), env())).resolves.toBeUndefined();
  });

  it('does nothing for an item still waiting for the lock', async () => {
    const item = itemFor(undefined, { lock: { busy: true, holder: OTHER } });
    await expect(renewIfHeld(item, env())).resolves.toBeUndefined();
  });

  it('extends the lease of the lock the item holds', async () => {
    // Prepare
    const item = itemFor();
    const lock = await invoke(acquire, { item, holder: CHILD });
    now += 20 * 60_000;
    // Act
    const renewed = await renewIfHeld({ ...item, lock }, env());
    // Assess
    expect(renewed).toEqual({ holder: CHILD, expiresAt: now / 1000 + 30 * 60 });
  });

  it('raises WorkspaceLockLost once another execution took the lock over', async () => {
    // Prepare
    const item = itemFor();
    const lock = await invoke(acquire, { item, holder: CHILD });
    now += 31 * 60_000;
    await invoke(acquire, { item, holder: OTHER });
    // Act
    const error = await failure(renewIfHeld({ ...item, lock }, env()));
    // Assess
    expect(error.name).toBe('WorkspaceLockLost');
    expect(error.message).toContain(`execution ${OTHER} holds it`);
  });
});

describe('Function: holdLease (before a step that changes something)', () => {
  const env = () => ({ settings: loadSettings(), clock: { now: () => now } });

  it('renews the lease, so that a chain of Task retries never outlasts it', async () => {
    // Prepare
    const item = itemFor();
    const lock = await invoke(acquire, { item, holder: CHILD });
    now += 25 * 60_000;
    // Act
    await holdLease({ ...item, lock }, env());
    // Assess: another execution finds the workspace held 29 minutes later
    now += 29 * 60_000;
    const error = await failure(invoke(acquire, { item, holder: OTHER }));
    expect(error.name).toBe('WorkspaceBusy');
    expect(await holderOf(item.workspace.workspaceId)).toBe(CHILD);
  });

  it('refuses to go on once another execution holds the workspace', async () => {
    // Prepare
    const item = itemFor();
    const lock = await invoke(acquire, { item, holder: CHILD });
    now += 31 * 60_000;
    await invoke(acquire, { item, holder: OTHER });
    // Act
    const error = await failure(holdLease({ ...item, lock }, env()));
    // Assess
    expect(error.name).toBe('WorkspaceLockLost');
    expect(await holderOf(item.workspace.workspaceId)).toBe(OTHER);
  });

  it('takes a lock that lapsed and that nobody took again', async () => {
    // Prepare: the lease ran out and the item is gone (the abort rule, or TTL deleted it)
    const item = itemFor();
    const lock = await invoke(acquire, { item, holder: CHILD, rootExecution: PARENT });
    await releaseWorkspaceLock(db.client, db.table, {
      workspaceId: item.workspace.workspaceId,
      holder: CHILD,
    });
    // Act
    await holdLease({ ...item, lock, rootExecution: PARENT }, env());
    // Assess
    expect(await holderOf(item.workspace.workspaceId)).toBe(CHILD);
  });

  it('goes on when the lock table cannot be reached (no other execution can take the lock either)', async () => {
    // Prepare
    const item = itemFor();
    const lock = await invoke(acquire, { item, holder: CHILD });
    setAwsClients({
      dynamodb: {
        send: async () => {
          throw Object.assign(new Error('Service unavailable'), { name: 'InternalServerError' });
        },
      },
    });
    try {
      // Act + Assess
      await expect(holdLease({ ...item, lock }, env())).resolves.toBeUndefined();
    } finally {
      setAwsClients({ dynamodb: db.client });
    }
  });

  it('does nothing for an item that holds no lock', async () => {
    await expect(holdLease(itemFor(), env())).resolves.toBeUndefined();
  });
});

describe('Steps that change something hold the lock first', () => {
  /** Every client a step could change something with fails the test if it is called at all. */
  const untouchable = {
    send: async (command: { constructor: { name: string } }) => {
      throw new Error(`unexpected call ${command.constructor.name}: the step should have stopped first`);
    },
  };
  const steps = [
    ['patch-key-policy', () => import('../../functions/patch-key-policy.ts')],
    ['register-key-config', () => import('../../functions/register-key-config.ts')],
    ['stop-compute', () => import('../../functions/stop-compute.ts')],
    ['update-workspace', () => import('../../functions/update-workspace.ts')],
    ['restore-compute', () => import('../../functions/restore-compute.ts')],
  ] as const;

  it.each(steps)('%s changes nothing once another execution holds the workspace', async (_name, load) => {
    // Prepare: this child's lease ran out and another execution took the workspace
    const { handler } = await load();
    const base = rotationItem();
    const item = { ...base, workspace: { ...base.workspace, workspaceId: nextWorkspace++ } };
    const lock = await invoke(acquire, { item, holder: CHILD });
    now += 31 * 60_000;
    await invoke(acquire, { item, holder: OTHER });
    setAwsClients({ dynamodb: db.client, kms: untouchable, s3: untouchable, secretsManager: untouchable });
    try {
      // Act
      const error = await failure(
        invoke(handler, {
          ...item,
          lock,
          keyConfig: { customerManagedKeyId: 'cfg-new', reused: false, useCases: ['MANAGED_SERVICES'] },
        }),
      );
      // Assess: stopped before any KMS, S3 or Databricks call, naming the holder
      expect(error.name).toBe('WorkspaceLockLost');
      expect(error.message).toContain(OTHER);
      expect(await holderOf(item.workspace.workspaceId)).toBe(OTHER);
    } finally {
      for (const name of ['kms', 's3', 'secretsManager'] as const) replaceAwsClient(name, undefined);
    }
  });
});
