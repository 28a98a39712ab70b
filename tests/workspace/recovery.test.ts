import { describe, expect, it } from 'vitest';
import { DatabricksApiError } from '../../lib/databricks/errors.ts';
import type { Workspace, WorkspaceKeyChange } from '../../lib/databricks/types.ts';
import {
  checkWorkspaceSettled,
  type SettleItem,
  WorkspaceStillUpdating,
} from '../../lib/workspace/settle.ts';
import { updateWorkspaceKey } from '../../lib/workspace/update.ts';
import { FakeAccount, FakeKms, NEW_KEY, settingsWith, workspace } from '../plan/fakes.ts';
import { policyGranting, rotationItem, updateItem, WS } from './items.ts';

/** The recovery decisions of the workspace steps (DESIGN §4, §6.5): reconcile, retry, wait, decide. */

const NOW = 5_000_000;
const MS = 'managed_services_customer_managed_key_id';

function apiError(status: number, errorCode: string, apiMessage = ''): DatabricksApiError {
  return new DatabricksApiError({
    method: 'PATCH',
    endpoint: '/workspaces/1',
    target: 'account API',
    status,
    errorCode,
    apiMessage,
    attempts: 1,
  });
}

/** An account whose PATCH fails as told: `before` (not applied) or `after` (applied, answer lost). */
class FlakyAccount extends FakeAccount {
  constructor(
    ws: Partial<Workspace>,
    private readonly failures: Array<{ error: DatabricksApiError; applied: boolean; status?: string }>,
  ) {
    super([workspace({ workspace_id: WS, [MS]: 'cfg-old', ...ws })], []);
  }
  override async updateWorkspaceKeys(id: number, change: WorkspaceKeyChange) {
    const failure = this.failures.shift();
    if (!failure) return super.updateWorkspaceKeys(id, change);
    this.calls.push({ method: 'updateWorkspaceKeys', args: [id, change] });
    if (failure.applied) {
      const w = this.workspaces[0] as Workspace;
      Object.assign(w, change);
      if (failure.status) w.workspace_status = failure.status as Workspace['workspace_status'];
    }
    throw failure.error;
  }
}

function deps(account: FakeAccount) {
  const kms = new FakeKms([{ keyId: NEW_KEY, policy: policyGranting(['MANAGED_SERVICES', 'STORAGE']) }]);
  return { account, kms, settings: settingsWith(), now: NOW };
}
const patches = (a: FakeAccount) => a.calls.filter((c) => c.method === 'updateWorkspaceKeys').length;

