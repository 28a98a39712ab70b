import { describe, expect, it } from 'vitest';
import { NoWorkspacesInScope } from '../../lib/plan/errors.ts';
import { describeWorkspace, loadScope, useCasesOfKey, viewOf } from '../../lib/plan/scope.ts';
import { WorkspaceNotFound } from '../../lib/workspace/errors.ts';
import { arnOf, FakeAccount, keyConfig, NEW_KEY, OLD_KEY, workspace } from './fakes.ts';

/** Behaviour of the plan's scope (which workspaces, which keys they use), found by mutation testing. */

const WS = 1234567890123456;
const WS2 = 2345678901234567;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('Scope: loadScope', () => {
  it('names every unknown workspace id with its field and position, so the operator can fix the input', async () => {
    const account = new FakeAccount([workspace({ workspace_id: WS })], []);

    const error = await rejection(loadScope(account, { ids: [WS, 42, 43], field: 'workspaceIds' }));

    expect(error).toBeInstanceOf(WorkspaceNotFound);
    const { message, details } = error as WorkspaceNotFound;
    expect(message).toContain(`Databricks account ${account.accountId}`);
    expect(message).toContain('workspaceIds[1] = 42, workspaceIds[2] = 43');
    expect(details).toEqual({
      field: 'workspaceIds',
      missing: ['workspaceIds[1] = 42', 'workspaceIds[2] = 43'],
    });
  });

  it('reports an unknown id from the settings against WORKSPACE_IDS', async () => {
    const account = new FakeAccount([workspace({ workspace_id: WS })], []);

    const error = await rejection(loadScope(account, { ids: [7], field: 'WORKSPACE_IDS' }));

    expect((error as WorkspaceNotFound).details).toMatchObject({ field: 'WORKSPACE_IDS' });
  });

  it('fails with NoWorkspacesInScope when the account has no workspace and none are named', async () => {
    const account = new FakeAccount([], []);

    const error = await rejection(loadScope(account, { ids: undefined, field: 'WORKSPACE_IDS' }));

    expect(error).toBeInstanceOf(NoWorkspacesInScope);
    expect((error as NoWorkspacesInScope).message).toBe(
      `Databricks account ${account.accountId} has no workspaces; nothing to rotate`,
    );
    expect((error as NoWorkspacesInScope).details).toEqual({ field: 'WORKSPACE_IDS' });
  });

  it('fails with NoWorkspacesInScope when an empty list of workspaces is named', async () => {
    const account = new FakeAccount([workspace({ workspace_id: WS })], []);

    await expect(loadScope(account, { ids: [], field: 'workspaceIds' })).rejects.toBeInstanceOf(
      NoWorkspacesInScope,
    );
  });

  it('takes each named workspace once, in the order named, and marks the scope explicit', async () => {
    const account = new FakeAccount([workspace({ workspace_id: WS }), workspace({ workspace_id: WS2 })], []);

    const scope = await loadScope(account, { ids: [WS2, WS, WS2], field: 'workspaceIds' });

    expect(scope.views.map((v) => v.workspace.workspace_id)).toEqual([WS2, WS]);
    expect(scope.explicit).toBe(true);
  });

  it('takes every workspace of the account when none are named, and says so', async () => {
    const account = new FakeAccount([workspace({ workspace_id: WS }), workspace({ workspace_id: WS2 })], []);

    const scope = await loadScope(account, { ids: undefined, field: 'WORKSPACE_IDS' });

    expect(scope.views.map((v) => v.workspace.workspace_id)).toEqual([WS, WS2]);
    expect(scope.explicit).toBe(false);
  });
});

describe('Scope: viewOf', () => {
  it('gives a workspace without a region the empty region, never a made-up one', () => {
    const { aws_region: _, ...noRegion } = workspace({ workspace_id: WS });

    expect(viewOf(noRegion, []).region).toBe('');
  });

  it('resolves a key configuration without AWS key info to no key ARN instead of failing', () => {
    const bare = { customer_managed_key_id: 'cfg-bare', use_cases: ['MANAGED_SERVICES' as const] };
    const ws = workspace({
      workspace_id: WS,
      managed_services_customer_managed_key_id: 'cfg-bare',
      storage_customer_managed_key_id: 'cfg-bare',
    });

    const view = viewOf(ws, [bare]);

    expect(view.managedServices).toEqual(bare);
    expect(view.managedServicesKeyArn).toBeNull();
    expect(view.storage).toEqual(bare);
    expect(view.storageKeyArn).toBeNull();
  });

  it('resolves the managed-services and storage configurations to their key ARNs', () => {
    const configs = [
      keyConfig('cfg-ms', OLD_KEY, ['MANAGED_SERVICES']),
      keyConfig('cfg-st', NEW_KEY, ['STORAGE']),
    ];
    const ws = workspace({
      workspace_id: WS,
      managed_services_customer_managed_key_id: 'cfg-ms',
      storage_customer_managed_key_id: 'cfg-st',
    });

    const view = viewOf(ws, configs);

    expect(view.managedServicesKeyArn).toBe(arnOf(OLD_KEY));
    expect(view.storageKeyArn).toBe(arnOf(NEW_KEY));
  });
});

describe('Scope: useCasesOfKey', () => {
  const configs = [keyConfig('cfg-both', OLD_KEY, ['MANAGED_SERVICES', 'STORAGE'])];

  it('lists STORAGE when the workspace uses the key for its root storage only', () => {
    const view = viewOf(
      workspace({ workspace_id: WS, storage_customer_managed_key_id: 'cfg-both' }),
      configs,
    );

    expect(useCasesOfKey(view, arnOf(OLD_KEY))).toEqual(['STORAGE']);
  });

  it('lists both use cases when the workspace uses one key for both', () => {
    const view = viewOf(
      workspace({
        workspace_id: WS,
        managed_services_customer_managed_key_id: 'cfg-both',
        storage_customer_managed_key_id: 'cfg-both',
      }),
      configs,
    );

    expect(useCasesOfKey(view, arnOf(OLD_KEY))).toEqual(['MANAGED_SERVICES', 'STORAGE']);
    expect(useCasesOfKey(view, arnOf(NEW_KEY))).toEqual([]);
  });
});

describe('Scope: describeWorkspace', () => {
  it('names a workspace by id and name, or by id alone when it has no name', () => {
    expect(describeWorkspace(workspace({ workspace_id: WS, workspace_name: 'prod' }))).toBe(`${WS} (prod)`);
    expect(describeWorkspace({ workspace_id: WS })).toBe(String(WS));
  });
});
