import { describe, expect, it } from 'vitest';
import type { OpenPointer } from '../../lib/compute/snapshot-store.ts';
import { planRotation, storageWaitLeft } from '../../lib/plan/plan.ts';
import { PlanSchema } from '../../lib/rotation.ts';
import {
  arnOf,
  FakeAccount,
  FakeKms,
  keyConfig,
  NEW_KEY,
  OLD_KEY,
  settingsWith,
  workspace,
} from './fakes.ts';

/**
 * DESIGN §6.5: nothing starts until the storage wait is over, whoever starts it. An execution that ended in
 * the middle of that wait left its compute stopped; the next one finds the workspace already on the key and
 * plans only the restore — no earlier than the end of that wait.
 */

const WS = 1234567890123456;
const NOW = Date.parse('2026-11-25T16:45:00Z');
const MINUTE = 60_000;
const SNAPSHOT = `exec-1/${WS}/compute-snapshot.json`;

describe('storageWaitLeft: how long a new execution waits before restoring what an earlier one left stopped', () => {
  it('waits until the end the earlier execution recorded, rounded up to the second', () => {
    expect(storageWaitLeft({ storageWaitUntil: NOW + 12 * MINUTE + 1 }, true, 20, NOW)).toBe(12 * 60 + 1);
  });

  it('never waits longer than the longest storage wait a deployment allows, whatever the pointer says', () => {
    expect(storageWaitLeft({ storageWaitUntil: NOW + 365 * 24 * 60 * MINUTE }, true, 20, NOW)).toBe(
      24 * 60 * 60,
    );
  });

  it('does not wait once that end has passed, whatever else the pointer says', () => {
    expect(storageWaitLeft({ storageAdded: true, storageWaitUntil: NOW - 1 }, true, 20, NOW)).toBe(0);
    expect(storageWaitLeft({ storageWaitUntil: NOW }, true, 20, NOW)).toBe(0);
  });

  it('waits the whole storage wait when the earlier execution was adding a storage key but recorded no end', () => {
    expect(storageWaitLeft({ storageAdded: true }, false, 20, NOW)).toBe(20 * 60);
  });

  it('does not wait when the earlier execution was not adding a storage key', () => {
    expect(storageWaitLeft({ storageAdded: false }, true, 20, NOW)).toBe(0);
  });

  it('for a pointer that does not say, waits the whole wait only when the workspace has a storage key', () => {
    expect(storageWaitLeft({}, true, 20, NOW)).toBe(20 * 60);
    expect(storageWaitLeft({}, false, 20, NOW)).toBe(0);
  });
});

describe('Plan: the restore of compute left stopped during a storage wait', () => {
  /** WS already on the new key for both use cases; the open pointer the earlier execution left. */
  async function planWith(pointer: OpenPointer | undefined, env: Record<string, string> = {}) {
    const account = new FakeAccount(
      [
        workspace({
          workspace_id: WS,
          workspace_name: 'prod',
          managed_services_customer_managed_key_id: 'cfg-new',
          storage_customer_managed_key_id: 'cfg-new',
        }),
      ],
      [
        keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES']),
        keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES', 'STORAGE']),
      ],
    );
    return planRotation(
      { workspaceIds: [WS], keyArn: arnOf(NEW_KEY), useCases: ['MANAGED_SERVICES', 'STORAGE'] },
      {
        settings: settingsWith(env),
        kms: new FakeKms([{ keyId: OLD_KEY }, { keyId: NEW_KEY }]),
        account,
        now: NOW,
        openSnapshot: async (id) => (id === WS ? pointer : undefined),
      },
    );
  }

  it('plans the restore after what is left of the storage wait, and says so in its steps', async () => {
    // Act
    const plan = await planWith({
      snapshotKey: SNAPSHOT,
      storageAdded: true,
      storageWaitUntil: NOW + 7 * MINUTE,
    });
    // Assess
    expect(plan.workspaces).toHaveLength(1);
    expect(plan.workspaces[0]).toMatchObject({
      workspaceId: WS,
      restoreOnly: true,
      leftStoppedSnapshot: SNAPSHOT,
      restoreAfterSeconds: 7 * 60,
    });
    expect(plan.workspaces[0]?.steps).toEqual([
      `already uses ${arnOf(NEW_KEY)}: nothing to change, but an earlier execution left its compute stopped; restore what its snapshot ${SNAPSHOT} lists once the storage wait that execution began is over (in 7 min)`,
    ]);
    expect(PlanSchema.parse(plan)).toEqual(plan);
  });

  it('waits the whole STORAGE_WAIT_MINUTES when the earlier execution ended before it saw the key take effect', async () => {
    // Act
    const plan = await planWith(
      { snapshotKey: SNAPSHOT, storageAdded: true },
      { STORAGE_WAIT_MINUTES: '25' },
    );
    // Assess
    expect(plan.workspaces[0]?.restoreAfterSeconds).toBe(25 * 60);
  });

  it('restores at once once the wait is over', async () => {
    // Act
    const plan = await planWith({
      snapshotKey: SNAPSHOT,
      storageAdded: true,
      storageWaitUntil: NOW - MINUTE,
    });
    // Assess
    expect(plan.workspaces[0]).toMatchObject({ restoreOnly: true });
    expect(plan.workspaces[0]).not.toHaveProperty('restoreAfterSeconds');
  });
});
