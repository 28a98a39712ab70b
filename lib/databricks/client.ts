import { InvalidInput } from '../errors.ts';
import type { AccountApi, Databricks, WorkspaceApi } from './api.ts';
import { TokenCache, type TokenCacheOptions } from './auth.ts';
import { DatabricksApiError } from './errors.ts';
import { type ApiRequest, DatabricksHttp, type Host, type HttpOptions } from './http.ts';
import { collectPages, collectPagesUpTo, mergeJobPages } from './pagination.ts';
import type {
  ClusterDetails,
  ClusterState,
  CreateCustomerManagedKeyRequest,
  Credential,
  CustomerManagedKey,
  EditInstancePool,
  InstancePool,
  Job,
  JobSettings,
  ListClustersFilter,
  Pipeline,
  PipelineState,
  Run,
  Warehouse,
  Workspace,
  WorkspaceKeyChange,
} from './types.ts';

export {
  DatabricksApiError,
  DatabricksAuthError,
  DatabricksThrottled,
  DatabricksUnavailable,
} from './errors.ts';
export type { CallInfo } from './http.ts';

/** How to reach Databricks. `credentials` is called whenever a token is due (it caches on its side). */
export interface DatabricksClientOptions extends HttpOptions {
  accountId: string;
  /** `https://accounts.cloud.databricks.com` (or the emulator's url). */
  accountsHost: string;
  /** `https://{deployment_name}.cloud.databricks.com` (or `${emulator}/ws/{deployment_name}`). */
  workspaceUrlTemplate: string;
  credentials: () => Promise<{ clientId: string; clientSecret: string }>;
  /**
   * Called when Databricks answers an auth failure (401 to a token, or the token endpoint refusing the
   * client credentials): drop whatever `credentials` cached, so a rotated client secret is read again.
   * Returning `true` (what was dropped came from a cache) lets a refused token request be tried once more.
   */
  onAuthFailure?: () => boolean | undefined;
}

/** Key fields a workspace PATCH may carry (DOC-UPD); nothing else is ever sent. */
const KEY_FIELDS = ['managed_services_customer_managed_key_id', 'storage_customer_managed_key_id'] as const;

/**
 * Most pages of the whole cluster list read to answer a state-filtered list consistently (5,000 clusters);
 * past that the filtered list is read instead (`listClusters`).
 */
const CONSISTENT_READ_PAGES = 50;

/** Cluster states in which a `clusters/start` has nothing left to do. */
const STARTED_CLUSTER: ReadonlySet<ClusterState> = new Set(['PENDING', 'RUNNING', 'RESTARTING', 'RESIZING']);
/** Pipeline states in which an update is already under way. */
const STARTED_PIPELINE: ReadonlySet<PipelineState> = new Set([
  'DEPLOYING',
  'STARTING',
  'RUNNING',
  'RECOVERING',
  'RESETTING',
]);

/**
 * The one Databricks client (Account API + every workspace's API): OAuth M2M with one cached token per host,
 * retries with backoff on the run's clock, full pagination, and `DatabricksApiError`s that say which call on
 * which workspace failed and why. Create it once per container; workspace clients are cached per deployment.
 */
export class DatabricksClient implements Databricks {
  readonly account: AccountApi;
  private readonly http: DatabricksHttp;
  private readonly workspaces = new Map<string, WorkspaceApi>();

  constructor(private readonly options: DatabricksClientOptions) {
    this.http = new DatabricksHttp(options);
    const baseUrl = trimSlash(options.accountsHost);
    const target = 'account API';
    const tokenUrl = `${baseUrl}/oidc/accounts/${encodeURIComponent(options.accountId)}/v1/token`;
    const tokens = new TokenCache(
      () => this.http.issueToken(tokenUrl, target, options.credentials),
      this.tokenOptions(),
    );
    this.account = new AccountClient(this.http, { target, baseUrl, tokens }, options.accountId);
  }

