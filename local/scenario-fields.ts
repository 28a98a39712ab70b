/**
 * The field names a scenario's Databricks resources may carry (README § Scenarios and reports): the
 * names of the Databricks API objects they stand for, so pasted API output is accepted and a typo is not.
 *
 * Source: the generated models of the official JavaScript SDK, `@databricks/sdk-experimental` 0.17.0
 * (`dist/apis/{compute,sql,jobs,pipelines,provisioning}/model.d.ts`, generated from Databricks'
 * OpenAPI), copied field for field; each list names its model. Where two models describe the same
 * object (the list entry and the get answer) the list is their union. To refresh: `npm pack` the
 * SDK and compare the interfaces named here.
 *
 * Nested objects are strict only where the model is small and clear and the scenario schema already
 * reads them; every other nested object (`aws_attributes`, a cluster's `spec`, `termination_reason`,
 * `tasks`, `health`, `status`, a trigger's `file_arrival`, …) is kept and returned as given, unchecked.
 */

/** compute `ClusterDetails` (entries of GET /api/2.1/clusters/list, and clusters/get). */
export const CLUSTER_FIELDS = [
  'autoscale',
  'autotermination_minutes',
  'aws_attributes',
  'azure_attributes',
  'cluster_cores',
  'cluster_id',
  'cluster_log_conf',
  'cluster_log_status',
  'cluster_memory_mb',
  'cluster_name',
  'cluster_source',
  'creator_user_name',
  'custom_tags',
  'data_security_mode',
  'default_tags',
  'docker_image',
  'driver',
  'driver_instance_pool_id',
  'driver_node_type_id',
  'enable_elastic_disk',
  'enable_local_disk_encryption',
  'executors',
  'gcp_attributes',
  'init_scripts',
  'instance_pool_id',
  'is_single_node',
  'jdbc_port',
  'kind',
  'last_restarted_time',
  'last_state_loss_time',
  'node_type_id',
  'num_workers',
  'policy_id',
  'remote_disk_throughput',
  'runtime_engine',
  'single_user_name',
  'spark_conf',
  'spark_context_id',
  'spark_env_vars',
  'spark_version',
  'spec',
  'ssh_public_keys',
  'start_time',
  'state',
  'state_message',
  'terminated_time',
  'termination_reason',
  'total_initial_remote_disk_size',
  'use_ml_runtime',
  'workload_type',
  // Returned by clusters/list and clusters/get today but absent from the SDK's model (it is generated from the
  // documented OpenAPI): accepted so that real output pastes as it is.
  'driver_healthy',
  'effective_spark_version',
  'init_scripts_safe_mode',
  'last_activity_time',
] as const;

/** compute `AutoScale` (a cluster's `autoscale`). */
export const AUTOSCALE_FIELDS = ['max_workers', 'min_workers'] as const;

/** compute `InstancePoolAndStats` (entries of GET /api/2.0/instance-pools/list, and instance-pools/get). */
export const INSTANCE_POOL_FIELDS = [
  'aws_attributes',
  'azure_attributes',
  'custom_tags',
  'default_tags',
  'disk_spec',
  'enable_elastic_disk',
  'gcp_attributes',
  'idle_instance_autotermination_minutes',
  'instance_pool_id',
  'instance_pool_name',
  'max_capacity',
  'min_idle_instances',
  'node_type_id',
  'preloaded_docker_images',
  'preloaded_spark_versions',
  'remote_disk_throughput',
  'state',
  'stats',
  'status',
  'total_initial_remote_disk_size',
] as const;

/** compute `InstancePoolStats` (a pool's `stats`). */
export const INSTANCE_POOL_STATS_FIELDS = [
  'idle_count',
  'pending_idle_count',
  'pending_used_count',
  'used_count',
] as const;

