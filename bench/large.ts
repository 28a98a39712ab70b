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