describe('update-workspace: a PATCH whose answer was lost is reconciled, not repeated', () => {
  it('goes on waiting when the lost PATCH took effect and the workspace is PROVISIONING', async () => {
    const account = new FlakyAccount({}, [
      { error: apiError(0, 'TIMEOUT'), applied: true, status: 'PROVISIONING' },
    ]);
    const result = await updateWorkspaceKey(updateItem(), deps(account));
    expect(result).toMatchObject({ patched: true, reconciled: 'provisioning', sentFields: [MS] });
    expect(patches(account)).toBe(1);
  });

  it('goes on waiting when the field already shows the new configuration (customer-managed VPC)', async () => {
    const account = new FlakyAccount({}, [{ error: apiError(0, 'NETWORK_ERROR'), applied: true }]);
    const result = await updateWorkspaceKey(updateItem(), deps(account));
    expect(result).toMatchObject({ patched: true, reconciled: 'applied' });
    expect(patches(account)).toBe(1);
  });

  it('sends it once more when the answer was lost and the workspace is unchanged and RUNNING', async () => {
    const account = new FlakyAccount({}, [{ error: apiError(0, 'NETWORK_ERROR'), applied: false }]);
    const result = await updateWorkspaceKey(updateItem(), deps(account));
    expect(result).toMatchObject({ patched: true, reconciled: 'resent' });
    expect(patches(account)).toBe(2);
    expect(account.workspaces[0]?.[MS]).toBe('cfg-new');
  });

  it('sends it at most once more: a second lost answer fails the step', async () => {
    const account = new FlakyAccount({}, [
      { error: apiError(0, 'NETWORK_ERROR'), applied: false },
      { error: apiError(0, 'NETWORK_ERROR'), applied: false },
    ]);
    await expect(updateWorkspaceKey(updateItem(), deps(account))).rejects.toThrow(DatabricksApiError);
    expect(patches(account)).toBe(2);
  });

  it('does not repeat a PATCH that answered 5xx and did not take effect', async () => {
    const account = new FlakyAccount({}, [{ error: apiError(500, 'INTERNAL_ERROR'), applied: false }]);
    await expect(updateWorkspaceKey(updateItem(), deps(account))).rejects.toThrow(/500/);
    expect(patches(account)).toBe(1);
  });

  it('treats a 5xx whose change took effect as under way', async () => {
    const account = new FlakyAccount({}, [
      { error: apiError(502, 'BAD_GATEWAY'), applied: true, status: 'PROVISIONING' },
    ]);
    const result = await updateWorkspaceKey(updateItem(), deps(account));
    expect(result).toMatchObject({ patched: true, reconciled: 'provisioning' });
  });

  it('never reconciles a refusal (4xx): the error stands', async () => {
    const account = new FlakyAccount({}, [
      { error: apiError(400, 'INVALID_PARAMETER_VALUE'), applied: false },
    ]);
    await expect(updateWorkspaceKey(updateItem(), deps(account))).rejects.toThrow(DatabricksApiError);
    expect(account.calls.filter((c) => c.method === 'getWorkspace')).toHaveLength(1);
  });

  it('skips the PATCH when a retried step finds the workspace already PROVISIONING', async () => {
    const account = new FlakyAccount({ workspace_status: 'PROVISIONING' }, []);
    const result = await updateWorkspaceKey(updateItem(), deps(account));
    expect(result).toMatchObject({ patched: false, sentFields: [] });
    expect(patches(account)).toBe(0);
  });
});

describe('update-workspace: Databricks refuses the change while compute runs', () => {
  const refusal = () => ({
    error: apiError(400, 'INVALID_STATE', 'cannot be updated while compute runs'),
    applied: false,
  });

  it('returns a refusal (compute is stopped again, then the update retried), counting attempts', async () => {
    const account = new FlakyAccount({}, [refusal()]);
    const first = await updateWorkspaceKey(updateItem(), deps(account));
    expect(first).toMatchObject({ patched: false, sentFields: [], refused: { attempts: 1 } });
    expect(first.refused?.message).toContain('compute runs');
    const again = await updateWorkspaceKey({ ...updateItem(), update: first } as never, deps(account));
    expect(again).toMatchObject({ patched: true, sentFields: [MS] });
    expect(again.refused).toBeUndefined();
  });

  it('fails on the fourth refusal', async () => {
    const account = new FlakyAccount({}, [refusal(), refusal(), refusal(), refusal()]);
    let item = updateItem() as never;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const result = await updateWorkspaceKey(item, deps(account));
      expect(result.refused?.attempts).toBe(attempt);
      item = { ...updateItem(), update: result } as never;
    }
    await expect(updateWorkspaceKey(item, deps(account))).rejects.toThrow(/INVALID_STATE/);
  });
});