/** sql `EndpointInfo` (entries of GET /api/2.0/sql/warehouses) = `GetWarehouseResponse` (its get). */
export const WAREHOUSE_FIELDS = [
  'auto_stop_mins',
  'channel',
  'cluster_size',
  'creator_name',
  'enable_photon',
  'enable_serverless_compute',
  'health',
  'id',
  'instance_profile_arn',
  'jdbc_url',
  'max_num_clusters',
  'min_num_clusters',
  'name',
  'num_active_sessions',
  'num_clusters',
  'odbc_params',
  'spot_instance_policy',
  'state',
  'tags',
  'warehouse_type',
] as const;

/** jobs `BaseJob` (entries of GET /api/2.2/jobs/list) ∪ `Job` (jobs/get). */
export const JOB_FIELDS = [
  'created_time',
  'creator_user_name',
  'effective_budget_policy_id',
  'effective_usage_policy_id',
  'has_more',
  'job_id',
  'next_page_token',
  'run_as_user_name',
  'settings',
  'trigger_state',
] as const;

/** jobs `JobSettings` (a job's `settings`, with `tasks` when listed with `expand_tasks`). */
export const JOB_SETTINGS_FIELDS = [
  'budget_policy_id',
  'continuous',
  'deployment',
  'description',
  'edit_mode',
  'email_notifications',
  'environments',
  'format',
  'git_source',
  'health',
  'job_clusters',
  'max_concurrent_runs',
  'name',
  'notification_settings',
  'parameters',
  'performance_target',
  'queue',
  'run_as',
  'schedule',
  'tags',
  'tasks',
  'timeout_seconds',
  'trigger',
  'usage_policy_id',
  'webhook_notifications',
] as const;

/** jobs `CronSchedule` (`settings.schedule`). */
export const CRON_SCHEDULE_FIELDS = ['pause_status', 'quartz_cron_expression', 'timezone_id'] as const;

/** jobs `Continuous` (`settings.continuous`). */
export const CONTINUOUS_FIELDS = ['pause_status', 'task_retry_mode'] as const;

/** jobs `TriggerSettings` (`settings.trigger`). */
export const TRIGGER_SETTINGS_FIELDS = ['file_arrival', 'pause_status', 'periodic', 'table_update'] as const;

/** jobs `BaseRun` (entries of GET /api/2.2/jobs/runs/list) ∪ `Run` (runs/get). */
export const RUN_FIELDS = [
  'attempt_number',
  'cleanup_duration',
  'cluster_instance',
  'cluster_spec',
  'creator_user_name',
  'description',
  'effective_performance_target',
  'effective_usage_policy_id',
  'end_time',
  'execution_duration',
  'git_source',
  'has_more',
  'iterations',
  'job_clusters',
  'job_id',
  'job_parameters',
  'job_run_id',
  'next_page_token',
  'number_in_job',
  'original_attempt_run_id',
  'overriding_parameters',
  'queue_duration',
  'repair_history',
  'run_duration',
  'run_id',
  'run_name',
  'run_page_url',
  'run_type',
  'schedule',
  'setup_duration',
  'start_time',
  'state',
  'status',
  'tasks',
  'trigger',
  'trigger_info',
] as const;

/** jobs `RunState` (a run's `state`). */
export const RUN_STATE_FIELDS = [
  'life_cycle_state',
  'queue_reason',
  'result_state',
  'state_message',
  'user_cancelled_or_timedout',
] as const;

/** jobs `ClusterInstance` (a run's `cluster_instance`). */
export const CLUSTER_INSTANCE_FIELDS = ['cluster_id', 'spark_context_id'] as const;

/** pipelines `PipelineStateInfo` (entries of GET /api/2.0/pipelines) ∪ `GetPipelineResponse` (its get). */
export const PIPELINE_FIELDS = [
  'cause',
  'cluster_id',
  'creator_user_name',
  'effective_budget_policy_id',
  'health',
  'last_modified',
  'latest_updates',
  'name',
  'pipeline_id',
  'run_as',
  'run_as_user_name',
  'spec',
  'state',
] as const;

