import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * The emulator README's standalone session, run exactly as written: the `npm run emulator` line, the curl
 * session and the SDK snippet (each the code block after its `<!-- readme-test: … -->` marker), compared with
 * the outputs the README shows. Only the ports change (8080/8081 → two free ones), so the test never collides
 * with a running emulator.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(new URL('../../local/emulator/README.md', import.meta.url), 'utf8');
let emulator: ChildProcess | undefined;

afterEach(() => {
  // npm → tsx → node: the whole process group goes.
  if (emulator?.pid !== undefined && emulator.exitCode === null) process.kill(-emulator.pid, 'SIGTERM');
  emulator = undefined;
});

/** The fenced block right after `<!-- readme-test: name -->`. */
function block(name: string): string {
  const match = new RegExp(`<!-- readme-test: ${name} -->\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\\n\`\`\``).exec(
    README,
  );
  if (!match?.[1]) throw new Error(`the README has no block marked readme-test: ${name}`);
  return match[1];
}

/** A port P with P + 1 free too (the emulator's first workspace host). */
async function freePorts(): Promise<number> {
  for (;;) {
    const port = await listenOnce(0);
    if ((await listenOnce(port + 1).catch(() => 0)) === port + 1) return port;
  }
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}

function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Environment without DATABRICKS_* settings, so the SDK's environment loader adds nothing. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DATABRICKS_')));
}

describe('the emulator README', () => {
  it('runs its curl session and its SDK snippet against `npm run emulator` exactly as written', async () => {
    // Prepare: the README's start line, on free ports.
    const port = await freePorts();
    const ports = (text: string) =>
      text.replaceAll('8080', String(port)).replaceAll('8081', String(port + 1));
    emulator = spawn('bash', ['-c', ports(block('start'))], { cwd: ROOT, detached: true });
    const listening = await new Promise<string>((resolve, reject) => {
      let out = '';
      emulator?.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (/time scale: .*\n/.test(out)) resolve(out);
      });
      emulator?.on('exit', (code) => reject(new Error(`the emulator exited with ${code}: ${out}`)));
    });

    // Act
    const curl = await run('bash', ['-c', ports(block('curl'))]);
    const sdk = await run(process.execPath, ['--input-type=module', '-e', ports(block('sdk'))], {
      env: cleanEnv(),
    });

    // Assess
    expect(listening).toContain(`listening on http://127.0.0.1:${port}\n`);
    expect(listening).toContain(`acme-prod (1234567890123456) at http://127.0.0.1:${port + 1}`);
    // Real time by default: tokens last the hour their expires_in says.
    expect(listening).toContain('time scale: 1 simulated seconds per second');
    expect(curl.stderr).toBe('');
    expect(curl.stdout).toBe(`${block('curl-output')}\n`);
    expect(sdk.stderr).toBe('');
    expect(sdk.stdout).toBe(`${block('sdk-output')}\n`);
  });
});