  workspace(deploymentName: string): WorkspaceApi {
    let api = this.workspaces.get(deploymentName);
    if (!api) {
      // The name becomes part of a host name: refuse anything that is not a DNS label before it reaches a URL.
      if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(deploymentName)) {
        throw new InvalidInput(
          `workspace deployment_name ${JSON.stringify(deploymentName)} is not a valid host label; check the workspace's deployment_name in the Account API`,
          { details: { field: 'deployment_name' } },
        );
      }
      const baseUrl = trimSlash(
        this.options.workspaceUrlTemplate.replaceAll('{deployment_name}', deploymentName),
      );
      const target = `workspace ${deploymentName}`;
      const tokenUrl = `${baseUrl}/oidc/v1/token`;
      const tokens = new TokenCache(
        () => this.http.issueToken(tokenUrl, target, this.options.credentials),
        this.tokenOptions(),
      );
      api = new WorkspaceClient(this.http, { target, baseUrl, tokens }, deploymentName);
      this.workspaces.set(deploymentName, api);
    }
    return api;
  }

  private tokenOptions(): TokenCacheOptions {
    const { onAuthFailure } = this.options;
    return onAuthFailure ? { onAuthFailure } : {};
  }
}

/** `/api/2.0/accounts/{account_id}/...` on the accounts host. */
class AccountClient implements AccountApi {
  private readonly prefix: string;

  constructor(
    private readonly http: DatabricksHttp,
    private readonly host: Host,
    readonly accountId: string,
  ) {
    this.prefix = `/api/2.0/accounts/${encodeURIComponent(accountId)}`;
  }

  private call<T>(request: ApiRequest): Promise<T> {
    return this.http.call<T>(this.host, {
      ...request,
      path: `${this.prefix}${request.path}`,
      route: `/api/2.0/accounts/{account_id}${request.route ?? request.path}`,
    });
  }

  async listKeyConfigs(): Promise<CustomerManagedKey[]> {
    return (
      (await this.call<CustomerManagedKey[] | null>({ method: 'GET', path: '/customer-managed-keys' })) ?? []
    );
  }

  getKeyConfig(customerManagedKeyId: string): Promise<CustomerManagedKey> {
    return this.call({
      method: 'GET',
      path: `/customer-managed-keys/${seg(customerManagedKeyId)}`,
      route: '/customer-managed-keys/{id}',
    });
  }

  createKeyConfig(request: CreateCustomerManagedKeyRequest): Promise<CustomerManagedKey> {
    return this.call({ method: 'POST', path: '/customer-managed-keys', body: request, idempotent: false });
  }

  async deleteKeyConfig(customerManagedKeyId: string): Promise<void> {
    try {
      await this.call({
        method: 'DELETE',
        path: `/customer-managed-keys/${seg(customerManagedKeyId)}`,
        route: '/customer-managed-keys/{id}',
      });
    } catch (error) {
      // A retried DELETE whose first attempt went through finds nothing left to delete: that is success.
      if (error instanceof DatabricksApiError && error.status === 404 && error.attempts > 1) return;
      throw error;
    }
  }

  async listWorkspaces(): Promise<Workspace[]> {
    return (await this.call<Workspace[] | null>({ method: 'GET', path: '/workspaces' })) ?? [];
  }

  getWorkspace(workspaceId: number): Promise<Workspace> {
    return this.call({ method: 'GET', path: `/workspaces/${workspaceId}`, route: '/workspaces/{id}' });
  }

