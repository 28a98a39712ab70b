import { describe, expect, it } from 'vitest';
import { progressPrinter } from '../../local/runner/progress.ts';
import { runScenario } from '../../local/runner/run.ts';
import { loadScenario } from '../../local/scenario.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

async function timeline(name: string): Promise<string[]> {
  const lines: string[] = [];
  const scenario = await loadScenario(
    new URL(`../../local/scenarios/${name}.json`, import.meta.url).pathname,
  );
  await runScenario(scenario, { onEvent: progressPrinter((l) => lines.push(l)) });
  return lines;
}

describe('The live timeline', () => {
  it('never contradicts an error with the next line: a failed PATCH is not followed by "already set"', async () => {
    const lines = await timeline('failing-patch');
    const failure = lines.findIndex((l) => l.includes('Update workspace failed: DatabricksUnavailable'));
    expect(failure).toBeGreaterThan(-1);
    // the error is the message, not Lambda's JSON envelope, and it names the workspace
    expect(lines[failure]).toContain('[prod]');
    expect(lines[failure]).not.toContain('errorType');
    expect(lines.some((l) => l.includes('already set, no PATCH'))).toBe(false);
    expect(lines[failure + 1]).toContain('Check the workspace before restoring');
  });

  it('still prints the result of a Task that succeeded after a retry', async () => {
    const lines = await timeline('lost-answers');
    expect(
      lines.some((l) => /Update workspace — PATCH/.test(l) || /Update workspace — already set/.test(l)),
    ).toBe(true);
    expect(lines.some((l) => l.includes('Check compute restored — RESTORED'))).toBe(true);
  });

  it('tells per workspace what was stopped, what was stopped again, the update and what was restored', async () => {
    const scenario = await loadScenario(
      new URL('../../local/scenarios/compute-comes-back.json', import.meta.url).pathname,
    );
    const printer = progressPrinter(() => {});
    await runScenario(scenario, { onEvent: printer });
    const story = printer.workspaceStories().join('\n');
    expect(story).toContain('Workspace prod:');
    expect(story).toContain(
      'stopped: 6 clusters, 2 pools, 2 warehouses, 4 job schedules paused, 1 pipelines',
    );
    expect(story).toContain('job runs: 1 active: cancelled');
    const again = story.split('\n').find((l) => l.includes('stopped again')) ?? '';
    expect(again).toContain('(started outside cmk-rotator during the window)');
    expect(again).toMatch(/warehouse a1b2c3d4e5f60001 \(at \d/);
    expect(again).toMatch(/cluster 1129-063001-demo01 \(at \d/);
    expect(story).toContain('update: PATCH managed_services_customer_managed_key_id; then workspace RUNNING');
    expect(story).toContain('restored: 4 clusters, 2 pools, 2 warehouses, 1 pipelines, 4 jobs');
  });

  it('prints a dry run as a table: one row per workspace with its keys and changes, then the steps', async () => {
    const scenario = await loadScenario(
      new URL('../../local/scenarios/rotate-managed-services.json', import.meta.url).pathname,
    );
    (scenario.input as Record<string, unknown>).dryRun = true;
    const lines: string[] = [];
    await runScenario(scenario, { onEvent: progressPrinter((l) => lines.push(l)) });
    const text = lines.join('\n');
    expect(text).toMatch(/workspace\s+name\s+region\s+managed-services key now\s+storage key now\s+changes/);
    expect(text).toMatch(/1234567890123456\s+prod\s+us-east-1\s+arn:aws:kms:\S+\s+none\s+managed services/);
    expect(text).toContain('steps (each workspace):');
  });
});
