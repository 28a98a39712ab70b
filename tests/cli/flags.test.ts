import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The local commands refuse command-line mistakes before any work, in one line with the usage and exit
 * code 2 (no stack trace), and `-h` answers with a help text.
 */
const ROOT = new URL('../../', import.meta.url).pathname;
const TSX = join(ROOT, 'node_modules/.bin/tsx');

function run(script: string, args: string[]) {
  const out = spawnSync(TSX, [join(ROOT, 'local/cli', script), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT' },
    timeout: 60_000,
  });
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

describe('npm start: flags', () => {
  it('answers -h with the help: every flag, exit codes and examples', () => {
    const out = run('start.ts', ['-h']);
    expect(out.code).toBe(0);
    for (const flag of ['--scenario', '--report', '--time-scale', '--quiet', '--verbose', 'examples:'])
      expect(out.stdout).toContain(flag);
  });

  it('answers a mistyped flag with the nearest valid one, the usage and exit code 2', () => {
    const out = run('start.ts', ['--sceanrio', 'x.json']);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('unknown option --sceanrio; did you mean --scenario?');
    expect(out.stderr).toContain('usage: npm start');
    expect(out.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a --report path whose directory does not exist before running anything', () => {
    const out = run('start.ts', ['--report', '/missing-dir-for-cmk-rotator/x.json']);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('directory /missing-dir-for-cmk-rotator does not exist');
    expect(out.stdout).not.toContain('Running scenario');
  });

  it('refuses a --report path that is a directory, and an unreadable --scenario, before running anything', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmk-rotator-cli-'));
    try {
      const report = run('start.ts', ['--report', dir]);
      expect(report.code).toBe(2);
      expect(report.stderr).toContain('is a directory');
      const scenario = run('start.ts', ['--scenario', join(dir, 'none.json')]);
      expect(scenario.code).toBe(2);
      expect(scenario.stderr).toContain('no such readable file');
      expect(scenario.stdout).not.toContain('Running scenario');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm start: reports', () => {
  it('writes the JSON report and the HTML page when both are asked for', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmk-rotator-cli-'));
    try {
      const out = run('start.ts', [
        '--scenario',
        join(ROOT, 'local/scenarios/rotate-managed-services.json'),
        '--report',
        join(dir, 'r.json'),
        '--report',
        join(dir, 'r.html'),
        '--quiet',
      ]);
      expect(out.code).toBe(0);
      const json = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as { status: string };
      expect(json.status).toBe('SUCCEEDED');
      const html = readFileSync(join(dir, 'r.html'), 'utf8');
      expect(html).toMatch(/^<!doctype html>/i);
      expect(html).toContain('<svg');
      expect(html).not.toContain('<script');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run emulator: flags', () => {
  it('answers a mistyped flag with the nearest valid one and exit code 2', () => {
    const out = run('emulator.ts', ['--prot', '8080']);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('did you mean --port?');
  });

  it('answers a busy --port in one line, without a stack trace', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const out = run('emulator.ts', ['--port', String(port)]);
      expect(out.code).toBe(2);
      expect(out.stderr).toContain('choose another --port');
      expect(out.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      server.close();
    }
  });
});
