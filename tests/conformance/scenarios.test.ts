import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../local/scenario.ts';
import { all, answerMisfits, sdkAgainstEmulator } from './harness.ts';

/**
 * Every scenario shipped in local/scenarios, read through the SDK: each list and each get of each workspace,
 * and the account's workspaces and key configurations. Whatever a scenario holds, what the emulator answers
 * must fit the SDK's models (a scenario field the API does not have must not leak into an answer).
 */
const DIR = new URL('../../local/scenarios/', import.meta.url);
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.json'));

describe('Every bundled scenario, read through the SDK', () => {
  it.each(FILES)('%s answers within the SDK models', async (file) => {
    const scenario = await loadScenario(new URL(file, DIR).pathname);
    // The shapes only: no faults, rate limits or latency (throttling has its own tests).
    const env = await sdkAgainstEmulator({
      ...scenario,
      databricks: {
        ...scenario.databricks,
        faults: [],
        rateLimits: { workspace: null, account: null, token: null },
        timings: { ...scenario.databricks.timings, apiLatencyMs: [0, 0] },
      },
    });
    try {
      await env.account.workspaces.list();
      await env.account.encryptionKeys.list();
      for (const ws of scenario.databricks.workspaces) {
        await env.account.workspaces.get({ workspace_id: ws.workspace_id });
        const w = env.workspace(ws.deployment_name);
        for (const c of await all(w.clusters.list({})))
          await w.clusters.get({ cluster_id: c.cluster_id ?? '' });
        for (const p of await all(w.instancePools.list())) {
          await w.instancePools.get({ instance_pool_id: p.instance_pool_id ?? '' });
        }
        for (const h of await all(w.warehouses.list({}))) await w.warehouses.get({ id: h.id ?? '' });
        for (const j of await all(w.jobs.list({ expand_tasks: true })))
          await w.jobs.get({ job_id: j.job_id ?? 0 });
        for (const r of await all(w.jobs.listRuns({}))) await w.jobs.getRun({ run_id: r.run_id ?? 0 });
        for (const p of await all(w.pipelines.listPipelines({}))) {
          await w.pipelines.get({ pipeline_id: p.pipeline_id ?? '' });
          await w.pipelines.listUpdates({ pipeline_id: p.pipeline_id ?? '' });
        }
      }
      const problems = env.seen.flatMap((a) => {
        const list = a.method === 'GET' && /\/(workspaces|customer-managed-keys)$/.test(a.path);
        return answerMisfits(a.method, a.path, list ? Object.values(a.body as object) : a.body).map(
          (m) => `${a.method} ${a.path} ${m.path} ${m.problem}`,
        );
      });

      expect(problems).toEqual([]);
    } finally {
      await env.emu.close();
    }
  });
});