  /**
   * GA form: `PATCH …/workspaces/{id}?update_mask=<present fields>` with only those fields in the body
   * (never `update_mask=*`, which would replace the whole workspace). An empty change is refused up front.
   */
  updateWorkspaceKeys(workspaceId: number, change: WorkspaceKeyChange): Promise<Workspace> {
    const body: Record<string, string> = {};
    for (const field of KEY_FIELDS) {
      const value = change[field];
      if (typeof value === 'string' && value !== '') body[field] = value;
    }
    const fields = Object.keys(body);
    if (fields.length === 0) {
      throw new InvalidInput(
        `the key change for workspace ${workspaceId} sets no key field; give managed_services_customer_managed_key_id and/or storage_customer_managed_key_id`,
        { details: { field: 'change', workspaceId } },
      );
    }
    return this.call({
      method: 'PATCH',
      path: `/workspaces/${workspaceId}`,
      route: '/workspaces/{id}',
      query: { update_mask: fields.join(',') },
      body,
      idempotent: false,
    });
  }

  getCredential(credentialsId: string): Promise<Credential> {
    return this.call({
      method: 'GET',
      path: `/credentials/${seg(credentialsId)}`,
      route: '/credentials/{id}',
    });
  }
}

/** One workspace's REST API (clusters 2.1, pools 2.0, warehouses 2.0, jobs 2.2, pipelines 2.0). */
class WorkspaceClient implements WorkspaceApi {
  constructor(
    private readonly http: DatabricksHttp,
    private readonly host: Host,
    readonly deploymentName: string,
  ) {}

  private call<T>(request: ApiRequest): Promise<T> {
    return this.http.call<T>(this.host, request);
  }

  /**
   * Every cluster the filter selects. A state filter selects a set that changes while it is read: a
   * cluster that finishes terminating (or comes up) leaves it between two pages, and with a position-like
   * page token the next page then starts one cluster too far — a running cluster is silently skipped. One
   * page is read whole, so a filtered list that fits in one page is used as is; one that needs more is read
   * again without the state filter (which clusters the list holds does not change with their state) and
   * filtered here. That costs the whole list's pages, and only while more than a page of clusters is in
   * those states. A list longer than `CONSISTENT_READ_PAGES` pages (many recently terminated job
   * clusters) is not read whole at every check: then the filtered list is read to its end, as before.
   */
  async listClusters(filter: ListClustersFilter = {}): Promise<ClusterDetails[]> {
    const states = filter.cluster_states;
    if (states === undefined || states.length === 0) return this.listClusterPages(filter);
    const first = await this.clusterPage(filter, undefined);
    if (first.items.length === 0 || !first.nextPageToken) return first.items;
    const wanted = new Set<string>(states);
    const whole = await collectPagesUpTo(
      (pageToken) => this.clusterPage({ ...filter, cluster_states: undefined }, pageToken),
      CONSISTENT_READ_PAGES,
    );
    if (whole.complete) return whole.items.filter((c) => wanted.has(c.state));
    return this.listClusterPages(filter);
  }

  private listClusterPages(filter: ListClustersFilter): Promise<ClusterDetails[]> {
    return collectPages((pageToken) => this.clusterPage(filter, pageToken));
  }

  private async clusterPage(
    filter: ListClustersFilter,
    pageToken: string | undefined,
  ): Promise<{ items: ClusterDetails[]; nextPageToken?: string }> {
    const page = await this.call<{ clusters?: ClusterDetails[]; next_page_token?: string }>({
      method: 'GET',
      path: '/api/2.1/clusters/list',
      query: {
        'filter_by.cluster_states': filter.cluster_states,
        'filter_by.cluster_sources': filter.cluster_sources,
        'filter_by.is_pinned': filter.is_pinned,
        'filter_by.policy_id': filter.policy_id,
        page_size: 100,
        page_token: pageToken,
      },
    });
    return { items: page?.clusters ?? [], nextPageToken: page?.next_page_token };
  }

  getCluster(clusterId: string): Promise<ClusterDetails> {
    return this.call({ method: 'GET', path: '/api/2.1/clusters/get', query: { cluster_id: clusterId } });
  }

  async terminateCluster(clusterId: string): Promise<void> {
    await this.call({
      method: 'POST',
      path: '/api/2.1/clusters/delete',
      body: { cluster_id: clusterId },
      idempotent: true,
    });
  }

