import { DEPLOYMENT, type Json, WS_ID } from './harness.ts';

export const KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
export const NEW_KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/5678efgh-12ab-34cd-56ef-1234567890ab';
export const KEY_CONFIG_ID = '11111111-aaaa-4bbb-8ccc-000000000001';

const cluster = (id: string, source: string, state: string, extra: Json = {}): Json => ({
  cluster_id: id,
  cluster_name: id,
  cluster_source: source,
  state,
  spark_version: '15.4.x-scala2.12',
  node_type_id: 'i3.xlarge',
  ...(extra.autoscale ? {} : { num_workers: 2 }),
  autotermination_minutes: 120,
  creator_user_name: 'alice@example.com',
  ...extra,
});

/**
 * One workspace with a bit of everything the product touches, owned compute linked the way Databricks links it:
 * a job run on its job cluster (`cluster_instance`), a pipeline on its cluster (`cluster_id`) and a SQL
 * warehouse's cluster tagged `SqlWarehouseId` (a default tag of Databricks SQL compute).
 */
export function workspaceWithEverything(extra: Json = {}): Json {
  return {
    workspace_id: WS_ID,
    workspace_name: 'prod',
    deployment_name: DEPLOYMENT,
    aws_region: 'us-east-1',
    network: 'customer-managed',
    managed_services_customer_managed_key_id: KEY_CONFIG_ID,
    // A scenario may say "no key" with null; the API leaves the field out.
    storage_customer_managed_key_id: null,
    clusters: [
      cluster('0101-000000-ui0001', 'UI', 'RUNNING'),
      cluster('0101-000000-ui0002', 'UI', 'TERMINATED'),
      cluster('0101-000000-api001', 'API', 'RUNNING', {
        autoscale: { min_workers: 1, max_workers: 4 },
        instance_pool_id: 'pool-0001',
      }),
      cluster('0101-000000-ui0003', 'UI', 'TERMINATED'),
      cluster('0101-000000-job001', 'JOB', 'RUNNING', {
        default_tags: { JobId: '101', RunName: 'nightly-etl' },
      }),
      cluster('0101-000000-dlt001', 'PIPELINE', 'RUNNING'),
      cluster('0101-000000-sql001', 'SQL', 'RUNNING', {
        default_tags: { SqlWarehouseId: 'wh00000000000001' },
      }),
    ],
    instancePools: [
      {
        instance_pool_id: 'pool-0001',
        instance_pool_name: 'general',
        node_type_id: 'i3.xlarge',
        min_idle_instances: 1,
        max_capacity: 10,
        idle_instance_autotermination_minutes: 30,
        custom_tags: { team: 'data' },
      },
    ],
    warehouses: [
      {
        id: 'wh00000000000001',
        name: 'bi',
        state: 'RUNNING',
        warehouse_type: 'CLASSIC',
        cluster_size: 'Small',
        auto_stop_mins: 45,
      },
      {
        id: 'wh00000000000002',
        name: 'serverless',
        state: 'STOPPED',
        warehouse_type: 'PRO',
        enable_serverless_compute: true,
        cluster_size: 'Small',
      },
    ],
    jobs: [
      {
        job_id: 101,
        settings: {
          name: 'nightly-etl',
          schedule: { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' },
          max_concurrent_runs: 1,
        },
      },
      {
        job_id: 102,
        settings: { name: 'stream', continuous: { pause_status: 'UNPAUSED' } },
      },
      { job_id: 103, settings: { name: 'adhoc' } },
    ],
    runs: [
      {
        run_id: 501,
        job_id: 101,
        run_type: 'JOB_RUN',
        trigger: 'PERIODIC',
        state: { life_cycle_state: 'RUNNING' },
        cluster_instance: { cluster_id: '0101-000000-job001' },
      },
      {
        run_id: 502,
        job_id: 102,
        run_type: 'JOB_RUN',
        trigger: 'CONTINUOUS',
        state: { life_cycle_state: 'RUNNING' },
      },
      {
        run_id: 503,
        job_id: 103,
        run_type: 'JOB_RUN',
        trigger: 'ONE_TIME',
        state: { life_cycle_state: 'TERMINATED', result_state: 'SUCCESS' },
      },
    ],
    pipelines: [
      {
        pipeline_id: 'b7c8d9e0-0000-4000-8000-000000000001',
        name: 'ingest',
        state: 'RUNNING',
        cluster_id: '0101-000000-dlt001',
        spec: { continuous: true, serverless: false },
      },
      {
        pipeline_id: 'b7c8d9e0-0000-4000-8000-000000000002',
        name: 'daily-gold',
        state: 'IDLE',
        spec: { continuous: false, serverless: false },
      },
    ],
    ...extra,
  };
}

export const KEY_CONFIGS = [
  {
    customer_managed_key_id: KEY_CONFIG_ID,
    use_cases: ['MANAGED_SERVICES'],
    aws_key_info: { key_arn: KEY_ARN, key_alias: 'alias/databricks-managed-services' },
  },
];
