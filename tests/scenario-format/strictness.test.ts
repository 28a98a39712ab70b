import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidScenario, loadScenario, parseScenario } from '../../local/scenario.ts';
import { editDistance, nearestName } from '../../local/scenario-fields.ts';
import { emulatorFor } from '../emulator/helpers.ts';

type Json = Record<string, unknown>;

const WS_ID = 1234567890123456;
const KEY_CONFIG = 'cbe2d3a4-5f60-4718-9a2b-3c4d5e6f7081';
const KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function errorOf(json: unknown): InvalidScenario {
  try {
    parseScenario(json);
  } catch (error) {
    if (error instanceof InvalidScenario) return error;
    throw error;
  }
  throw new Error('expected InvalidScenario');
}

/** A scenario whose one workspace holds `resources`. */
const withWorkspace = (resources: Json, databricks: Json = {}) => ({
  databricks: { workspaces: [{ workspace_id: WS_ID, ...resources }], ...databricks },
});

// Entries as the API answers them: the fields of the SDK models (@databricks/sdk-experimental 0.17.0)
// with values in the shapes the Databricks API documents.

/** An entry of GET /api/2.0/accounts/{account_id}/customer-managed-keys. */
const keyConfigFromApi = {
  customer_managed_key_id: KEY_CONFIG,
  account_id: '0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e',
  aws_key_info: {
    key_arn: KEY_ARN,
    key_alias: 'alias/databricks-managed-services',
    key_region: 'us-east-1',
    reuse_key_for_cluster_volumes: true,
  },
  creation_time: 1_727_000_000_000,
  use_cases: ['MANAGED_SERVICES'],
};

/** An entry of GET /api/2.0/accounts/{account_id}/workspaces. */
const workspaceFromApi = {
  workspace_id: WS_ID,
  workspace_name: 'prod',
  deployment_name: 'acme-prod',
  aws_region: 'us-east-1',
  cloud: 'aws',
  account_id: '0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e',
  pricing_tier: 'ENTERPRISE',
  compute_mode: 'HYBRID',
  storage_mode: 'CUSTOMER_HOSTED',
  creation_time: 1_700_000_000_000,
  credentials_id: 'c7e1f2a3-0000-4000-8000-000000000001',
  storage_configuration_id: 's7e1f2a3-0000-4000-8000-000000000002',
  network_id: 'n7e1f2a3-0000-4000-8000-000000000003',
  private_access_settings_id: 'p7e1f2a3-0000-4000-8000-000000000004',
  managed_services_customer_managed_key_id: KEY_CONFIG,
  custom_tags: { team: 'data' },
  workspace_status: 'RUNNING',
  workspace_status_message: 'Workspace is running.',
};

/** An entry of GET /api/2.1/clusters/list. */
const clusterFromApi = {
  cluster_id: '0923-164208-meows279',
  cluster_name: 'etl',
  creator_user_name: 'someone@example.com',
  spark_version: '15.4.x-scala2.12',
  node_type_id: 'i3.xlarge',
  driver_node_type_id: 'i3.xlarge',
  autoscale: { min_workers: 2, max_workers: 8 },
  autotermination_minutes: 120,
  aws_attributes: { availability: 'SPOT_WITH_FALLBACK', zone_id: 'us-east-1a', first_on_demand: 1 },
  spark_conf: {},
  spark_env_vars: { PYSPARK_PYTHON: '/databricks/python3/bin/python3' },
  custom_tags: { team: 'data' },
  default_tags: { Vendor: 'Databricks', Creator: 'someone@example.com', ClusterName: 'etl' },
  enable_elastic_disk: true,
  enable_local_disk_encryption: false,
  init_scripts: [],
  data_security_mode: 'USER_ISOLATION',
  runtime_engine: 'PHOTON',
  cluster_source: 'UI',
  state: 'RUNNING',
  state_message: '',
  start_time: 1_727_108_528_364,
  last_restarted_time: 1_727_108_711_240,
  last_state_loss_time: 1_727_108_711_176,
  spark_context_id: 5_926_704_712_305_376,
  jdbc_port: 10000,
  cluster_memory_mb: 62464,
  cluster_cores: 8,
  driver: { private_ip: '10.0.1.12', node_id: 'a1b2c3', instance_id: 'i-0abc', start_timestamp: 1 },
  executors: [{ private_ip: '10.0.1.13', node_id: 'd4e5f6', instance_id: 'i-0def', start_timestamp: 1 }],
};

