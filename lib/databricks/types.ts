/**
 * Databricks REST models, with Databricks' own field names, for exactly the endpoints this product uses.
 * Source: the Databricks REST API reference and the generated Databricks SDK models (`@databricks/sdk-experimental`).
 * Objects may carry more fields than typed here; the index signatures keep them (a snapshot must be able to
 * repeat what the API returned).
 */

export type KeyUseCase = 'MANAGED_SERVICES' | 'STORAGE';

export interface AwsKeyInfo {
  key_arn: string;
  key_region?: string;
  key_alias?: string;
  reuse_key_for_cluster_volumes?: boolean;
}

export interface CustomerManagedKey {
  customer_managed_key_id: string;
  account_id?: string;
  creation_time?: number;
  use_cases: KeyUseCase[];
  aws_key_info?: AwsKeyInfo;
  [field: string]: unknown;
}

export interface CreateCustomerManagedKeyRequest {
  use_cases: KeyUseCase[];
  aws_key_info: {
    key_arn: string;
    key_alias?: string;
    key_region?: string;
    reuse_key_for_cluster_volumes?: boolean;
  };
}

export type WorkspaceStatus =
  | 'NOT_PROVISIONED'
  | 'PROVISIONING'
  | 'RUNNING'
  | 'FAILED'
  | 'BANNED'
  | 'CANCELLING';

export interface Workspace {
  workspace_id: number;
  workspace_name?: string;
  account_id?: string;
  deployment_name?: string;
  aws_region?: string;
  credentials_id?: string;
  managed_services_customer_managed_key_id?: string | null;
  storage_customer_managed_key_id?: string | null;
  workspace_status?: WorkspaceStatus;
  workspace_status_message?: string;
  [field: string]: unknown;
}

/** The key fields a CMK change may set on a workspace. Only present fields are sent. */
export interface WorkspaceKeyChange {
  managed_services_customer_managed_key_id?: string;
  storage_customer_managed_key_id?: string;
}

export interface Credential {
  credentials_id: string;
  credentials_name?: string;
  aws_credentials?: { sts_role?: { role_arn?: string; external_id?: string } };
  [field: string]: unknown;
}

export type ClusterState =
  | 'PENDING'
  | 'RUNNING'
  | 'RESTARTING'
  | 'RESIZING'
  | 'TERMINATING'
  | 'TERMINATED'
  | 'ERROR'
  | 'UNKNOWN';

export type ClusterSource = 'UI' | 'API' | 'JOB' | 'PIPELINE' | 'PIPELINE_MAINTENANCE' | 'SQL' | 'MODELS';

export interface ClusterDetails {
  cluster_id: string;
  cluster_name?: string;
  state: ClusterState;
  state_message?: string;
  cluster_source?: ClusterSource;
  [field: string]: unknown;
}

export interface ListClustersFilter {
  cluster_states?: ClusterState[];
  cluster_sources?: ClusterSource[];
  is_pinned?: boolean;
  policy_id?: string;
}

export interface InstancePoolStats {
  idle_count?: number;
  used_count?: number;
  pending_idle_count?: number;
  pending_used_count?: number;
}

export interface InstancePool {
  instance_pool_id: string;
  instance_pool_name: string;
  node_type_id: string;
  min_idle_instances?: number;
  max_capacity?: number;
  idle_instance_autotermination_minutes?: number;
  custom_tags?: Record<string, string>;
  state?: 'ACTIVE' | 'STOPPED' | 'DELETED';
  stats?: InstancePoolStats;
  [field: string]: unknown;
}

/** Body of `POST /api/2.0/instance-pools/edit`: the required fields plus the ones being set. */
export interface EditInstancePool {
  instance_pool_id: string;
  instance_pool_name: string;
  node_type_id: string;
  min_idle_instances?: number;
  max_capacity?: number;
  idle_instance_autotermination_minutes?: number;
  custom_tags?: Record<string, string>;
  [field: string]: unknown;
}

export type WarehouseState = 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED' | 'DELETING' | 'DELETED';

export interface Warehouse {
  id: string;
  name?: string;
  state: WarehouseState;
  warehouse_type?: 'CLASSIC' | 'PRO' | 'TYPE_UNSPECIFIED';
  enable_serverless_compute?: boolean;
  [field: string]: unknown;
}

export type PauseStatus = 'PAUSED' | 'UNPAUSED';

export interface JobSettings {
  name?: string;
  schedule?: { quartz_cron_expression: string; timezone_id: string; pause_status?: PauseStatus };
  continuous?: { pause_status?: PauseStatus; [field: string]: unknown };
  trigger?: { pause_status?: PauseStatus; [field: string]: unknown };
  [field: string]: unknown;
}

export interface Job {
  job_id: number;
  settings?: JobSettings;
  [field: string]: unknown;
}

export type RunLifeCycleState =
  | 'QUEUED'
  | 'PENDING'
  | 'RUNNING'
  | 'TERMINATING'
  | 'TERMINATED'
  | 'SKIPPED'
  | 'INTERNAL_ERROR'
  | 'BLOCKED'
  | 'WAITING_FOR_RETRY';

export interface Run {
  run_id: number;
  job_id?: number;
  run_type?: string;
  trigger?: string;
  state?: { life_cycle_state?: RunLifeCycleState; result_state?: string; state_message?: string };
  [field: string]: unknown;
}

export type PipelineState =
  | 'DEPLOYING'
  | 'STARTING'
  | 'RUNNING'
  | 'STOPPING'
  | 'IDLE'
  | 'FAILED'
  | 'RECOVERING'
  | 'RESETTING'
  | 'DELETED';

/** Pipeline as listed (`PipelineStateInfo`: no spec) or fetched (`GetPipelineResponse`: with spec). */
export interface Pipeline {
  pipeline_id: string;
  name?: string;
  state?: PipelineState;
  cluster_id?: string;
  spec?: { continuous?: boolean; serverless?: boolean; [field: string]: unknown };
  [field: string]: unknown;
}
