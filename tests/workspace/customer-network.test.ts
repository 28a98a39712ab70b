import { describe, expect, it } from 'vitest';
import {
  DatabricksApiError,
  DatabricksThrottled,
  DatabricksUnavailable,
} from '../../lib/databricks/errors.ts';
import type { Workspace, WorkspaceKeyChange } from '../../lib/databricks/types.ts';
import { withDeadline } from '../../lib/deadline.ts';
import { checkWorkspace, judgeWorkspace } from '../../lib/workspace/check.ts';
import type { CheckItem } from '../../lib/workspace/schemas.ts';
import { checkWorkspaceSettled, type SettleItem } from '../../lib/workspace/settle.ts';
import { NO_UPDATE_STARTED, updateWorkspaceKey } from '../../lib/workspace/update.ts';
import { FakeAccount, FakeKms, NEW_KEY, settingsWith, workspace } from '../plan/fakes.ts';
import { checkItem, policyGranting, updateItem, WS } from './items.ts';

/**
 * A customer-managed VPC (a workspace with `network_id`) stays RUNNING while its key changes; only the key-id
 * fields change at the end (reference: the running-workspace update). Nothing may restart while it updates,
 * and "reverted" is said only when Databricks showed the update and its end (issue 14 §3, §4, §8).
 */

const NOW = 5_000_000;
const MS = 'managed_services_customer_managed_key_id';
const NETWORK = { network_id: 'net-7e1f2a3b' };
const IN_PROGRESS = `Workspace ${WS} has an update in progress; wait until it is RUNNING with the new settings`;

function apiError(status: number, errorCode: string, apiMessage = '', method = 'PATCH'): DatabricksApiError {
  return new DatabricksApiError({
    method,
    endpoint: '/workspaces/1',
    target: 'account API',
    status,
    errorCode,
    apiMessage,
    attempts: 1,
  });
}

/**
 * An account whose PATCHes fail as told, in order. `applied`: the change took effect before the answer was
 * lost — applied at once when `applyAt` is absent, else pending (the workspace stays RUNNING on its old ids,
 * as a customer-managed VPC does) so that a second PATCH meanwhile is refused as "update in progress".
 */
class CustomerNetworkAccount extends FakeAccount {
  updating = false;
  constructor(
    ws: Partial<Workspace>,
    private readonly failures: Array<{ error: DatabricksApiError; applied?: 'now' | 'pending' }>,
  ) {
    super([workspace({ workspace_id: WS, [MS]: 'cfg-old', ...ws })], []);
  }
  override async updateWorkspaceKeys(id: number, change: WorkspaceKeyChange) {
    if (this.updating) {
      this.calls.push({ method: 'updateWorkspaceKeys', args: [id, change] });
      throw apiError(400, 'INVALID_STATE', IN_PROGRESS);
    }
    const failure = this.failures.shift();
    if (!failure) return super.updateWorkspaceKeys(id, change);
    this.calls.push({ method: 'updateWorkspaceKeys', args: [id, change] });
    if (failure.applied === 'now') Object.assign(this.workspaces[0] as Workspace, change);
    if (failure.applied === 'pending') this.updating = true;
    throw failure.error;
  }
}

function deps(account: FakeAccount) {
  const kms = new FakeKms([{ keyId: NEW_KEY, policy: policyGranting(['MANAGED_SERVICES', 'STORAGE']) }]);
  return { account, kms, settings: settingsWith(), now: NOW };
}
function throttled(): DatabricksThrottled {
  return new DatabricksThrottled(
    {
      method: 'GET',
      endpoint: '/workspaces/1',
      target: 'account API',
      status: 429,
      errorCode: 'REQUEST_LIMIT_EXCEEDED',
      apiMessage: '',
      attempts: 2,
    },
    { retryable: true },
  );
}

