import { AccountClient, type ApiClient, WorkspaceClient } from '@databricks/sdk-experimental';
import { type StartedEmulator, startEmulator } from '../../local/emulator/index.ts';
import { parseScenario, type Scenario } from '../../local/scenario.ts';
import { loadModels, type Misfit, misfits } from './sdk-models.ts';

export type Json = Record<string, unknown>;

export const ACCOUNT = '0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e';
export const WS_ID = 1234567890123456;
export const DEPLOYMENT = 'acme-prod';

/**
 * Platform durations of about a second: the SDK's waiters poll at once, then after 1–1.75 s (its backoff), so
 * each wait sees the intermediate state first and is done on the second poll.
 */
export const QUICK_TIMINGS = {
  clusterTerminate: [1, 1],
  clusterStart: [1, 1],
  warehouseStop: [1, 1],
  warehouseStart: [1, 1],
  poolIdleRelease: [1, 1],
  poolIdleFill: [1, 1],
  pipelineStop: [1, 1],
  pipelineStart: [1, 1],
  runCancel: [1, 1],
  workspaceUpdate: [2, 2],
  apiLatencyMs: [0, 0],
};

/** The model each answer of the product's endpoints has, per the SDK's declared return types (`api.d.ts`). */
const ANSWER_MODELS: Array<[method: string, path: RegExp, model: string]> = [
  ['GET', /^\/api\/2\.[01]\/clusters\/list$/, 'compute.ListClustersResponse'],
  ['GET', /^\/api\/2\.[01]\/clusters\/get$/, 'compute.ClusterDetails'],
  ['POST', /^\/api\/2\.[01]\/clusters\/(delete|start)$/, EMPTY()],
  ['GET', /^\/api\/2\.0\/instance-pools\/list$/, 'compute.ListInstancePools'],
  ['GET', /^\/api\/2\.0\/instance-pools\/get$/, 'compute.GetInstancePool'],
  ['POST', /^\/api\/2\.0\/instance-pools\/edit$/, EMPTY()],
  ['GET', /^\/api\/2\.0\/sql\/warehouses$/, 'sql.ListWarehousesResponse'],
  ['GET', /^\/api\/2\.0\/sql\/warehouses\/[^/]+$/, 'sql.GetWarehouseResponse'],
  ['POST', /^\/api\/2\.0\/sql\/warehouses\/[^/]+\/(stop|start)$/, EMPTY()],
  ['GET', /^\/api\/2\.[12]\/jobs\/list$/, 'jobs.ListJobsResponse'],
  ['GET', /^\/api\/2\.[12]\/jobs\/get$/, 'jobs.Job'],
  ['POST', /^\/api\/2\.[12]\/jobs\/update$/, EMPTY()],
  ['GET', /^\/api\/2\.[12]\/jobs\/runs\/list$/, 'jobs.ListRunsResponse'],
  ['GET', /^\/api\/2\.[12]\/jobs\/runs\/get$/, 'jobs.Run'],
  ['POST', /^\/api\/2\.[12]\/jobs\/runs\/cancel$/, EMPTY()],
  ['GET', /^\/api\/2\.0\/pipelines$/, 'pipelines.ListPipelinesResponse'],
  ['GET', /^\/api\/2\.0\/pipelines\/[^/]+$/, 'pipelines.GetPipelineResponse'],
  ['POST', /^\/api\/2\.0\/pipelines\/[^/]+\/stop$/, EMPTY()],
  ['POST', /^\/api\/2\.0\/pipelines\/[^/]+\/updates$/, 'pipelines.StartUpdateResponse'],
  ['GET', /^\/api\/2\.0\/pipelines\/[^/]+\/updates$/, 'pipelines.ListUpdatesResponse'],
  ['GET', /^\/api\/2\.0\/pipelines\/[^/]+\/updates\/[^/]+$/, 'pipelines.GetUpdateResponse'],
  ['GET', /^\/api\/2\.0\/accounts\/[^/]+\/workspaces$/, 'provisioning.Workspace[]'],
  ['GET', /^\/api\/2\.0\/accounts\/[^/]+\/workspaces\/[^/]+$/, 'provisioning.Workspace'],
  ['PATCH', /^\/api\/2\.0\/accounts\/[^/]+\/workspaces\/[^/]+$/, 'provisioning.Workspace'],
  ['GET', /^\/api\/2\.0\/accounts\/[^/]+\/customer-managed-keys$/, 'provisioning.CustomerManagedKey[]'],
  ['POST', /^\/api\/2\.0\/accounts\/[^/]+\/customer-managed-keys$/, 'provisioning.CustomerManagedKey'],
  ['GET', /^\/api\/2\.0\/accounts\/[^/]+\/customer-managed-keys\/[^/]+$/, 'provisioning.CustomerManagedKey'],
];