describe('check-workspace-settled: nothing restarts while the workspace updates', () => {
  function settle(
    ws: Partial<Workspace> | Error,
    item: Partial<SettleItem> = {},
    options: { now?: number; waitMinutes?: number } = {},
  ) {
    const account = new FakeAccount(ws instanceof Error ? [] : [workspace({ workspace_id: WS, ...ws })], []);
    if (ws instanceof Error) account.getWorkspace = async () => Promise.reject(ws);
    let guarded = 0;
    const base = { ...updateItem(), ...item } as SettleItem;
    return {
      result: checkWorkspaceSettled(base, {
        account,
        now: options.now ?? NOW,
        waitMinutes: options.waitMinutes ?? 180,
        describeStopped: async () => 'still stopped: clusters: c1; snapshot s3://b/k',
        keepStopped: async () => {
          guarded++;
        },
      }),
      guarded: () => guarded,
    };
  }

  it('keeps waiting (and keeps compute stopped) while PROVISIONING, with a deadline from the first look', async () => {
    const s = settle({ workspace_status: 'PROVISIONING' });
    expect(await s.result).toEqual({
      status: 'UPDATING',
      workspaceStatus: 'PROVISIONING',
      keyChanged: false,
      storageApplied: false,
      deadline: NOW + 180 * 60_000,
    });
    expect(s.guarded()).toBe(1);
  });

  it('keeps the deadline of the first look on later looks', async () => {
    const s = settle(
      { workspace_status: 'PROVISIONING' },
      { settled: { deadline: NOW + 1000 } },
      { now: NOW + 999 },
    );
    expect((await s.result).deadline).toBe(NOW + 1000);
  });

  it('treats a workspace it cannot read as possibly updating', async () => {
    const s = settle(new Error('account API down'));
    expect(await s.result).toMatchObject({ status: 'UPDATING', workspaceStatus: 'UNKNOWN' });
  });

  it('fails at the deadline without restarting anything, naming what stays stopped', async () => {
    const s = settle(
      { workspace_status: 'PROVISIONING' },
      { settled: { deadline: NOW - 1 }, failure: { Error: 'WorkspaceUpdateTimedOut' } },
    );
    const error = await s.result.catch((e: Error) => e);
    expect(error).toBeInstanceOf(WorkspaceStillUpdating);
    expect((error as Error).message).toMatch(/still PROVISIONING/);
    expect((error as Error).message).toMatch(/NOT restarted/);
    expect((error as Error).message).toMatch(/still stopped: clusters: c1; snapshot s3:\/\/b\/k/);
    expect((error as Error).message).toMatch(/WorkspaceUpdateTimedOut/);
  });

  it('says the workspace could not be read when that is why it gives up', async () => {
    const s = settle(new Error('account API down'), { settled: { deadline: NOW - 1 } });
    await expect(s.result).rejects.toThrow(/could not be read \(Error: account API down\)/);
  });

  it('decides "key changed" only from what Databricks shows', async () => {
    const changed = settle({ workspace_status: 'RUNNING', [MS]: 'cfg-new' });
    expect(await changed.result).toMatchObject({
      status: 'SETTLED',
      keyChanged: true,
      storageApplied: false,
    });
    const unchanged = settle({ workspace_status: 'RUNNING', [MS]: 'cfg-old' });
    expect(await unchanged.result).toMatchObject({ status: 'SETTLED', keyChanged: false });
    expect(unchanged.guarded()).toBe(0);
  });

  it('settles a FAILED workspace too (restoring is then decided by the compensation)', async () => {
    const s = settle({ workspace_status: 'FAILED', [MS]: 'cfg-old' });
    expect(await s.result).toMatchObject({ status: 'SETTLED', workspaceStatus: 'FAILED', keyChanged: false });
  });

  it('says a storage key was applied only when one was added and the field shows it', async () => {
    const both = updateItem('cfg-new', rotationItem({ managedServices: true, storage: true }));
    const added = { ...both, workspace: { ...both.workspace, storageAdded: true } };
    const applied = settle(
      { workspace_status: 'RUNNING', [MS]: 'cfg-new', storage_customer_managed_key_id: 'cfg-new' },
      added,
    );
    expect(await applied.result).toMatchObject({ keyChanged: true, storageApplied: true, settledAt: NOW });
    const notApplied = settle({ workspace_status: 'RUNNING', [MS]: 'cfg-new' }, added);
    expect(await notApplied.result).toMatchObject({ keyChanged: false, storageApplied: false });
  });

  it('without a key configuration (the failure came first) the key did not change', async () => {
    const { keyConfig: _, ...item } = updateItem();
    const s = settle({ workspace_status: 'RUNNING', [MS]: 'cfg-new' }, { keyConfig: undefined, ...item });
    expect(await s.result).toMatchObject({ keyChanged: false });
  });
});