const patches = (a: FakeAccount) => a.calls.filter((c) => c.method === 'updateWorkspaceKeys').length;

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('update-workspace: "an update is in progress" means the update is under way', () => {
  it('waits for the update when a Lambda retry finds its own PATCH in progress, sending no raw error', async () => {
    // Prepare: the first invocation's PATCH took effect; the customer-managed VPC still shows the old id.
    const account = new CustomerNetworkAccount(NETWORK, []);
    account.updating = true;
    // Act
    const result = await updateWorkspaceKey(updateItem(), deps(account));
    // Assess
    expect(result).toMatchObject({ patched: false, sentFields: [], inProgress: true, patchedAt: NOW });
    expect(result.refused).toBeUndefined();
    expect(patches(account)).toBe(1);
  });

  it('after a lost answer, asks once more and takes "update in progress" as the first PATCH at work', async () => {
    const account = new CustomerNetworkAccount(NETWORK, [
      { error: apiError(0, 'NETWORK_ERROR'), applied: 'pending' },
    ]);
    const result = await updateWorkspaceKey(updateItem(), deps(account));
    expect(result).toMatchObject({ patched: true, reconciled: 'in-progress', inProgress: true });
    expect(result.refused).toBeUndefined();
    expect(patches(account)).toBe(2);
  });

  it('after a 5xx on a customer-managed VPC that shows no change, asks once more instead of giving up', async () => {
    const account = new CustomerNetworkAccount(NETWORK, [
      { error: apiError(500, 'INTERNAL_ERROR'), applied: 'pending' },
    ]);
    const result = await updateWorkspaceKey(updateItem(), deps(account));
    expect(result).toMatchObject({ reconciled: 'in-progress', inProgress: true });
    expect(patches(account)).toBe(2);
  });

  it('after a 5xx Databricks did not take on a customer-managed VPC, the one resend goes through', async () => {
    const account = new CustomerNetworkAccount(NETWORK, [{ error: apiError(502, 'BAD_GATEWAY') }]);
    const result = await updateWorkspaceKey(updateItem(), deps(account));
    expect(result).toMatchObject({ patched: true, reconciled: 'resent' });
    expect(account.workspaces[0]?.[MS]).toBe('cfg-new');
  });

  it('still counts "compute runs" as a refusal, but never "update in progress"', async () => {
    const compute = new CustomerNetworkAccount(NETWORK, [
      { error: apiError(400, 'INVALID_STATE', 'cannot be updated while compute runs in its VPC') },
    ]);
    expect((await updateWorkspaceKey(updateItem(), deps(compute))).refused?.attempts).toBe(1);
    const busy = new CustomerNetworkAccount(NETWORK, []);
    busy.updating = true;
    const item = { ...updateItem(), update: { refused: { attempts: 3, message: 'x' } } } as never;
    expect(await updateWorkspaceKey(item, deps(busy))).toMatchObject({ inProgress: true });
  });

  it('marks a workspace already PROVISIONING as an update under way that this step did not send', async () => {
    const account = new CustomerNetworkAccount({ workspace_status: 'PROVISIONING' }, []);
    expect(await updateWorkspaceKey(updateItem(), deps(account))).toMatchObject({
      patched: false,
      inProgress: true,
    });
    expect(patches(account)).toBe(0);
  });
});

describe('update-workspace: throttled or out of time before the PATCH', () => {
  it('lets a throttled read before the PATCH through as DatabricksThrottled, saying nothing was started', async () => {
    const account = new CustomerNetworkAccount(NETWORK, []);
    account.getWorkspace = async () => Promise.reject(throttled());
    const error = await rejection(updateWorkspaceKey(updateItem(), deps(account)));
    expect(error).toBeInstanceOf(DatabricksThrottled);
    expect(error.message).toContain(NO_UPDATE_STARTED);
    expect(patches(account)).toBe(0);
  });

  it('turns an outage before the PATCH into TransientError (the step is retried), nothing sent', async () => {
    const account = new CustomerNetworkAccount(NETWORK, []);
    account.getWorkspace = async () => {
      throw new DatabricksUnavailable(
        {
          method: 'GET',
          endpoint: '/workspaces/1',
          target: 'account API',
          status: 0,
          errorCode: 'TIME_BUDGET_EXHAUSTED',
          apiMessage: '',
          attempts: 3,
        },
        { retryable: true },
      );
    };
    const error = await rejection(updateWorkspaceKey(updateItem(), deps(account)));
    expect(error.name).toBe('TransientError');
    expect(error.message).toContain(NO_UPDATE_STARTED);
    expect(patches(account)).toBe(0);
  });

  it('does not start a PATCH whose answer the invocation has no time left to read', async () => {
    const account = new CustomerNetworkAccount(NETWORK, []);
    const error = await rejection(
      withDeadline(Date.now() + 3_000, () => updateWorkspaceKey(updateItem(), deps(account))),
    );
    expect(error.name).toBe('TransientError');
    expect(error.message).toMatch(/too little to send the key update/);
    expect(error.message).toContain(NO_UPDATE_STARTED);
    expect(patches(account)).toBe(0);
  });

  it('says no update was started when Databricks refuses the PATCH with a 4xx', async () => {
    const account = new CustomerNetworkAccount(NETWORK, [
      { error: apiError(400, 'INVALID_PARAMETER_VALUE') },
    ]);
    const error = await rejection(updateWorkspaceKey(updateItem(), deps(account)));
    expect(error).toBeInstanceOf(DatabricksApiError);
    expect(error.message).toContain(NO_UPDATE_STARTED);
  });
});