/** pipelines `PipelineSpec` (a pipeline's `spec`). */
export const PIPELINE_SPEC_FIELDS = [
  'budget_policy_id',
  'catalog',
  'channel',
  'clusters',
  'configuration',
  'continuous',
  'deployment',
  'development',
  'edition',
  'environment',
  'event_log',
  'filters',
  'gateway_definition',
  'id',
  'ingestion_definition',
  'libraries',
  'name',
  'notifications',
  'photon',
  'restart_window',
  'root_path',
  'schema',
  'serverless',
  'storage',
  'tags',
  'target',
  'trigger',
  'usage_policy_id',
] as const;

/** provisioning `Workspace` (entries of GET /api/2.0/accounts/{account_id}/workspaces). */
export const WORKSPACE_FIELDS = [
  'account_id',
  'aws_region',
  'azure_workspace_info',
  'cloud',
  'cloud_resource_container',
  'compute_mode',
  'creation_time',
  'credentials_id',
  'custom_tags',
  'deployment_name',
  'expected_workspace_status',
  'gcp_managed_network_config',
  'gke_config',
  'location',
  'managed_services_customer_managed_key_id',
  'network',
  'network_connectivity_config_id',
  'network_id',
  'pricing_tier',
  'private_access_settings_id',
  'storage_configuration_id',
  'storage_customer_managed_key_id',
  'storage_mode',
  'workspace_id',
  'workspace_name',
  'workspace_status',
  'workspace_status_message',
] as const;

/** provisioning `CustomerManagedKey` (entries of GET /api/2.0/accounts/{account_id}/customer-managed-keys). */
export const KEY_CONFIG_FIELDS = [
  'account_id',
  'aws_key_info',
  'azure_key_info',
  'creation_time',
  'customer_managed_key_id',
  'gcp_key_info',
  'use_cases',
] as const;

/** provisioning `AwsKeyInfo` (a key configuration's `aws_key_info`). */
export const AWS_KEY_INFO_FIELDS = [
  'key_alias',
  'key_arn',
  'key_region',
  'reuse_key_for_cluster_volumes',
] as const;

/**
 * A workspace's resource collections, under the name of the list answer that returns them
 * (`clusters`, `instance_pools`, `warehouses`, `jobs`, `runs`; `pipelines` after its endpoint, whose
 * answer calls the list `statuses`), plus `instancePools`, the spelling the format has always used.
 */
export const WORKSPACE_COLLECTIONS = [
  'clusters',
  'instancePools',
  'instance_pools',
  'warehouses',
  'jobs',
  'runs',
  'pipelines',
] as const;

/**
 * Fields the scenario format adds to the API objects (emulator-only; never sent by Databricks):
 * - workspace `network`: `"databricks-managed"` or `"customer-managed"` (whether the status stays
 *   RUNNING during an update). The name is also in `Workspace`, as a deprecated GCP-only object the
 *   Account API no longer returns (it gives `network_id`); the emulator never returns `network`.
 * - run `remainingSeconds`: an active run ends by itself (SUCCESS) this many simulated seconds after start.
 */
export const RUN_EXTENSIONS = ['remainingSeconds'] as const;

/**
 * The valid name nearest to `name`, or undefined when none is close: Damerau-Levenshtein distance
 * (optimal string alignment) over lower-cased names, at most a third of the longer name (and at least 1),
 * so `stat` suggests `state` and `sql_warehouses` suggests `warehouses`, but `foo` suggests nothing.
 */
export function nearestName(name: string, valid: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of valid) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    const limit = Math.max(1, Math.floor(Math.max(name.length, candidate.length) / 3));
    if (distance <= limit && (best === undefined || distance < best.distance)) {
      best = { name: candidate, distance };
    }
  }
  return best?.name;
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  const at = (i: number, j: number) => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, at(i - 2, j - 2) + 1);
      }
      d[i * cols + j] = value;
    }
  }
  return at(a.length, b.length);
}