/** An entry of GET /api/2.0/instance-pools/list. */
const poolFromApi = {
  instance_pool_id: '0101-120000-brick1-pool-ABCD1234',
  instance_pool_name: 'shared',
  node_type_id: 'i3.xlarge',
  min_idle_instances: 2,
  max_capacity: 20,
  idle_instance_autotermination_minutes: 30,
  aws_attributes: { availability: 'SPOT', zone_id: 'us-east-1a', spot_bid_price_percent: 100 },
  custom_tags: { team: 'data' },
  default_tags: { Vendor: 'Databricks', DatabricksInstancePoolId: '0101-120000-brick1-pool-ABCD1234' },
  enable_elastic_disk: true,
  disk_spec: { disk_type: { ebs_volume_type: 'GENERAL_PURPOSE_SSD' }, disk_count: 1, disk_size: 100 },
  preloaded_spark_versions: ['15.4.x-scala2.12'],
  state: 'ACTIVE',
  stats: { used_count: 0, idle_count: 2, pending_used_count: 0, pending_idle_count: 0 },
  status: {},
};

/** An entry of GET /api/2.0/sql/warehouses. */
const warehouseFromApi = {
  id: 'd6d8b7e0f0a4c2e1',
  name: 'bi',
  cluster_size: 'Small',
  min_num_clusters: 1,
  max_num_clusters: 2,
  auto_stop_mins: 45,
  creator_name: 'someone@example.com',
  enable_photon: true,
  enable_serverless_compute: false,
  warehouse_type: 'PRO',
  spot_instance_policy: 'COST_OPTIMIZED',
  channel: { name: 'CHANNEL_NAME_CURRENT' },
  tags: { custom_tags: [{ key: 'team', value: 'bi' }] },
  state: 'RUNNING',
  num_clusters: 1,
  num_active_sessions: 3,
  jdbc_url: 'jdbc:spark://acme-prod.cloud.databricks.com:443/default',
  odbc_params: { hostname: 'acme-prod.cloud.databricks.com', path: '/sql/1.0/warehouses/d6d8b7e0f0a4c2e1' },
  health: { status: 'HEALTHY' },
};

