import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, ROOT, scenarioPath } from './helpers.ts';

/**
 * The `cmk-rotator` command as a person runs it (package.json `bin` → bin/cmk-rotator.mjs, TypeScript through
 * tsx): help on every command, command-line mistakes answered with the usage and exit code 2, and `simulate`
 * delegating to the local run.
 */
const BIN = join(ROOT, 'bin/cmk-rotator.mjs');

function run(args: string[]) {
  const out = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'INFO' },
    timeout: 60_000,
  });
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

describe('bin/cmk-rotator.mjs', () => {
  it('is the package bin', async () => {
    const pkg = (await import('../../package.json', { with: { type: 'json' } })).default as { bin?: unknown };
    expect(pkg.bin).toEqual({ 'cmk-rotator': 'bin/cmk-rotator.mjs' });
  });

  it('answers --help and each command’s -h with a description and examples', async () => {
    const top = run(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['plan', 'start', 'watch', 'restore', 'simulate']) {
      expect(top.stdout).toContain(`  ${command} `);
      // In process (each spawn costs a second of tsx start-up): the same main() the launcher calls.
      const help = await cli([command, '-h']);
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toMatch(new RegExp(`^usage: cmk-rotator ${command}`));
      expect(help.stdout, command).toContain('examples:');
    }
    const viaHelp = await cli(['help', 'restore']);
    expect(viaHelp.stdout).toMatch(/^usage: cmk-rotator restore/);
    const bare = await cli([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('usage: cmk-rotator <command>');
  });

  it('answers an unknown command or flag with the nearest valid one, the usage and exit code 2, no stack', () => {
    const command = run(['restroe']);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('unknown command restroe; did you mean restore?');
    const flag = run(['simulate', '--sceanrio', 'x.json']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('unknown option --sceanrio; did you mean --scenario?');
    expect(flag.stderr).toContain('usage: cmk-rotator simulate');
    expect(flag.stderr).not.toMatch(/\n\s+at /);
  });

  it('keeps the product’s logs out of the output (and --json parseable) unless --verbose', () => {
    const plan = run(['plan', '--scenario', scenarioPath('storage-already-set'), '--json']);
    expect(plan.code).toBe(1);
    expect(JSON.parse(plan.stdout).refused.name).toBe('StorageKeyAlreadySet');
  });

  it('simulate runs the local rotation (npm start) with the same flags', () => {
    const sim = run([
      'simulate',
      '--scenario',
      scenarioPath('rotate-managed-services'),
      '--time-scale',
      '0',
      '--quiet',
    ]);
    expect(sim.stderr).toBe('');
    expect(sim.code).toBe(0);
    expect(JSON.parse(sim.stdout)).toEqual({
      scenario: 'rotate-managed-services',
      status: 'SUCCEEDED',
      error: null,
    });
  });
});
