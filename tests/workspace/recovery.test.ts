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
