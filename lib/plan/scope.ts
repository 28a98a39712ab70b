import type { AccountApi } from '../databricks/api.ts';
import type { CustomerManagedKey, KeyUseCase, Workspace } from '../databricks/types.ts';
import { WorkspaceNotFound } from '../workspace/errors.ts';
import { NoWorkspacesInScope } from './errors.ts';

/** A workspace with the key configurations it currently uses, resolved to key ARNs. */
export interface WorkspaceView {
  workspace: Workspace;
  region: string;
  managedServices: CustomerManagedKey | undefined;
  storage: CustomerManagedKey | undefined;
  managedServicesKeyArn: string | null;
  storageKeyArn: string | null;
}

/** The workspaces a plan looks at, and every key configuration of the account. */
export interface Scope {
  views: WorkspaceView[];
  keyConfigs: CustomerManagedKey[];
  /** Workspaces were named (input or settings) rather than "every workspace of the account". */
  explicit: boolean;
}

/** Where the workspace ids came from, so an unknown one is reported against the right field. */
export interface ScopeSource {
  ids: readonly number[] | undefined;
  /** `workspaceIds` (execution input) or `WORKSPACE_IDS` (setting). */
  field: string;
}

/**
 * Reads the account once (one workspace list, one key-configuration list) and returns the workspaces in
 * scope: the named ids (each must exist → else `WorkspaceNotFound` naming the field), or every workspace.
 */
export async function loadScope(account: AccountApi, source: ScopeSource): Promise<Scope> {
  const [workspaces, keyConfigs] = await Promise.all([account.listWorkspaces(), account.listKeyConfigs()]);
  const byId = new Map(workspaces.map((w) => [w.workspace_id, w]));
  const explicit = source.ids !== undefined;
  let chosen: Workspace[];
  if (source.ids) {
    const ids = [...new Set(source.ids)];
    const missing = source.ids
      .map((id, index) => ({ id, index }))
      .filter(({ id }) => !byId.has(id))
      .map(({ id, index }) => `${source.field}[${index}] = ${id}`);
    if (missing.length > 0) {
      throw new WorkspaceNotFound(
        `workspace(s) not found in Databricks account ${account.accountId}: ${missing.join(', ')}; check the ids (Account console → Workspaces)`,
        { details: { field: source.field, missing } },
      );
    }
    chosen = ids.map((id) => byId.get(id) as Workspace);
  } else {
    chosen = workspaces;
  }
  if (chosen.length === 0) {
    throw new NoWorkspacesInScope(
      `Databricks account ${account.accountId} has no workspaces; nothing to rotate`,
      { details: { field: source.field } },
    );
  }
  return { views: chosen.map((w) => viewOf(w, keyConfigs)), keyConfigs, explicit };
}

/** Resolves a workspace's key configuration ids to the configurations and their key ARNs. */
export function viewOf(workspace: Workspace, keyConfigs: readonly CustomerManagedKey[]): WorkspaceView {
  const find = (id: string | null | undefined) =>
    id ? keyConfigs.find((c) => c.customer_managed_key_id === id) : undefined;
  const managedServices = find(workspace.managed_services_customer_managed_key_id);
  const storage = find(workspace.storage_customer_managed_key_id);
  return {
    workspace,
    region: workspace.aws_region ?? '',
    managedServices,
    storage,
    managedServicesKeyArn: managedServices?.aws_key_info?.key_arn ?? null,
    storageKeyArn: storage?.aws_key_info?.key_arn ?? null,
  };
}

/** The use cases for which the workspace uses the key `keyArn` (empty = it does not use it). */
export function useCasesOfKey(view: WorkspaceView, keyArn: string): KeyUseCase[] {
  const out: KeyUseCase[] = [];
  if (view.managedServicesKeyArn === keyArn) out.push('MANAGED_SERVICES');
  if (view.storageKeyArn === keyArn) out.push('STORAGE');
  return out;
}

/** `12345 (prod)` — how messages name a workspace. */
export function describeWorkspace(workspace: Workspace): string {
  return workspace.workspace_name
    ? `${workspace.workspace_id} (${workspace.workspace_name})`
    : String(workspace.workspace_id);
}