describe('update-workspace: the edges of reconciliation', () => {
  it('goes on waiting when the workspace is PROVISIONING though the field does not show the new id yet', async () => {
    const account = new FlakyAccount({}, [
      { error: apiError(0, 'TIMEOUT'), applied: false, status: 'PROVISIONING' },
    ]);
    (account.workspaces[0] as Workspace).workspace_status = 'PROVISIONING';
    // The step's own first read must see RUNNING: make the workspace PROVISIONING only after the PATCH.
    (account.workspaces[0] as Workspace).workspace_status = 'RUNNING';
    const original = account.getWorkspace.bind(account);
    let reads = 0;
    account.getWorkspace = async (id: number) => {
      const w = await original(id);
      return ++reads > 1 ? { ...w, workspace_status: 'PROVISIONING' } : w;
    };
    const result = await updateWorkspaceKey(updateItem(), deps(account));
    expect(result).toMatchObject({ patched: true, reconciled: 'provisioning' });
    expect(patches(account)).toBe(1);
  });

  it('does not resend after a lost answer when the workspace is neither RUNNING nor updating', async () => {
    const account = new FlakyAccount({}, [{ error: apiError(0, 'NETWORK_ERROR'), applied: false }]);
    const original = account.getWorkspace.bind(account);
    let reads = 0;
    account.getWorkspace = async (id: number) => {
      const w = await original(id);
      return ++reads > 1 ? { ...w, workspace_status: 'FAILED' } : w;
    };
    await expect(updateWorkspaceKey(updateItem(), deps(account))).rejects.toThrow(DatabricksApiError);
    expect(patches(account)).toBe(1);
  });

  it('treats a plain 500 whose change took effect as under way', async () => {
    const account = new FlakyAccount({}, [{ error: apiError(500, 'INTERNAL_ERROR'), applied: true }]);
    expect(await updateWorkspaceKey(updateItem(), deps(account))).toMatchObject({ reconciled: 'applied' });
  });

  it('takes only a 400 INVALID_STATE from Databricks as a refusal because compute runs', async () => {
    const conflict = new FlakyAccount({}, [{ error: apiError(409, 'INVALID_STATE'), applied: false }]);
    await expect(updateWorkspaceKey(updateItem(), deps(conflict))).rejects.toThrow(DatabricksApiError);
    const plain = Object.assign(new Error('not from the client'), {
      status: 400,
      errorCode: 'INVALID_STATE',
    });
    const other = new FlakyAccount({}, [{ error: plain as never, applied: false }]);
    await expect(updateWorkspaceKey(updateItem(), deps(other))).rejects.toThrow('not from the client');
  });

  it('keeps a refusal message short', async () => {
    const account = new FlakyAccount({}, [
      { error: apiError(400, 'INVALID_STATE', 'x'.repeat(5000)), applied: false },
    ]);
    const result = await updateWorkspaceKey(updateItem(), deps(account));
    expect(result.refused?.message.length).toBe(300);
  });
});

describe('update-workspace: what it re-checks before the PATCH', () => {
  it('sets only the storage field for a storage-only change', async () => {
    const item = updateItem(
      'cfg-new',
      rotationItem({ managedServices: false, storage: true }, { reuseKeyForClusterVolumes: false }),
    );
    const account = new FlakyAccount({}, []);
    const result = await updateWorkspaceKey(item, deps(account));
    expect(result.fields).toEqual(['storage_customer_managed_key_id']);
  });

  it("checks the key's region against the workspace's own region first", async () => {
    const account = new FlakyAccount({ aws_region: 'eu-west-1' }, []);
    await expect(updateWorkspaceKey(updateItem(), deps(account))).rejects.toThrow(/region/i);
    expect(patches(account)).toBe(0);
  });

  it('names the workspace, the state and that nothing changed when it is not RUNNING', async () => {
    const account = new FlakyAccount({ workspace_status: 'FAILED' }, []);
    const error = (await updateWorkspaceKey(updateItem(), deps(account)).catch(
      (e: unknown) => e,
    )) as Error & {
      details: Record<string, unknown>;
    };
    expect(error.message).toBe(
      `workspace ${WS} is FAILED, not RUNNING; its key is not changed. Nothing was changed.`,
    );
    expect(error.details).toEqual({ workspaceId: WS, status: 'FAILED' });
    const unknown = new FlakyAccount({ workspace_status: undefined }, []);
    await expect(updateWorkspaceKey(updateItem(), deps(unknown))).rejects.toThrow(/is in an unknown state/);
  });

  it('names the storage configuration that appeared when a storage key was set meanwhile', async () => {
    const item = updateItem('cfg-new', rotationItem({ managedServices: true, storage: true }));
    const account = new FlakyAccount({ storage_customer_managed_key_id: 'cfg-other' }, []);
    const error = (await updateWorkspaceKey(item, deps(account)).catch((e: unknown) => e)) as Error & {
      details: Record<string, unknown>;
    };
    expect(error.name).toBe('StorageKeyAlreadySet');
    expect(error.message).toMatch(/got storage key configuration cfg-other .* cfg-new is not applied/);
    expect(error.details).toEqual({ workspaceId: WS, current: 'cfg-other', wanted: 'cfg-new' });
  });
});