/** An entry of GET /api/2.2/jobs/list?expand_tasks=true. */
const jobFromApi = {
  job_id: 11,
  creator_user_name: 'someone@example.com',
  created_time: 1_601_370_337_343,
  has_more: false,
  settings: {
    name: 'nightly',
    email_notifications: {},
    webhook_notifications: {},
    timeout_seconds: 0,
    max_concurrent_runs: 1,
    schedule: { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' },
    tasks: [
      {
        task_key: 'main',
        notebook_task: { notebook_path: '/Repos/etl/nightly', source: 'WORKSPACE' },
        job_cluster_key: 'main',
        timeout_seconds: 0,
      },
    ],
    job_clusters: [
      { job_cluster_key: 'main', new_cluster: { spark_version: '15.4.x-scala2.12', num_workers: 2 } },
    ],
    format: 'MULTI_TASK',
    queue: { enabled: true },
    run_as: { user_name: 'someone@example.com' },
  },
};

/** An entry of GET /api/2.2/jobs/runs/list?active_only=true. */
const runFromApi = {
  run_id: 901,
  job_id: 11,
  creator_user_name: 'someone@example.com',
  number_in_job: 901,
  original_attempt_run_id: 901,
  run_name: 'nightly',
  run_type: 'JOB_RUN',
  trigger: 'PERIODIC',
  attempt_number: 0,
  state: {
    life_cycle_state: 'RUNNING',
    state_message: '',
    user_cancelled_or_timedout: false,
  },
  status: { state: 'RUNNING' },
  schedule: { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' },
  cluster_instance: { cluster_id: clusterFromApi.cluster_id, spark_context_id: '5926704712305376' },
  start_time: 1_727_110_000_000,
  setup_duration: 0,
  execution_duration: 0,
  cleanup_duration: 0,
  end_time: 0,
  run_page_url: 'https://acme-prod.cloud.databricks.com/?o=1234567890123456#job/11/run/901',
};

/** An entry of GET /api/2.0/pipelines, with the `spec` of its GET /api/2.0/pipelines/{id}. */
const pipelineFromApi = {
  pipeline_id: 'a1b2c3d4-0000-4000-8000-000000000001',
  name: 'ingest',
  state: 'RUNNING',
  cluster_id: clusterFromApi.cluster_id,
  health: 'HEALTHY',
  creator_user_name: 'someone@example.com',
  run_as_user_name: 'someone@example.com',
  latest_updates: [{ update_id: 'u-1', state: 'RUNNING', creation_time: '2024-09-23T16:42:08.000Z' }],
  last_modified: 1_727_000_000_000,
  spec: {
    id: 'a1b2c3d4-0000-4000-8000-000000000001',
    name: 'ingest',
    continuous: true,
    development: false,
    photon: true,
    edition: 'ADVANCED',
    channel: 'CURRENT',
    catalog: 'main',
    schema: 'bronze',
    clusters: [{ label: 'default', autoscale: { min_workers: 1, max_workers: 4, mode: 'ENHANCED' } }],
    libraries: [{ notebook: { path: '/Repos/etl/ingest' } }],
    configuration: { 'pipelines.trigger.interval': '1 minute' },
  },
};

describe('Scenario strictness: Databricks resources accept only API field names', () => {
  it.each([
    [
      'a workspace',
      { workspace_stauts: 'RUNNING' },
      'databricks.workspaces[0].workspace_stauts',
      'workspace_status',
    ],
    ['a collection', { sql_warehouses: [] }, 'databricks.workspaces[0].sql_warehouses', 'warehouses'],
    ['a collection', { instance_pool: [] }, 'databricks.workspaces[0].instance_pool', 'instance_pools'],
    [
      'a cluster',
      { clusters: [{}, {}, { stat: 'RUNNING' }] },
      'databricks.workspaces[0].clusters[2].stat',
      'state',
    ],
    [
      "a cluster's autoscale",
      { clusters: [{ autoscale: { min_worker: 1, max_workers: 4 } }] },
      'databricks.workspaces[0].clusters[0].autoscale.min_worker',
      'min_workers',
    ],
    [
      'an instance pool',
      { instancePools: [{ min_idle_instance: 1 }] },
      'databricks.workspaces[0].instancePools[0].min_idle_instance',
      'min_idle_instances',
    ],
    [
      "an instance pool's stats",
      { instance_pools: [{ stats: { idle_cnt: 1 } }] },
      'databricks.workspaces[0].instance_pools[0].stats.idle_cnt',
      'idle_count',
    ],
    [
      'a warehouse',
      { warehouses: [{ auto_stop_min: 10 }] },
      'databricks.workspaces[0].warehouses[0].auto_stop_min',
      'auto_stop_mins',
    ],
    ['a job', { jobs: [{ job_idd: 1 }] }, 'databricks.workspaces[0].jobs[0].job_idd', 'job_id'],
    [
      "a job's settings",
      { jobs: [{ settings: { shedule: {} } }] },
      'databricks.workspaces[0].jobs[0].settings.shedule',
      'schedule',
    ],
    [
      "a job's schedule",
      { jobs: [{ settings: { schedule: { quartz_cron_expression: '0 0 2 * * ?', timezone: 'UTC' } } }] },
      'databricks.workspaces[0].jobs[0].settings.schedule.timezone',
      'timezone_id',
    ],
    [
      "a job's continuous",
      { jobs: [{ settings: { continuous: { pause_stauts: 'PAUSED' } } }] },
      'databricks.workspaces[0].jobs[0].settings.continuous.pause_stauts',
      'pause_status',
    ],
    [
      "a job's trigger",
      { jobs: [{ settings: { trigger: { file_arival: {} } } }] },
      'databricks.workspaces[0].jobs[0].settings.trigger.file_arival',
      'file_arrival',
    ],
    ['a run', { runs: [{ run_idd: 1 }] }, 'databricks.workspaces[0].runs[0].run_idd', 'run_id'],
    [
      "a run's extension",
      { runs: [{ remaining_seconds: 60 }] },
      'databricks.workspaces[0].runs[0].remaining_seconds',
      'remainingSeconds',
    ],
    [
      "a run's state",
      { runs: [{ state: { lifecycle_state: 'RUNNING' } }] },
      'databricks.workspaces[0].runs[0].state.lifecycle_state',
      'life_cycle_state',
    ],
    [
      "a run's cluster_instance",
      { runs: [{ cluster_instance: { clusterid: 'c' } }] },
      'databricks.workspaces[0].runs[0].cluster_instance.clusterid',
      'cluster_id',
    ],
    [
      'a pipeline',
      { pipelines: [{ pipelineId: 'p' }] },
      'databricks.workspaces[0].pipelines[0].pipelineId',
      'pipeline_id',
    ],
    [
      "a pipeline's spec",
      { pipelines: [{ spec: { continous: true } }] },
      'databricks.workspaces[0].pipelines[0].spec.continous',
      'continuous',
    ],
  ])('refuses a typo in %s, naming its path and the nearest valid name', (_kind, resources, path, near) => {
    // Act
    const error = errorOf(withWorkspace(resources));
    // Assess
    expect(error.name).toBe('InvalidScenario');
    expect(error.message).toContain(`scenario field ${path}: unknown field`);
    expect(error.message).toContain(`did you mean \`${near}\`?`);
    expect(error.details.field).toBe(path);
  });

  it.each([
    [
      'a key configuration',
      { keyConfigs: [{ ...keyConfigFromApi, use_case: ['STORAGE'] }] },
      'databricks.keyConfigs[0].use_case',
      'use_cases',
    ],
    [
      "a key configuration's aws_key_info",
      { keyConfigs: [{ ...keyConfigFromApi, aws_key_info: { keyArn: KEY_ARN, key_arn: KEY_ARN } }] },
      'databricks.keyConfigs[0].aws_key_info.keyArn',
      'key_arn',
    ],
  ])('refuses a typo in %s, naming its path and the nearest valid name', (_kind, databricks, path, near) => {
    const error = errorOf({ databricks });

    expect(error.message).toContain(`scenario field ${path}: unknown field`);
    expect(error.message).toContain(`did you mean \`${near}\`?`);
  });

  it('reports the unknown field before the fields it left missing', () => {
    const error = errorOf(withWorkspace({ clusters: [{ autoscale: { min_worker: 1, max_worker: 4 } }] }));

    expect(error.message).toContain('autoscale.min_worker: unknown field');
  });

  it('suggests nothing when no valid name is close', () => {
    const error = errorOf(withWorkspace({ clusters: [{ colour: 'blue' }] }));

    expect(error.message).toContain('databricks.workspaces[0].clusters[0].colour: unknown field');
    expect(error.message).toContain("Databricks API's ClusterDetails");
    expect(error.message).not.toContain('did you mean');
  });

  it('accepts resources pasted from the API and keeps every field as given', () => {
    // Act
    const scenario = parseScenario({
      databricks: {
        keyConfigs: [keyConfigFromApi],
        workspaces: [
          {
            ...workspaceFromApi,
            clusters: [clusterFromApi],
            instance_pools: [poolFromApi],
            warehouses: [warehouseFromApi],
            jobs: [jobFromApi],
            runs: [runFromApi],
            pipelines: [pipelineFromApi],
          },
        ],
      },
    });
    // Assess
    const ws = scenario.databricks.workspaces[0];
    expect(scenario.databricks.keyConfigs[0]).toEqual(keyConfigFromApi);
    expect(ws).toMatchObject(workspaceFromApi);
    expect(ws?.clusters[0]).toEqual(clusterFromApi);
    expect(ws?.instancePools[0]).toEqual(poolFromApi);
    expect(ws?.warehouses[0]).toEqual(warehouseFromApi);
    expect(ws?.jobs[0]).toEqual(jobFromApi);
    expect(ws?.runs[0]).toEqual(runFromApi);
    expect(ws?.pipelines[0]).toEqual(pipelineFromApi);
  });

  it('serves pasted resources back through the API, pools given as instance_pools included', async () => {
    // Prepare
    const env = await emulatorFor(
      parseScenario({
        databricks: {
          keyConfigs: [keyConfigFromApi],
          workspaces: [{ ...workspaceFromApi, clusters: [clusterFromApi], instance_pools: [poolFromApi] }],
        },
      }),
    );
    try {
      // Act
      const clusters = await env.ws('GET', '/api/2.1/clusters/list');
      const pools = await env.ws('GET', '/api/2.0/instance-pools/list');
      // Assess
      expect(clusters.body.clusters).toEqual([expect.objectContaining(clusterFromApi)]);
      expect(pools.body.instance_pools).toEqual([
        expect.objectContaining({
          instance_pool_id: poolFromApi.instance_pool_id,
          disk_spec: poolFromApi.disk_spec,
        }),
      ]);
    } finally {
      await env.emu.close();
    }
  });

  it.each(['clusters', 'instance_pools', 'instancePools', 'warehouses', 'jobs', 'runs', 'pipelines'])(
    'accepts the collection %s',
    (collection) => {
      expect(() => parseScenario(withWorkspace({ [collection]: [] }))).not.toThrow();
    },
  );

  it('takes pools given as instance_pools into instancePools', () => {
    const scenario = parseScenario(withWorkspace({ instance_pools: [{ instance_pool_id: 'p-1' }] }));

    const ws = scenario.databricks.workspaces[0] as Json | undefined;
    expect(ws?.instancePools).toMatchObject([{ instance_pool_id: 'p-1', min_idle_instances: 0 }]);
    expect(ws).not.toHaveProperty('instance_pools');
  });

  it('refuses pools given under both spellings', () => {
    const error = errorOf(withWorkspace({ instancePools: [], instance_pools: [] }));

    expect(error.message).toContain('databricks.workspaces[0].instance_pools');
    expect(error.message).toContain('instancePools or as instance_pools');
  });

  it('keeps accepting the format extensions network and remainingSeconds', () => {
    const scenario = parseScenario(
      withWorkspace({ network: 'customer-managed', runs: [{ run_id: 1, remainingSeconds: 60 }] }),
    );

    const ws = scenario.databricks.workspaces[0];
    expect(ws?.network).toBe('customer-managed');
    expect(ws?.runs[0]?.remainingSeconds).toBe(60);
  });

  it('parses every shipped scenario', async () => {
    const dir = join(import.meta.dirname, '../../local/scenarios');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

    expect(files.length).toBeGreaterThan(0);
    for (const file of files) await expect(loadScenario(join(dir, file))).resolves.toBeDefined();
  });
});

describe('nearestName', () => {
  it('counts an adjacent transposition as one edit', () => {
    expect(editDistance('stauts', 'status')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('state', 'state')).toBe(0);
  });

  it('suggests the closest name, ignoring case', () => {
    expect(nearestName('stat', ['state', 'start_time', 'stats'])).toBe('state');
    expect(nearestName('InstancePools', ['instancePools', 'instance_pools'])).toBe('instancePools');
  });

  it('suggests nothing when every name is far', () => {
    expect(nearestName('foo', ['state', 'cluster_id'])).toBeUndefined();
    expect(nearestName('x', ['id'])).toBeUndefined();
  });
});