describe('check-workspace: decided only from what Databricks shows', () => {
  const ws = (overrides: Partial<Workspace>) =>
    workspace({ workspace_id: WS, [MS]: 'cfg-old', ...NETWORK, ...overrides });
  const judge = (w: Workspace, item: CheckItem, now = 2_000_000) => {
    try {
      return judgeWorkspace(w, item, now);
    } catch (error) {
      return error as Error;
    }
  };
  const pastDeadline = 1_000_000 + 61 * 60_000;

  it('does not call a customer-managed VPC still RUNNING on the old id at the deadline "reverted"', () => {
    const error = judge(ws({}), checkItem(), pastDeadline) as Error;
    expect(error.name).toBe('WorkspaceUpdateTimedOut');
    expect(error.message).toMatch(/customer-managed VPC \(network net-7e1f2a3b\)/);
    expect(error.message).toMatch(/Compute stays stopped/);
    expect(error.message).not.toMatch(/reverted|old key/i);
  });

  it('calls it reverted when a field showed the new id and shows the old one again', () => {
    const item = checkItem({}, { status: 'WAITING', sawProvisioning: false, sawNewIn: [MS] });
    const error = judge(ws({}), item) as Error;
    expect(error.name).toBe('WorkspaceUpdateReverted');
    expect(error.message).toMatch(/showed cfg-new and no longer does/);
  });

  it('remembers a field that shows the new id while the update goes on', () => {
    expect(judge(ws({ workspace_status: 'PROVISIONING', [MS]: 'cfg-new' }), checkItem())).toEqual({
      status: 'WAITING',
      workspaceStatus: 'PROVISIONING',
      sawProvisioning: true,
      sawNewIn: [MS],
    });
  });

  it('does not call an update it did not send "silently reverted" (someone else\'s change ended)', () => {
    const item = checkItem(
      { patched: false, sentFields: [], inProgress: true },
      { status: 'WAITING', workspaceStatus: 'PROVISIONING', sawProvisioning: true },
    );
    const error = judge(workspace({ workspace_id: WS, [MS]: 'cfg-old' }), item) as Error;
    expect(error.name).toBe('WorkspaceKeyUnchanged');
    expect(error.message).not.toMatch(/silently reverted/);
    expect(error.message).toMatch(/sent no PATCH of its own/);
  });

  it('still detects a revert of an update it sent itself after PROVISIONING', () => {
    const item = checkItem({}, { status: 'WAITING', workspaceStatus: 'PROVISIONING', sawProvisioning: true });
    expect((judge(workspace({ workspace_id: WS, [MS]: 'cfg-old' }), item) as Error).name).toBe(
      'WorkspaceUpdateReverted',
    );
  });

  it('waits (throttled) when the read is throttled, keeping what it saw', async () => {
    const account = new FakeAccount([], []);
    account.getWorkspace = async () => Promise.reject(throttled());
    const item = checkItem({}, { status: 'WAITING', workspaceStatus: 'PROVISIONING', sawProvisioning: true });
    expect(await checkWorkspace(account, item, 2_000_000)).toEqual({
      status: 'WAITING',
      workspaceStatus: 'PROVISIONING',
      sawProvisioning: true,
      throttled: true,
    });
    await expect(checkWorkspace(account, item, pastDeadline)).rejects.toMatchObject({
      name: 'WorkspaceUpdateTimedOut',
    });
  });

  it('lets a read that failed for another reason through', async () => {
    const account = new FakeAccount([], []);
    account.getWorkspace = async () => Promise.reject(apiError(403, 'PERMISSION_DENIED', '', 'GET'));
    await expect(checkWorkspace(account, checkItem(), 2_000_000)).rejects.toBeInstanceOf(DatabricksApiError);
  });
});