describe('check-workspace-settled: the edges', () => {
  function settleAt(ws: Partial<Workspace>, item: Partial<SettleItem>, now: number) {
    const account = new FakeAccount([workspace({ workspace_id: WS, ...ws })], []);
    return checkWorkspaceSettled({ ...updateItem(), ...item } as SettleItem, {
      account,
      now,
      waitMinutes: 10,
      describeStopped: async () => 'x',
      keepStopped: async () => undefined,
    });
  }

  it('still waits at the exact deadline, and gives up just after it', async () => {
    const item = { settled: { deadline: NOW } };
    expect((await settleAt({ workspace_status: 'PROVISIONING' }, item, NOW)).status).toBe('UPDATING');
    await expect(settleAt({ workspace_status: 'PROVISIONING' }, item, NOW + 1)).rejects.toMatchObject({
      name: 'WorkspaceStillUpdating',
      details: { workspaceId: WS, workspaceStatus: 'PROVISIONING' },
    });
  });

  it('says "error" when it does not know what failed, and cuts a long read error', async () => {
    const account = new FakeAccount([], []);
    account.getWorkspace = async () => Promise.reject(new Error('y'.repeat(2000)));
    const error = (await checkWorkspaceSettled(
      { ...updateItem(), settled: { deadline: NOW - 1 } } as SettleItem,
      {
        account,
        now: NOW,
        waitMinutes: 10,
        describeStopped: async () => 'x',
        keepStopped: async () => undefined,
      },
    ).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/after the rotation failed \(error\)/);
    expect(error.message).not.toContain('y'.repeat(300));
  });

  it('does not call a key changed without a key configuration, even when the field is empty', async () => {
    const { keyConfig: _, ...item } = updateItem();
    const result = await settleAt(
      { workspace_status: 'RUNNING', [MS]: undefined },
      { ...item, keyConfig: undefined },
      NOW,
    );
    expect(result).toMatchObject({ keyChanged: false, storageApplied: false });
  });

  it('does not apply the storage wait when the storage key was not added by this rotation', async () => {
    const item = updateItem('cfg-new', rotationItem({ managedServices: true, storage: true }));
    const result = await settleAt(
      { workspace_status: 'RUNNING', [MS]: 'cfg-new', storage_customer_managed_key_id: 'cfg-new' },
      { ...item, workspace: { ...item.workspace, storageAdded: false } },
      NOW,
    );
    expect(result).toMatchObject({ keyChanged: true, storageApplied: false });
  });

  it('parses the recovery item and result as the state machine carries them', async () => {
    const { SettleItemSchema, SettleResultSchema } = await import('../../lib/workspace/settle.ts');
    const parsed = SettleItemSchema.parse({
      ...updateItem(),
      settled: { keyChanged: false, storageApplied: false },
      failure: { Error: 'WorkspaceUpdateTimedOut', Cause: 'late' },
    });
    expect(parsed.failure).toEqual({ Error: 'WorkspaceUpdateTimedOut', Cause: 'late' });
    expect(
      SettleResultSchema.safeParse({
        status: 'UPDATING',
        workspaceStatus: 'PROVISIONING',
        keyChanged: false,
        storageApplied: false,
        deadline: 1,
      }).success,
    ).toBe(true);
    expect(
      SettleResultSchema.safeParse({
        status: 'SETTLED',
        workspaceStatus: 'RUNNING',
        keyChanged: true,
        storageApplied: false,
        deadline: 1,
      }).success,
    ).toBe(true);
    expect(
      SettleResultSchema.safeParse({
        status: 'DONE',
        workspaceStatus: 'RUNNING',
        keyChanged: true,
        storageApplied: false,
        deadline: 1,
      }).success,
    ).toBe(false);
  });
});
