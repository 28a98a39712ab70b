import { startEmulator } from '../../local/emulator/index.ts';
import { parseScenario, type Scenario } from '../../local/scenario.ts';

export type Json = Record<string, unknown>;

/** Fixed, long platform durations: intermediate states stay visible however slow the test machine is. */
export const SLOW_TIMINGS = {
  clusterTerminate: [900, 900],
  clusterStart: [900, 900],
  warehouseStop: [900, 900],
  warehouseStart: [900, 900],
  poolIdleRelease: [900, 900],
  poolIdleFill: [900, 900],
  pipelineStop: [900, 900],
  pipelineStart: [900, 900],
  runCancel: [900, 900],
  workspaceUpdate: [1800, 1800],
  apiLatencyMs: [0, 0],
};

export const ACCOUNT = '0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e';
export const WS_ID = 1234567890123456;
export const DEPLOYMENT = 'acme-prod';

export interface Answer {
  status: number;
  body: Json;
  headers: Headers;
}

/** A scenario from a partial `databricks` section with SLOW_TIMINGS unless given. */
export function scenarioWith(databricks: Json = {}, rest: Json = {}): Scenario {
  return parseScenario({ ...rest, databricks: { timings: SLOW_TIMINGS, ...databricks } });
}

/** One workspace (`acme-prod`) holding the given resources. */
export function workspace(resources: Json = {}): Json {
  return { workspace_id: WS_ID, workspace_name: 'prod', deployment_name: DEPLOYMENT, ...resources };
}

/** A started emulator plus a tiny client that gets and caches the right token per host. */
export async function emulatorFor(scenario: Scenario, timeScale = 600) {
  const emu = await startEmulator(scenario, { timeScale });
  const tokens = new Map<string, { token: string; at: number }>();
  const sp = scenario.databricks.servicePrincipal;
  const basic = `Basic ${Buffer.from(`${sp.clientId}:${sp.clientSecret}`).toString('base64')}`;

  const base = (deployment?: string) =>
    deployment ? emu.workspaceUrlTemplate.replace('{deployment_name}', deployment) : emu.url;
  const tokenPath = (deployment?: string) =>
    deployment ? '/oidc/v1/token' : `/oidc/accounts/${scenario.databricks.accountId}/v1/token`;

  async function raw(
    method: string,
    url: string,
    init: { body?: string; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const res = await fetch(url, { method, body: init.body, headers: init.headers });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Json), headers: res.headers };
  }

  async function token(deployment?: string): Promise<string> {
    const key = deployment ?? 'account';
    const cached = tokens.get(key);
    if (cached && emu.clock.seconds() - cached.at < 3000) return cached.token;
    const answer = await raw('POST', `${base(deployment)}${tokenPath(deployment)}`, {
      body: 'grant_type=client_credentials&scope=all-apis',
      headers: { Authorization: basic, 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    if (answer.status !== 200)
      throw new Error(`token request failed: ${answer.status} ${JSON.stringify(answer.body)}`);
    tokens.set(key, { token: String(answer.body.access_token), at: emu.clock.seconds() });
    return String(answer.body.access_token);
  }

  /** Calls the API with a valid token: `deployment` undefined = Account API. */
  async function call(
    method: string,
    path: string,
    options: { deployment?: string; body?: unknown } = {},
  ): Promise<Answer> {
    const bearer = await token(options.deployment);
    return raw(method, `${base(options.deployment)}${path}`, {
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
    });
  }

  const ws = (method: string, path: string, body?: unknown) =>
    call(method, path, { deployment: DEPLOYMENT, body });
  const account = (method: string, path: string, body?: unknown) =>
    call(method, `/api/2.0/accounts/${scenario.databricks.accountId}${path}`, { body });

  return { emu, raw, token, call, ws, account, basic, base };
}
