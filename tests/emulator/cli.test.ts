import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
let child: ChildProcess | undefined;

afterEach(() => {
  if (child && child.exitCode === null) child.kill('SIGTERM');
  child = undefined;
});

function spawnCli(args: string[]): ChildProcess {
  child = spawn(TSX, ['local/cli/emulator.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return child;
}

function firstLine(proc: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    proc.on('exit', (code) => reject(new Error(`emulator exited with ${code} before listening`)));
  });
}

function exit(proc: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    proc.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('npm run emulator', () => {
  it('prints the listening line and answers HTTP until terminated', async () => {
    // Prepare
    const proc = spawnCli(['--port', '0', '--scenario', 'local/scenarios/demo.json']);
    // Act
    const line = await firstLine(proc);
    const url = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)?.[1];
    const discovery = await fetch(`${url}/ws/acme-prod/oidc/.well-known/oauth-authorization-server`);
    const unauthenticated = await fetch(
      `${url}/api/2.0/accounts/0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e/workspaces`,
    );
    const exited = exit(proc);
    proc.kill('SIGTERM');
    // Assess
    expect(url).toBeDefined();
    expect(discovery.status).toBe(200);
    expect(unauthenticated.status).toBe(401);
    expect((await exited).code).toBe(0);
  });

  it('exits with code 2 and names the bad field of a broken scenario', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emulator-cli-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ databricks: { workspaces: [{ workspace_id: 'one' }] } }));

    const result = await exit(spawnCli(['--scenario', file]));

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('InvalidScenario: scenario field databricks.workspaces[0].workspace_id');
  });
});
