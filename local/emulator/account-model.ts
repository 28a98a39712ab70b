import type { KindFault, Scenario, ScenarioWorkspace } from '../scenario.ts';
import { invalidParameter, invalidState, notFound } from './errors.ts';
import type { Sim } from './sim.ts';
import { type Json, WorkspaceCompute } from './workspace-model.ts';

const KEY_FIELDS = {
  managed_services_customer_managed_key_id: 'MANAGED_SERVICES',
  storage_customer_managed_key_id: 'STORAGE',
} as const;
type KeyField = keyof typeof KEY_FIELDS;

/** Fields the workspace PATCH accepts on AWS (both the update_mask form and the older body-only form). */
const UPDATABLE = new Set([
  'credentials_id',
  'network_id',
  'managed_services_customer_managed_key_id',
  'storage_customer_managed_key_id',
  'private_access_settings_id',
  'custom_tags',
  'network_connectivity_config_id',
  'storage_configuration_id',
  'aws_region',
]);
const RESOURCE_LISTS = ['clusters', 'instancePools', 'warehouses', 'jobs', 'runs', 'pipelines'] as const;
const KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/[^/]+$/;

/** One workspace: the Account API object plus its compute, and the update in progress if any. */
export class WorkspaceModel {
  /** The Account API `Workspace` (without the emulator-only `network` and the resource lists). */
  readonly data: Json;
  readonly network: 'databricks-managed' | 'customer-managed';
  readonly compute: WorkspaceCompute;
  update: { changes: Json; gen: number } | undefined;
  private gen = 0;
  readonly initialStatus: string;

  constructor(sim: Sim, source: ScenarioWorkspace, faults: KindFault[], principal: string) {
    const data = structuredClone(source) as Json;
    for (const list of RESOURCE_LISTS) delete data[list];
    delete data.network;
    data.cloud ??= 'aws';
    data.pricing_tier ??= 'ENTERPRISE';
    data.creation_time ??= sim.epochMs(0) - 30 * 86_400_000;
    data.workspace_status_message ??= statusMessage(String(data.workspace_status));
    this.data = data;
    this.network = source.network;
    this.initialStatus = source.workspace_status;
    this.compute = new WorkspaceCompute(sim, source.workspace_id, source, faults, principal);
  }

  get id(): number {
    return Number(this.data.workspace_id);
  }
  get deployment(): string {
    return String(this.data.deployment_name);
  }
  nextGen(): number {
    this.gen++;
    return this.gen;
  }
  currentGen(): number {
    return this.gen;
  }
}

/**
 * The Databricks account: key configurations, workspaces (with their compute) and credentials, and the
 * rules of the workspace update (DESIGN §1, reference §1.2).
 */
export class AccountModel {
  readonly accountId: string;
  readonly keyConfigs = new Map<string, Json>();
  readonly workspaces = new Map<number, WorkspaceModel>();
  readonly byDeployment = new Map<string, WorkspaceModel>();
  readonly credentials = new Map<string, Json>();
  private readonly revertsLeft = new Map<number, number>();
  private readonly failuresLeft = new Map<number, { times: number; message: string | undefined }>();

  constructor(
    private readonly sim: Sim,
    scenario: Scenario,
  ) {
    const db = scenario.databricks;
    this.accountId = db.accountId;
    for (const c of db.keyConfigs) {
      const obj = structuredClone(c) as Json;
      obj.account_id ??= db.accountId;
      obj.creation_time ??= sim.epochMs(0) - 30 * 86_400_000;
      const info = obj.aws_key_info as Json;
      info.key_region ??= regionOf(String(info.key_arn));
      this.keyConfigs.set(c.customer_managed_key_id, obj);
    }
    for (const c of db.credentials) this.credentials.set(c.credentials_id, structuredClone(c) as Json);
    const kindFaults = db.faults.filter((f): f is KindFault => 'kind' in f);
    for (const f of kindFaults) {
      if (f.kind === 'silentRevert')
        this.revertsLeft.set(f.workspace_id, (this.revertsLeft.get(f.workspace_id) ?? 0) + f.times);
      if (f.kind === 'failUpdate')
        this.failuresLeft.set(f.workspace_id, { times: f.times, message: f.message });
    }
    for (const w of db.workspaces) {
      const own = kindFaults.filter(
        (f) => !('workspace_id' in f) || f.workspace_id === undefined || f.workspace_id === w.workspace_id,
      );
      const model = new WorkspaceModel(sim, w, own, db.servicePrincipal.clientId);
      this.workspaces.set(w.workspace_id, model);
      this.byDeployment.set(w.deployment_name, model);
    }
  }

