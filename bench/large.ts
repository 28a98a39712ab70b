import { readFileSync } from 'node:fs';
import { parseScenario, type Scenario } from '../local/scenario.ts';

/**
 * The demo scenario with one workspace holding `resources` pieces of compute, all running: 60 % all-purpose
 * clusters, 10 % each pools (with idle instances), warehouses, scheduled jobs and pipelines. For the bench's
 * scale rows (the figures of the performance issue are for 1,000 resources).
 */
export function largeScenario(resources: number): Scenario {
  type Json = Record<string, unknown>;
  const demo = JSON.parse(
    readFileSync(new URL('../local/scenarios/demo.json', import.meta.url), 'utf8'),
  ) as Json & {
    databricks: Json & { workspaces: Json[] };
  };
  const share = (p: number) => Math.round(resources * p);
  const ws = demo.databricks.workspaces[0] as Json;
  ws.clusters = Array.from({ length: resources - 4 * share(0.1) }, (_, i) => ({
    cluster_id: `1129-000000-c${String(i).padStart(5, '0')}`,
    cluster_name: `cluster-${i}`,
    state: 'RUNNING',
    cluster_source: i % 5 === 0 ? 'API' : 'UI',
    num_workers: 2,
  }));
  ws.instancePools = Array.from({ length: share(0.1) }, (_, i) => ({
    instance_pool_id: `pool-${i}`,
    instance_pool_name: `pool-${i}`,
    node_type_id: 'i3.xlarge',
    min_idle_instances: 1,
    idle_instance_autotermination_minutes: 30,
    stats: { idle_count: 1, used_count: 0, pending_idle_count: 0, pending_used_count: 0 },
  }));
  ws.warehouses = Array.from({ length: share(0.1) }, (_, i) => ({
    id: `wh${String(i).padStart(14, '0')}`,
    name: `warehouse-${i}`,
    state: 'RUNNING',
    warehouse_type: 'PRO',
    enable_serverless_compute: false,
  }));
  ws.jobs = Array.from({ length: share(0.1) }, (_, i) => ({
    job_id: 10_000 + i,
    settings: {
      name: `job-${i}`,
      schedule: { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' },
    },
  }));
  ws.runs = [];
  ws.pipelines = Array.from({ length: share(0.1) }, (_, i) => ({
    pipeline_id: `pipeline-${i}`,
    name: `pipeline-${i}`,
    state: 'RUNNING',
    spec: { continuous: true },
  }));
  demo.name = `large-${resources}`;
  demo.databricks.rateLimits = { workspace: null, account: null };
  return parseScenario(demo);
}

/**
 * `count` workspaces of a few resources each (one running cluster, one terminated, one warehouse), all on
 * the scenario's managed-services key, rotated by one manual execution: the account-size rows of the bench.
 */
export function manyWorkspacesScenario(count: number): Scenario {
  type Json = Record<string, unknown>;
  const raw = JSON.parse(
    readFileSync(new URL('../local/scenarios/rotate-managed-services.json', import.meta.url), 'utf8'),
  ) as Json & { databricks: Json & { workspaces: Json[] }; input: Json; settings: Json };
  const template = raw.databricks.workspaces[0] as Json;
  const ids = Array.from({ length: count }, (_, i) => 2_000_000_000_000_000 + i);
  raw.databricks.workspaces = ids.map((id, i) => ({
    workspace_id: id,
    workspace_name: `ws-${i}`,
    deployment_name: `ws-${i}`,
    aws_region: template.aws_region,
    workspace_status: 'RUNNING',
    managed_services_customer_managed_key_id: template.managed_services_customer_managed_key_id,
    clusters: [
      { cluster_id: `c-${i}-a`, cluster_name: 'etl', state: 'RUNNING', cluster_source: 'UI' },
      { cluster_id: `c-${i}-b`, cluster_name: 'adhoc', state: 'TERMINATED', cluster_source: 'UI' },
    ],
    warehouses: [{ id: `wh${i}`, name: 'bi', state: 'RUNNING', warehouse_type: 'PRO' }],
  }));
  raw.name = `workspaces-${count}`;
  raw.databricks.rateLimits = { workspace: null, account: null, token: null };
  raw.input = { ...raw.input, workspaceIds: ids };
  raw.settings = { ...raw.settings, workspaceIds: ids, maxConcurrentWorkspaces: 40 };
  return parseScenario(raw);
}
