import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_RECORD_TTL_SECONDS, recordEventOnce } from '../../lib/lock/index.ts';
import { planRotation } from '../../lib/plan/plan.ts';
import { type LocalLockTable, startLocalLockTable } from '../../local/aws/dynamodb.ts';
import {
  FakeAccount,
  FakeKms,
  keyConfig,
  NEW_KEY,
  OLD_KEY,
  settingsWith,
  WATCHED_ALIAS,
  workspace,
} from '../plan/fakes.ts';

const T0 = Date.parse('2026-11-25T16:45:00Z');
const FIRST = 'arn:aws:states:us-east-1:111122223333:execution:rotate-workspace-key-prod:first';
const SECOND = 'arn:aws:states:us-east-1:111122223333:execution:rotate-workspace-key-prod:second';
const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8'));

let db: LocalLockTable;
beforeAll(async () => {
  db = await startLocalLockTable('locks-events-test');
});
afterAll(() => db.close());

const record = (eventId: string, holder: string, now = T0, ttlSeconds = EVENT_RECORD_TTL_SECONDS) =>
  recordEventOnce(db.client, db.table, { eventId, holder, ttlSeconds, now });

describe('Function: recordEventOnce', () => {
  it('says first the first time an event id is seen', async () => {
    await expect(record('evt-1', FIRST)).resolves.toEqual({ first: true });
  });

  it('recognises a second delivery of the same event, naming the execution that handled it', async () => {
    // Prepare
    await record('evt-2', FIRST);
    // Act
    const again = await record('evt-2', SECOND, T0 + 60_000);
    // Assess
    expect(again).toEqual({ first: false, holder: FIRST, at: T0 / 1000 });
  });

  it('says first again to the same execution (a retried or redriven plan)', async () => {
    await record('evt-3', FIRST);
    await expect(record('evt-3', FIRST, T0 + 60_000)).resolves.toEqual({ first: true });
  });

  it('lets exactly one of two executions racing with the same event handle it', async () => {
    // Act
    const [a, b] = await Promise.all([record('evt-4', FIRST), record('evt-4', SECOND)]);
    // Assess
    expect([a.first, b.first].sort()).toEqual([false, true]);
  });

  it('forgets an event once its record has expired', async () => {
    await record('evt-5', FIRST, T0, 60);
    await expect(record('evt-5', SECOND, T0 + 61_000)).resolves.toEqual({ first: true });
  });

  it('remembers an event for longer than EventBridge retries a delivery (24 h)', () => {
    expect(EVENT_RECORD_TTL_SECONDS).toBeGreaterThan(24 * 3600);
  });
});

describe('Plan: duplicate EventBridge deliveries', () => {
  const WS = 1234567890123456;
  /** One workspace on the old key; the watched alias on the new key (a KMS rotation event rotates it). */
  function world() {
    const account = new FakeAccount(
      [workspace({ workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-old' })],
      [keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'], { key_alias: WATCHED_ALIAS })],
    );
    const kms = new FakeKms([{ keyId: OLD_KEY }, { keyId: NEW_KEY, aliases: [WATCHED_ALIAS] }]);
    const plan = (raw: unknown, holder: string) =>
      planRotation(raw, {
        settings: settingsWith(),
        kms,
        account,
        now: T0,
        recordEvent: (eventId) =>
          recordEventOnce(db.client, db.table, { eventId, holder, ttlSeconds: 3600, now: T0 }),
      });
    return { account, kms, plan };
  }

  it('plans the first delivery as usual and the second as a noop that says so', async () => {
    // Prepare
    const w = world();
    const event = { ...fixture('kms-cmk-rotation'), id: 'dup-rotation-1' };
    // Act
    const first = await w.plan(event, FIRST);
    const second = await w.plan(event, SECOND);
    // Assess
    expect(first.mode).toBe('verify');
    expect(second).toMatchObject({
      mode: 'noop',
      workspaces: [],
      trigger: { kind: 'keyRotated', eventId: 'dup-rotation-1' },
      reason: `duplicate delivery of event dup-rotation-1, already handled by execution ${FIRST}`,
    });
  });

  it('plans the same event again for the execution that handled it (a retried plan step)', async () => {
    const w = world();
    const event = { ...fixture('cloudtrail-disable-key'), id: 'dup-disable-1' };
    const first = await w.plan(event, FIRST);
    await expect(w.plan(event, FIRST)).resolves.toEqual(first);
  });

  it('never records a manual start', async () => {
    // Prepare
    const w = world();
    let recorded = 0;
    // Act
    await planRotation(
      { workspaceIds: [WS], keyArn: `arn:aws:kms:us-east-1:111122223333:key/${NEW_KEY}`, dryRun: true },
      {
        settings: settingsWith(),
        kms: w.kms,
        account: w.account,
        now: T0,
        recordEvent: async () => {
          recorded++;
          return { first: true };
        },
      },
    );
    // Assess
    expect(recorded).toBe(0);
  });
});