  // ---------------------------------------------------------------- key configurations

  keyConfig(id: string): Json {
    const c = this.keyConfigs.get(id);
    if (!c)
      throw notFound(`Customer managed key configuration ${id} does not exist in account ${this.accountId}`);
    return c;
  }

  /** `POST customer-managed-keys`: validates like Databricks and fills id, account, creation time, region. */
  createKeyConfig(body: Json): Json {
    const useCases = body.use_cases;
    if (
      !Array.isArray(useCases) ||
      useCases.length === 0 ||
      useCases.some((u) => u !== 'MANAGED_SERVICES' && u !== 'STORAGE')
    ) {
      throw invalidParameter('use_cases must be a non-empty list of MANAGED_SERVICES and/or STORAGE');
    }
    if (new Set(useCases).size !== useCases.length)
      throw invalidParameter('use_cases must not repeat a use case');
    if (body.gcp_key_info !== undefined)
      throw invalidParameter('gcp_key_info is not supported on AWS; send aws_key_info');
    const info = body.aws_key_info as Json | undefined;
    if (typeof info !== 'object' || info === null)
      throw invalidParameter('Missing required field: aws_key_info');
    const keyArn = info.key_arn;
    if (typeof keyArn !== 'string' || !KEY_ARN.test(keyArn)) {
      throw invalidParameter(
        `aws_key_info.key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), got ${JSON.stringify(keyArn)}`,
      );
    }
    const region = regionOf(keyArn);
    if (info.key_region !== undefined && info.key_region !== region) {
      throw invalidParameter(
        `aws_key_info.key_region ${info.key_region} does not match the region of key_arn (${region})`,
      );
    }
    if (
      info.key_alias !== undefined &&
      (typeof info.key_alias !== 'string' || !info.key_alias.startsWith('alias/'))
    ) {
      throw invalidParameter('aws_key_info.key_alias must look like alias/<name>');
    }
    const reuse = info.reuse_key_for_cluster_volumes;
    if (reuse !== undefined && typeof reuse !== 'boolean') {
      throw invalidParameter('aws_key_info.reuse_key_for_cluster_volumes must be a boolean');
    }
    const awsKeyInfo: Json = { key_arn: keyArn, key_region: region };
    if (info.key_alias !== undefined) awsKeyInfo.key_alias = info.key_alias;
    if (useCases.includes('STORAGE')) awsKeyInfo.reuse_key_for_cluster_volumes = reuse ?? true;
    const config: Json = {
      customer_managed_key_id: this.sim.uuid('customer-managed-key'),
      account_id: this.accountId,
      aws_key_info: awsKeyInfo,
      creation_time: this.sim.epochMs(),
      use_cases: [...useCases],
    };
    this.keyConfigs.set(String(config.customer_managed_key_id), config);
    return config;
  }

  /** `DELETE customer-managed-keys/{id}`: refused while a running workspace uses (or is moving to) it. */
  deleteKeyConfig(id: string): void {
    this.keyConfig(id);
    for (const w of this.workspaces.values()) {
      const uses = Object.keys(KEY_FIELDS).some((f) => w.data[f] === id || w.update?.changes[f] === id);
      if (uses && ['RUNNING', 'PROVISIONING'].includes(String(w.data.workspace_status))) {
        throw invalidState(
          `Customer managed key configuration ${id} is used by running workspace ${w.id} (${w.deployment}) and cannot be deleted`,
        );
      }
    }
    this.keyConfigs.delete(id);
  }

