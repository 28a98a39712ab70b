import type {
  ClusterDetails,
  CreateCustomerManagedKeyRequest,
  Credential,
  CustomerManagedKey,
  EditInstancePool,
  InstancePool,
  Job,
  JobSettings,
  ListClustersFilter,
  Pipeline,
  Run,
  Warehouse,
  Workspace,
  WorkspaceKeyChange,
} from './types.ts';

/**
 * The Account API as the product uses it (`/api/2.0/accounts/{account_id}/...` on the accounts host).
 * Implemented by `DatabricksClient.account`; steps depend on this interface so tests can substitute it.
 */
export interface AccountApi {
  readonly accountId: string;
  listKeyConfigs(): Promise<CustomerManagedKey[]>;
  getKeyConfig(customerManagedKeyId: string): Promise<CustomerManagedKey>;
  createKeyConfig(request: CreateCustomerManagedKeyRequest): Promise<CustomerManagedKey>;
  deleteKeyConfig(customerManagedKeyId: string): Promise<void>;
  listWorkspaces(): Promise<Workspace[]>;
  getWorkspace(workspaceId: number): Promise<Workspace>;
  /**
   * PATCH the workspace with only the given key field(s), GA form (`?update_mask=`). A 200 proves nothing:
   * callers must re-read the workspace until the field shows the new value.
   */
  updateWorkspaceKeys(workspaceId: number, change: WorkspaceKeyChange): Promise<Workspace>;
  getCredential(credentialsId: string): Promise<Credential>;
}

/**
 * The Workspace API of one workspace (`https://<deployment_name>.cloud.databricks.com`).
 * List methods follow every page and return all items.
 */
export interface WorkspaceApi {
  readonly deploymentName: string;
  listClusters(filter?: ListClustersFilter): Promise<ClusterDetails[]>;
  getCluster(clusterId: string): Promise<ClusterDetails>;
  /** `POST /api/2.1/clusters/delete`: terminate (keeps the cluster; idempotent). */
  terminateCluster(clusterId: string): Promise<void>;
  startCluster(clusterId: string): Promise<void>;
  listInstancePools(): Promise<InstancePool[]>;
  getInstancePool(instancePoolId: string): Promise<InstancePool>;
  editInstancePool(edit: EditInstancePool): Promise<void>;
  listWarehouses(): Promise<Warehouse[]>;
  getWarehouse(id: string): Promise<Warehouse>;
  stopWarehouse(id: string): Promise<void>;
  startWarehouse(id: string): Promise<void>;
  /** `GET /api/2.2/jobs/list`, all pages (settings included). */
  listJobs(): Promise<Job[]>;
  getJob(jobId: number): Promise<Job>;
  /** `POST /api/2.2/jobs/update`: each top-level field of `newSettings` replaces the job's field. */
  updateJob(jobId: number, newSettings: Partial<JobSettings>): Promise<void>;
  /** `GET /api/2.2/jobs/runs/list`, all pages. */
  listRuns(options?: { activeOnly?: boolean; jobId?: number }): Promise<Run[]>;
  getRun(runId: number): Promise<Run>;
  cancelRun(runId: number): Promise<void>;
  /** `GET /api/2.0/pipelines`, all pages (no spec in list items). */
  listPipelines(): Promise<Pipeline[]>;
  getPipeline(pipelineId: string): Promise<Pipeline>;
  stopPipeline(pipelineId: string): Promise<void>;
  /** `POST /api/2.0/pipelines/{id}/updates`. Never sends `full_refresh: true`. */
  startPipelineUpdate(pipelineId: string, options?: { cause?: string }): Promise<{ update_id: string }>;
}

/** The client handed to every step. */
export interface Databricks {
  readonly account: AccountApi;
  /** The Workspace API of the workspace with this deployment name. */
  workspace(deploymentName: string): WorkspaceApi;
}
