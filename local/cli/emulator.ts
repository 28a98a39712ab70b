/**
 * `npm run emulator -- [--scenario FILE] [--port N] [--time-scale N]`
 * Serves the Databricks emulator for a scenario until SIGINT/SIGTERM. Prints `listening on http://127.0.0.1:N`
 * first (scripts parse that line), then the workspace URL template, each workspace's own host (port N+1, N+2, …
 * in scenario order when --port is given) and the service principal's client id.
 *
 * Time runs at real speed unless `--time-scale` says otherwise (the scenario's `timeScale` is for the local
 * runner): an external client computes a token's expiry from `expires_in` on its own clock, so at any other
 * speed its tokens would expire before it expects. A bad scenario exits with code 2 and the InvalidScenario
 * message.
 */
import { startEmulator } from '../emulator/index.ts';
import { InvalidScenario, loadScenario, parseScenario, type Scenario } from '../scenario.ts';
import { parseFlags, UsageError } from './args.ts';

const USAGE = `usage: npm run emulator -- [--scenario FILE] [--port N] [--time-scale N]

Serves the Databricks Account and Workspace API emulator for a scenario until Ctrl-C. The first line printed
is "listening on http://127.0.0.1:N". Exit code 2 on a command-line or scenario error.

  --scenario FILE   scenario whose account, workspaces and compute it serves (default: an empty account)
  --port N          port of the account host; workspace hosts take N+1, N+2, … (default: any free port)
  --time-scale N    simulated seconds per real second (default 1: real time, so OAuth expiry matches)
  -h, --help        this help

example:
  npm run emulator -- --scenario local/scenarios/demo.json --port 8080
`;

async function main(): Promise<number> {
  let values: { scenario?: string; port?: string; 'time-scale'?: string; help?: boolean };
  try {
    values = parseFlags({
      scenario: { type: 'string' },
      port: { type: 'string' },
      'time-scale': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.name}: ${error.message}\n${USAGE.split('\n')[0]}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port must be an integer 0-65535, got ${values.port}\n`);
    return 2;
  }
  const timeScale = values['time-scale'] === undefined ? 1 : Number(values['time-scale']);
  if (!(timeScale > 0)) {
    process.stderr.write(`--time-scale must be a positive number, got ${values['time-scale']}\n`);
    return 2;
  }
  let scenario: Scenario;
  try {
    scenario = values.scenario ? await loadScenario(values.scenario) : parseScenario({}, 'defaults');
  } catch (error) {
    if (error instanceof InvalidScenario) {
      process.stderr.write(`${error.name}: ${error.message}\n`);
      return 2;
    }
    if (
      (error as NodeJS.ErrnoException).code === 'ENOENT' ||
      (error as NodeJS.ErrnoException).code === 'EACCES'
    ) {
      process.stderr.write(`--scenario ${values.scenario}: no such readable file\n`);
      return 2;
    }
    throw error;
  }
  let emulator: Awaited<ReturnType<typeof startEmulator>>;
  try {
    emulator = await startEmulator(scenario, { port, timeScale, workspaceHosts: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    process.stderr.write(
      `${(error as Error).message}: the emulator needs port ${port} and one more per workspace (${port + 1}…); choose another --port\n`,
    );
    return 2;
  }
  const sp = scenario.databricks.servicePrincipal;
  process.stdout.write(
    [
      `listening on ${emulator.url}`,
      `account id: ${scenario.databricks.accountId} (Account API and OIDC at ${emulator.accountsHost})`,
      `workspace URL template: ${emulator.workspaceUrlTemplate}`,
      `workspaces: ${scenario.databricks.workspaces.map((w) => `${w.deployment_name} (${w.workspace_id}) at ${emulator.workspaceHosts[w.deployment_name]}`).join(', ')}`,
      `service principal client id: ${sp.clientId} (secret: see the scenario)`,
      `time scale: ${emulator.clock.timeScale} simulated seconds per second`,
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await emulator.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