describe('check-workspace-settled: a customer-managed VPC that may still be updating', () => {
  function settle(
    ws: Partial<Workspace>,
    item: Partial<SettleItem> = {},
    options: { now?: number; account?: FakeAccount } = {},
  ) {
    const account = options.account ?? new FakeAccount([workspace({ workspace_id: WS, ...ws })], []);
    let guarded = 0;
    let described = 0;
    return {
      result: checkWorkspaceSettled({ ...updateItem(), ...item } as SettleItem, {
        account,
        now: options.now ?? NOW,
        waitMinutes: 180,
        describeStopped: async () => {
          described++;
          return 'still stopped: clusters: c1; snapshot s3://b/k';
        },
        keepStopped: async () => {
          guarded++;
        },
      }),
      guarded: () => guarded,
      described: () => described,
    };
  }
  const lost = { failure: { Error: 'DatabricksUnavailable', Cause: 'PATCH … 500' } };
  const running = { workspace_status: 'RUNNING' as const, [MS]: 'cfg-old', ...NETWORK };

  it('keeps waiting, compute kept stopped, while it is RUNNING on the old id after the PATCH may have landed', async () => {
    const s = settle(running, lost);
    expect(await s.result).toMatchObject({
      status: 'UPDATING',
      workspaceStatus: 'RUNNING',
      keyChanged: false,
    });
    expect(s.guarded()).toBe(1);
  });

  it('fails at the recovery deadline restarting nothing, naming what is stopped and why', async () => {
    const s = settle(running, { ...lost, settled: { deadline: NOW - 1 } });
    const error = await rejection(s.result);
    expect(error.name).toBe('WorkspaceStillUpdating');
    expect(error.message).toMatch(/NOT restarted/);
    expect(error.message).toMatch(/does not show an update in progress for a customer-managed VPC/);
    expect(error.message).toMatch(/could not be confirmed over/);
    expect(error.message).toContain('still stopped: clusters: c1; snapshot s3://b/k');
    expect(s.guarded()).toBe(1);
  });

  it('settles at once when the key changed meanwhile', async () => {
    const s = settle({ ...running, [MS]: 'cfg-new' }, lost);
    expect(await s.result).toMatchObject({ status: 'SETTLED', keyChanged: true });
  });

  it.each([
    ['a named refusal before the PATCH', { Error: 'KeyPolicyDeniesDatabricks', Cause: 'deny' }],
    [
      'an error that says no update was started',
      {
        Error: 'TransientError',
        Cause: JSON.stringify({ errorType: 'TransientError', errorMessage: `x. ${NO_UPDATE_STARTED}: y.` }),
      },
    ],
  ])('settles at once (compute restored) after %s', async (_, failure) => {
    const s = settle(running, { failure });
    expect(await s.result).toMatchObject({ status: 'SETTLED', keyChanged: false });
    expect(s.guarded()).toBe(0);
  });

  it('waits when the checks polled after the PATCH and never saw PROVISIONING, even without network_id', async () => {
    const check = { status: 'WAITING', workspaceStatus: 'RUNNING', sawProvisioning: false };
    const s = settle({ workspace_status: 'RUNNING', [MS]: 'cfg-old' }, {
      failure: { Error: 'WorkspaceUpdateTimedOut' },
      workspaceCheck: check,
    } as never);
    expect(await s.result).toMatchObject({ status: 'UPDATING' });
  });

  it('settles when Databricks showed the update and its end (PROVISIONING seen, or the new id went back)', async () => {
    const provisioning = settle(running, {
      failure: { Error: 'WorkspaceUpdateReverted' },
      workspaceCheck: { status: 'WAITING', sawProvisioning: true },
    } as never);
    expect(await provisioning.result).toMatchObject({ status: 'SETTLED', keyChanged: false });
    const wentBack = settle(running, {
      failure: { Error: 'WorkspaceUpdateReverted' },
      workspaceCheck: { status: 'WAITING', sawProvisioning: false, sawNewIn: [MS] },
    } as never);
    expect(await wentBack.result).toMatchObject({ status: 'SETTLED' });
  });

  it('remembers PROVISIONING seen in recovery, and then settles on RUNNING', async () => {
    const check = { status: 'WAITING', workspaceStatus: 'RUNNING', sawProvisioning: false };
    const first = settle({ workspace_status: 'PROVISIONING' }, { workspaceCheck: check } as never);
    const seen = await first.result;
    expect(seen).toMatchObject({ status: 'UPDATING', sawProvisioning: true });
    const then = settle({ workspace_status: 'RUNNING', [MS]: 'cfg-old' }, {
      workspaceCheck: check,
      settled: seen,
    } as never);
    expect(await then.result).toMatchObject({ status: 'SETTLED' });
  });

  it("keeps today's decision for a Databricks-managed VPC: RUNNING means not updating", async () => {
    const s = settle({ workspace_status: 'RUNNING', [MS]: 'cfg-old' }, lost);
    expect(await s.result).toMatchObject({ status: 'SETTLED', keyChanged: false });
  });

  it('says a throttled read was throttled and waits', async () => {
    const account = new FakeAccount([], []);
    account.getWorkspace = async () => Promise.reject(throttled());
    const s = settle({}, {}, { account });
    expect(await s.result).toMatchObject({ status: 'UPDATING', workspaceStatus: 'UNKNOWN', throttled: true });
  });
});