  /**
   * `clusters/start` is not idempotent: a second start answers 400 INVALID_STATE. When that happens the
   * cluster is re-read, and one already PENDING/RUNNING counts as started.
   */
  async startCluster(clusterId: string): Promise<void> {
    try {
      await this.call({ method: 'POST', path: '/api/2.1/clusters/start', body: { cluster_id: clusterId } });
    } catch (error) {
      if (
        !(error instanceof DatabricksApiError && error.status === 400 && error.errorCode === 'INVALID_STATE')
      ) {
        throw error;
      }
      const cluster = await this.getCluster(clusterId);
      if (!STARTED_CLUSTER.has(cluster.state)) throw error;
    }
  }

  async listInstancePools(): Promise<InstancePool[]> {
    const page = await this.call<{ instance_pools?: InstancePool[] }>({
      method: 'GET',
      path: '/api/2.0/instance-pools/list',
    });
    return page?.instance_pools ?? [];
  }

  getInstancePool(instancePoolId: string): Promise<InstancePool> {
    return this.call({
      method: 'GET',
      path: '/api/2.0/instance-pools/get',
      query: { instance_pool_id: instancePoolId },
    });
  }

  async editInstancePool(edit: EditInstancePool): Promise<void> {
    await this.call({ method: 'POST', path: '/api/2.0/instance-pools/edit', body: edit, idempotent: true });
  }

  listWarehouses(): Promise<Warehouse[]> {
    return collectPages(async (pageToken) => {
      const page = await this.call<{ warehouses?: Warehouse[]; next_page_token?: string }>({
        method: 'GET',
        path: '/api/2.0/sql/warehouses',
        query: { page_size: 100, page_token: pageToken },
      });
      return { items: page?.warehouses ?? [], nextPageToken: page?.next_page_token };
    });
  }

  getWarehouse(id: string): Promise<Warehouse> {
    return this.call({ method: 'GET', path: `/api/2.0/sql/warehouses/${seg(id)}`, route: WAREHOUSE });
  }

  async stopWarehouse(id: string): Promise<void> {
    await this.call({
      method: 'POST',
      path: `/api/2.0/sql/warehouses/${seg(id)}/stop`,
      route: `${WAREHOUSE}/stop`,
      body: {},
      idempotent: true,
    });
  }

  /** Starting a running warehouse is a no-op on Databricks' side, so a retry cannot do harm. */
  async startWarehouse(id: string): Promise<void> {
    await this.call({
      method: 'POST',
      path: `/api/2.0/sql/warehouses/${seg(id)}/start`,
      route: `${WAREHOUSE}/start`,
      body: {},
      idempotent: true,
    });
  }

  listJobs(): Promise<Job[]> {
    return collectPages(async (pageToken) => {
      const page = await this.call<{ jobs?: Job[]; next_page_token?: string }>({
        method: 'GET',
        path: '/api/2.2/jobs/list',
        query: { limit: 100, expand_tasks: false, page_token: pageToken },
      });
      return { items: page?.jobs ?? [], nextPageToken: page?.next_page_token };
    });
  }

  /** Jobs API 2.2 pages a job's tasks/job_clusters at 100: every page is fetched and merged. */
  async getJob(jobId: number): Promise<Job> {
    const get = (pageToken?: string) =>
      this.call<Job & { next_page_token?: string }>({
        method: 'GET',
        path: '/api/2.2/jobs/get',
        query: { job_id: jobId, page_token: pageToken },
      });
    let { next_page_token: next, ...job } = await get();
    for (let pages = 1; next && pages < 1000; pages++) {
      const { next_page_token: after, ...more } = await get(next);
      job = mergeJobPages(job, more);
      next = after === next ? undefined : after;
    }
    return job;
  }