  // ---------------------------------------------------------------- workspaces

  workspace(id: string | number): WorkspaceModel {
    const n = typeof id === 'number' ? id : /^\d+$/.test(id) ? Number(id) : Number.NaN;
    const w = this.workspaces.get(n);
    if (!w) throw notFound(`Workspace ${id} does not exist in account ${this.accountId}`);
    return w;
  }

  workspaceView(w: WorkspaceModel): Json {
    return structuredClone(w.data);
  }

  credential(id: string): Json {
    const c = this.credentials.get(id);
    if (!c) throw notFound(`Credential configuration ${id} does not exist in account ${this.accountId}`);
    return c;
  }

  /**
   * `PATCH workspaces/{id}`, body-only or with `update_mask`. Applies the change asynchronously after a
   * drawn `workspaceUpdate`: a Databricks-managed VPC shows PROVISIONING meanwhile, a customer-managed VPC
   * stays RUNNING and only the id fields change at the end (or silently do not, with `silentRevert`).
   */
  updateWorkspace(id: string, body: unknown, updateMask: string | null): Json {
    const w = this.workspace(id);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw invalidParameter('The request body must be a Workspace object');
    }
    const requested = this.requestedFields(body as Json, updateMask);
    const changes: Json = {};
    for (const [field, value] of Object.entries(requested)) {
      if (field === 'custom_tags' && isEmptyObject(value)) continue;
      if (JSON.stringify(w.data[field] ?? null) !== JSON.stringify(value ?? null)) changes[field] = value;
    }
    if (w.update) {
      throw invalidState(
        `Workspace ${w.id} has an update in progress; wait until it is RUNNING with the new settings`,
      );
    }
    if (w.data.workspace_status !== 'RUNNING') {
      throw invalidState(
        `Workspace ${w.id} is ${w.data.workspace_status}; it can be updated only when RUNNING`,
      );
    }
    if (Object.keys(changes).length === 0) return this.workspaceView(w);
    this.validateChanges(w, changes);
    const running = w.compute.runningClassicCompute();
    const parts = [
      describe(running.clusters, 'cluster', 'clusters'),
      describe(running.pools, 'instance pool with instances', 'instance pools with instances'),
      describe(running.warehouses, 'classic/pro SQL warehouse', 'classic/pro SQL warehouses'),
    ].filter((p) => p !== '');
    if (parts.length > 0) {
      throw invalidState(
        `Workspace ${w.id} cannot be updated while compute runs in its VPC: ${parts.join('; ')}. Terminate clusters, stop warehouses and release pool instances first.`,
      );
    }
    this.startUpdate(w, changes);
    return this.workspaceView(w);
  }

  private requestedFields(body: Json, updateMask: string | null): Json {
    if (updateMask === null) {
      const fields = Object.entries(body).filter(([field]) => UPDATABLE.has(field));
      // Nothing to update is a malformed update, not a no-op. (An empty custom_tags still counts as a field:
      // "Given you provide an empty custom tags, the update would not be applied" — the update docstring.)
      if (fields.length === 0) {
        throw invalidParameter(
          `The update names no field that can be updated; send at least one of ${[...UPDATABLE].join(', ')}`,
        );
      }
      return Object.fromEntries(fields);
    }
    const fields = updateMask
      .split(',')
      .map((f) => f.trim())
      .filter((f) => f !== '');
    if (fields.length === 0) throw invalidParameter('update_mask must name at least one field');
    const out: Json = {};
    for (const field of fields) {
      if (field === '*')
        throw invalidParameter('update_mask "*" (full replacement) is not supported here; name the fields');
      if (!UPDATABLE.has(field))
        throw invalidParameter(`update_mask names ${field}, which cannot be updated`);
      if (!(field in body))
        throw invalidParameter(`update_mask names ${field}, but the body does not contain it`);
      out[field] = body[field];
    }
    return out;
  }

  private validateChanges(w: WorkspaceModel, changes: Json): void {
    if ('aws_region' in changes) throw invalidParameter(`aws_region of workspace ${w.id} cannot be changed`);
    for (const field of Object.keys(KEY_FIELDS) as KeyField[]) {
      if (!(field in changes)) continue;
      const value = changes[field];
      if (typeof value !== 'string' || value === '') {
        throw invalidParameter(
          `${field} must be a key configuration id; a key cannot be removed from a workspace`,
        );
      }
      if (field === 'storage_customer_managed_key_id' && w.data[field]) {
        // Databricks: a storage key can be added to a workspace that has none, never replaced.
        throw invalidParameter(
          `Workspace ${w.id} already has storage key configuration ${w.data[field]}; storage customer-managed keys cannot be replaced once set`,
        );
      }
      const config = this.keyConfigs.get(value);
      if (!config) {
        throw invalidParameter(
          `Customer managed key configuration ${value} does not exist in account ${this.accountId}`,
        );
      }
      const useCase = KEY_FIELDS[field];
      if (!(config.use_cases as string[]).includes(useCase)) {
        throw invalidParameter(
          `Key configuration ${value} does not have use case ${useCase}, required for ${field}`,
        );
      }
      const keyRegion = (config.aws_key_info as Json | undefined)?.key_region;
      if (keyRegion !== undefined && keyRegion !== w.data.aws_region) {
        throw invalidParameter(
          `Key configuration ${value} is in region ${keyRegion}, but workspace ${w.id} is in ${w.data.aws_region}`,
        );
      }
    }
    if ('credentials_id' in changes && !this.credentials.has(String(changes.credentials_id))) {
      throw invalidParameter(`Credential configuration ${changes.credentials_id} does not exist`);
    }
  }

  private startUpdate(w: WorkspaceModel, changes: Json): void {
    const gen = w.nextGen();
    w.update = { changes, gen };
    const revert = this.consume(this.revertsLeft, w.id);
    const failure = this.failuresLeft.get(w.id);
    const fails = failure !== undefined && failure.times > 0;
    if (failure && fails) failure.times--;
    if (w.network === 'databricks-managed') {
      w.data.workspace_status = 'PROVISIONING';
      w.data.workspace_status_message = 'Workspace is being updated.';
    }
    const record = this.sim.recordUpdate(w.id, changes);
    this.sim.after(this.sim.draw('workspaceUpdate', String(w.id)), () => {
      if (w.currentGen() !== gen) return;
      w.update = undefined;
      record.endedAt = this.sim.t;
      if (fails) {
        record.outcome = 'failed';
        w.data.workspace_status = 'FAILED';
        w.data.workspace_status_message =
          failure?.message ?? 'Workspace update failed: the customer-managed key could not be applied.';
        return;
      }
      record.outcome = revert ? 'reverted' : 'applied';
      if (!revert) Object.assign(w.data, structuredClone(changes));
      w.data.workspace_status = 'RUNNING';
      w.data.workspace_status_message = statusMessage('RUNNING');
    });
  }

  private consume(counter: Map<number, number>, id: number): boolean {
    const left = counter.get(id) ?? 0;
    if (left <= 0) return false;
    counter.set(id, left - 1);
    return true;
  }

  /** Current values in the scenario's shape. */
  state(): { keyConfigs: unknown[]; workspaces: unknown[] } {
    return {
      keyConfigs: [...this.keyConfigs.values()].map((c) => structuredClone(c)),
      workspaces: [...this.workspaces.values()].map((w) => ({
        ...structuredClone(w.data),
        network: w.network,
        ...w.compute.state(),
      })),
    };
  }
}

function regionOf(arn: string): string {
  return arn.split(':')[3] ?? '';
}

function statusMessage(status: string): string {
  return status === 'RUNNING' ? 'Workspace is running.' : `Workspace is ${status.toLowerCase()}.`;
}

function isEmptyObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.keys(value).length === 0;
}

function describe(ids: string[], singular: string, plural: string): string {
  if (ids.length === 0) return '';
  const shown = ids.slice(0, 5).join(', ');
  return `${ids.length} ${ids.length === 1 ? singular : plural} (${shown}${ids.length > 5 ? ', …' : ''})`;
}