/** The SDK's `EmptyResponse` (`dist/types.d.ts`): an answer with no fields. */
function EMPTY(): string {
  return 'EmptyResponse';
}

const models = loadModels();

/** Every misfit of `body` against the model of the answer to `method path`; throws for an unmapped endpoint. */
export function answerMisfits(method: string, path: string, body: unknown): Misfit[] {
  const entry = ANSWER_MODELS.find(([m, p]) => m === method && p.test(path));
  if (!entry) throw new Error(`no SDK model is mapped for ${method} ${path}: add it to ANSWER_MODELS`);
  const model = entry[2];
  if (model === 'EmptyResponse') {
    return typeof body === 'object' && body !== null && Object.keys(body).length === 0
      ? []
      : [{ path: '$', problem: `is ${JSON.stringify(body)}, expected the empty answer {}` }];
  }
  if (model.endsWith('[]')) {
    if (!Array.isArray(body)) return [{ path: '$', problem: 'is not an array' }];
    return body.flatMap((item, i) => misfits(models, model.slice(0, -2), item, `$[${i}]`));
  }
  return misfits(models, model, body);
}

/** One answer the SDK received, as its ApiClient parsed it. */
export interface SeenAnswer {
  method: string;
  path: string;
  body: unknown;
}

/**
 * Records every answer an SDK client's own `ApiClient` receives (its typed calls, its paginators, its waiters'
 * polls), on that instance only, as the ApiClient parsed it: what the SDK's callers see.
 */
function record(client: { apiClient: ApiClient }, seen: SeenAnswer[]): void {
  const api = client.apiClient;
  const original = api.request.bind(api);
  api.request = (async (options: Parameters<ApiClient['request']>[0], context?: never) => {
    const answer = await original(options, context);
    seen.push({ method: options.method, path: options.path, body: answer });
    return answer;
  }) as ApiClient['request'];
}

/** A scenario from a partial `databricks` section, on QUICK_TIMINGS unless given. */
export function scenarioWith(databricks: Json): Scenario {
  return parseScenario({ databricks: { accountId: ACCOUNT, timings: QUICK_TIMINGS, ...databricks } });
}

/**
 * The emulator at real time (time scale 1, as external clients see it: tokens last the hour they say), each
 * workspace on a host of its own, and the official SDK's clients authenticated by OAuth M2M with the
 * scenario's service principal:
 *
 * - the account client at `emu.url` as a unified host (`experimentalIsUnifiedHost`), because the SDK only
 *   types a host as an account host when it starts with `https://accounts.` (Config.js `hostType`); with the
 *   account id it then discovers the account OIDC endpoints at `/oidc/accounts/{id}/.well-known/…`;
 * - a workspace client per workspace at its own origin (`workspaceHosts`): the SDK keeps only the origin of
 *   `host` (Config.js `fixHost`), so the emulator's `/ws/{deployment}` prefix cannot be used, and `*.localhost`
 *   names (the emulator's Host-header routing) do not resolve in Node.
 *
 * `loaders: []` keeps the environment and `~/.databrickscfg` out of the clients' configuration.
 */
export async function sdkAgainstEmulator(scenario: Scenario): Promise<{
  emu: StartedEmulator;
  account: AccountClient;
  workspace: (deployment?: string) => WorkspaceClient;
  seen: SeenAnswer[];
}> {
  const emu = await startEmulator(scenario, { timeScale: 1, workspaceHosts: true });
  const sp = scenario.databricks.servicePrincipal;
  const auth = () => ({
    clientId: sp.clientId,
    clientSecret: sp.clientSecret,
    authType: 'oauth-m2m' as const,
    loaders: [],
  });
  const seen: SeenAnswer[] = [];
  const account = new AccountClient({
    host: emu.url,
    accountId: scenario.databricks.accountId,
    experimentalIsUnifiedHost: true,
    ...auth(),
  });
  record(account, seen);
  const workspaces = new Map<string, WorkspaceClient>();
  const workspace = (deployment = DEPLOYMENT): WorkspaceClient => {
    let client = workspaces.get(deployment);
    if (!client) {
      const host = emu.workspaceHosts[deployment];
      if (!host) throw new Error(`no workspace ${deployment} in the scenario`);
      client = new WorkspaceClient({ host, ...auth() });
      record(client, seen);
      workspaces.set(deployment, client);
    }
    return client;
  };
  return { emu, account, workspace, seen };
}

/** Collects an SDK paginator. */
export async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
