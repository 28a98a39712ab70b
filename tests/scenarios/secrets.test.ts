import { afterEach, describe, expect, it, vi } from 'vitest';

// The logger reads its level once, at import: raise it before the product is loaded (imports below are dynamic).
process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
const { logger } = await import('../../lib/log.ts');
const { runScenario } = await import('../../local/runner/run.ts');
const { loadScenario } = await import('../../local/scenario.ts');

/** Captures what the Powertools logger prints (it writes through its own Console instance). */
function captureLogs() {
  const sink = (logger as unknown as { console: Record<string, (...args: unknown[]) => void> }).console;
  const lines: string[] = [];
  for (const method of ['debug', 'info', 'warn', 'error', 'log', 'trace']) {
    vi.spyOn(sink, method as never).mockImplementation(((...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    }) as never);
  }
  return { text: () => lines.join('\n') };
}

describe('Secrets', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('never appear in the logs, output, errors or call log of a full rotation (DESIGN §6.7)', async () => {
    // Prepare: capture everything the product logs at the most verbose level
    const scenario = await loadScenario(new URL('../../local/scenarios/demo.json', import.meta.url).pathname);
    const secret = scenario.databricks.servicePrincipal.clientSecret;
    expect(secret.length).toBeGreaterThan(8);
    const logs = captureLogs();

    // Act
    const report = await runScenario(scenario);
    vi.restoreAllMocks();

    // Assess: the run really logged, and neither the secret nor any bearer token shows anywhere
    expect(report.status).toBe('SUCCEEDED');
    expect(logs.text()).toContain('key policy patched');
    const everything = logs.text() + JSON.stringify(report);
    expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/Bearer\s+[A-Za-z0-9._-]{8,}/);
    expect(everything).not.toMatch(/"access_token"\s*:/);
  });

  it('a failed run does not leak them either', async () => {
    const scenario = await loadScenario(
      new URL('../../local/scenarios/failing-patch.json', import.meta.url).pathname,
    );
    const logs = captureLogs();
    const report = await runScenario(scenario);
    vi.restoreAllMocks();
    expect(report.status).toBe('FAILED');
    expect(logs.text()).toContain('failed');
    expect(logs.text() + JSON.stringify(report)).not.toContain(
      scenario.databricks.servicePrincipal.clientSecret,
    );
  });
});