  async updateJob(jobId: number, newSettings: Partial<JobSettings>): Promise<void> {
    await this.call({
      method: 'POST',
      path: '/api/2.2/jobs/update',
      body: { job_id: jobId, new_settings: newSettings },
      idempotent: true,
    });
  }

  /** Active runs unless `activeOnly: false` (all runs is the whole history; rarely wanted). */
  listRuns(options: { activeOnly?: boolean; jobId?: number } = {}): Promise<Run[]> {
    return collectPages(async (pageToken) => {
      const page = await this.call<{ runs?: Run[]; next_page_token?: string }>({
        method: 'GET',
        path: '/api/2.2/jobs/runs/list',
        query: {
          // The API rejects limit ≥ 25.
          limit: 24,
          active_only: options.activeOnly === false ? undefined : true,
          job_id: options.jobId,
          page_token: pageToken,
        },
      });
      return { items: page?.runs ?? [], nextPageToken: page?.next_page_token };
    });
  }

  getRun(runId: number): Promise<Run> {
    return this.call({ method: 'GET', path: '/api/2.2/jobs/runs/get', query: { run_id: runId } });
  }

  async cancelRun(runId: number): Promise<void> {
    await this.call({
      method: 'POST',
      path: '/api/2.2/jobs/runs/cancel',
      body: { run_id: runId },
      idempotent: true,
    });
  }

  listPipelines(): Promise<Pipeline[]> {
    return collectPages(async (pageToken) => {
      const page = await this.call<{ statuses?: Pipeline[]; next_page_token?: string }>({
        method: 'GET',
        path: '/api/2.0/pipelines',
        query: { max_results: 100, page_token: pageToken },
      });
      return { items: page?.statuses ?? [], nextPageToken: page?.next_page_token };
    });
  }

  getPipeline(pipelineId: string): Promise<Pipeline> {
    return this.call({ method: 'GET', path: `/api/2.0/pipelines/${seg(pipelineId)}`, route: PIPELINE });
  }

  async stopPipeline(pipelineId: string): Promise<void> {
    await this.call({
      method: 'POST',
      path: `/api/2.0/pipelines/${seg(pipelineId)}/stop`,
      route: `${PIPELINE}/stop`,
      body: {},
      idempotent: true,
    });
  }

  /**
   * Starts an update with `full_refresh: false` (a full refresh would reset the pipeline's tables). An update
   * already active answers a conflict: the pipeline is re-read, and one already starting/running counts as
   * started (its latest update id is returned).
   */
  async startPipelineUpdate(
    pipelineId: string,
    options: { cause?: string } = {},
  ): Promise<{ update_id: string }> {
    const body: Record<string, unknown> = { full_refresh: false };
    if (options.cause) body.cause = options.cause;
    try {
      const started = await this.call<{ update_id?: string }>({
        method: 'POST',
        path: `/api/2.0/pipelines/${seg(pipelineId)}/updates`,
        route: `${PIPELINE}/updates`,
        body,
      });
      return { update_id: started?.update_id ?? '' };
    } catch (error) {
      const conflict =
        error instanceof DatabricksApiError &&
        (error.status === 409 ||
          (error.status === 400 &&
            (error.errorCode === 'INVALID_STATE' || error.errorCode === 'RESOURCE_CONFLICT')));
      if (!conflict) throw error;
      const pipeline = await this.getPipeline(pipelineId);
      if (!pipeline.state || !STARTED_PIPELINE.has(pipeline.state)) throw error;
      const latest = (pipeline.latest_updates as { update_id?: string }[] | undefined)?.[0]?.update_id;
      return { update_id: latest ?? '' };
    }
  }
}

/** Routes of the endpoints with an id in their path (what a 429's Retry-After holds back). */
const WAREHOUSE = '/api/2.0/sql/warehouses/{id}';
const PIPELINE = '/api/2.0/pipelines/{id}';

/** A path segment from an id (ids are opaque strings; never let one add a path level or a query). */
function seg(id: string): string {
  return encodeURIComponent(id);
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
