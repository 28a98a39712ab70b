import { describe, expect, it } from 'vitest';
import type { CallLogEntry } from '../../local/emulator/index.ts';
import type { Report } from '../../local/runner/report.ts';
import { runScenario } from '../../local/runner/run.ts';
import { loadScenario } from '../../local/scenario.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

type Json = Record<string, unknown>;
const WS = 1234567890123456;
const NEW_KEY = 'arn:aws:kms:us-east-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef';

async function run(name: string): Promise<Report> {
  return runScenario(
    await loadScenario(new URL(`../../local/scenarios/${name}.json`, import.meta.url).pathname),
  );
}
const path = (e: CallLogEntry) => e.path.replace(/^\/ws\/[^/]+/, '').split('?')[0] ?? '';
const workspace = (r: Report) =>
  (r.final.databricks.workspaces as Json[]).find((w) => w.workspace_id === WS) as Json;
const keyArnOf = (r: Report, configId: unknown) =>
  (
    (r.final.databricks.keyConfigs as Json[]).find((c) => c.customer_managed_key_id === configId)
      ?.aws_key_info as Json
  )?.key_arn;
const runningUi = (r: Report) =>
  ((workspace(r).clusters as Json[]) ?? [])
    .filter((c) => ['UI', 'API'].includes(String(c.cluster_source)) && c.state === 'RUNNING')
    .map((c) => c.cluster_id)
    .sort();

describe('Shipped recovery scenarios', () => {
  it('lost-answers: a lost PATCH answer, a short cluster list, S3 slow-downs and a lost Lambda answer still rotate', async () => {
    const report = await run('lost-answers');
    expect(report.status).toBe('SUCCEEDED');
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
    expect(report.callLog.filter((e) => e.method === 'PATCH' && /workspaces/.test(path(e)))).toHaveLength(1);
    expect(keyArnOf(report, workspace(report).managed_services_customer_managed_key_id)).toBe(NEW_KEY);
    // The cluster the short list missed runs again too.
    expect(runningUi(report)).toContain('1129-063002-demo02');
  });

  it('slow-update-recovery: a 90-minute update past its deadline is waited out before anything restarts', async () => {
    const report = await run('slow-update-recovery');
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('WorkspaceUpdateTimedOut');
    expect(report.error?.cause).toMatch(/\[key changed; compute restored/);
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
    const patchAt = report.callLog.find((e) => e.method === 'PATCH')?.t ?? 0;
    const firstStart = report.callLog.find((e) => e.method === 'POST' && /clusters\/start/.test(path(e)));
    expect(firstStart?.t ?? 0).toBeGreaterThanOrEqual(patchAt + 5400);
  });

  it('compensation-fails: compute that cannot come back is named by id with its last error', async () => {
    const report = await run('compensation-fails');
    expect(report.status).toBe('FAILED');
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
    expect(report.error?.cause).toMatch(/compute NOT fully restored/);
    for (const id of ['1129-063001-demo01', '1129-063002-demo02', '1129-063003-demo03']) {
      expect(report.error?.cause).toContain(id);
    }
    expect(report.error?.cause).toMatch(/no capacity/);
  });
});
