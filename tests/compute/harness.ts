import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { handler as checkComputeRestored } from '../../functions/check-compute-restored.ts';
import { handler as checkComputeStopped } from '../../functions/check-compute-stopped.ts';
import { handler as restoreCompute } from '../../functions/restore-compute.ts';
import { handler as stopCompute } from '../../functions/stop-compute.ts';
import { setAwsClients } from '../../lib/aws/clients.ts';
import { type Clock, setClock } from '../../lib/clock.ts';
import type {
  RestoreCheckResult,
  RestoreResult,
  StopCheckResult,
  StopResult,
} from '../../lib/compute/index.ts';
import { clearCredentialsCache } from '../../lib/databricks/credentials.ts';
import { setDatabricksFetch } from '../../lib/databricks/index.ts';
import type { RotationItem } from '../../lib/rotation.ts';
import { LocalSecretsManager, secretArn } from '../../local/aws/secrets-manager.ts';
import { type CallLogEntry, type StartedEmulator, startEmulator } from '../../local/emulator/index.ts';
import { parseScenario } from '../../local/scenario.ts';
import { VirtualClock } from '../../local/virtual-time.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

export type Json = Record<string, unknown>;
export const WS = 1234567890123456;
export const DEPLOYMENT = 'acme-prod';

const context = {
  functionName: 'test',
  awsRequestId: randomUUID(),
  getRemainingTimeInMillis: () => 300_000,
} as unknown as Context;

/** The virtual clock of the workspace started last: handlers run on it, and tests move it with `advance`. */
let current: VirtualClock | undefined;

/**
 * Invokes a Lambda handler the way Step Functions does: JSON in, JSON out, in virtual time (its retries and
 * the emulator's latencies move the clock; CPU time does not), so results do not depend on the machine.
 */
export const invoke = async <T>(fn: (event: unknown, ctx: Context) => Promise<unknown>, event: unknown) => {
  const answer = await inVirtualTime(() => fn(JSON.parse(JSON.stringify(event)), context));
  return JSON.parse(JSON.stringify(answer)) as T;
};

/** Runs `work` (anything that calls the emulator) on the current workspace's virtual clock. */
export function inVirtualTime<T>(work: () => Promise<T>): Promise<T> {
  return current ? current.run(work) : work();
}

export interface Harness {
  emu: StartedEmulator;
  close(): Promise<void>;
}

/**
 * Starts the emulator with one workspace holding `resources` and points the product at it (env, clock,
 * Secrets Manager stand-in). No SNAPSHOT_BUCKET/DIR: the in-memory store, shared by the steps of this process.
 */
export async function startWorkspace(
  resources: Json,
  options: { faults?: unknown[]; timings?: Json; env?: Record<string, string> } = {},
): Promise<Harness> {
  const scenario = parseScenario({
    databricks: {
      workspaces: [{ workspace_id: WS, workspace_name: 'prod', deployment_name: DEPLOYMENT, ...resources }],
      faults: options.faults ?? [],
      ...(options.timings ? { timings: options.timings } : {}),
    },
  });
  const clock = new VirtualClock({ seed: scenario.databricks.seed });
  const emu = await startEmulator(scenario, { clock });
  current = clock;
  const previousClock: Clock = setClock(clock);
  const previousEnv = { ...process.env };
  const aws = { accountId: scenario.aws.accountId, region: scenario.aws.region };
  const secretName = Object.keys(scenario.aws.secrets)[0] ?? 'databricks/cmk-rotator';
  Object.assign(process.env, {
    DATABRICKS_ACCOUNT_ID: scenario.databricks.accountId,
    DATABRICKS_ACCOUNTS_HOST: emu.url,
    DATABRICKS_WORKSPACE_URL_TEMPLATE: emu.workspaceUrlTemplate,
    DATABRICKS_CREDENTIALS_SECRET_ARN: secretArn(secretName, aws.accountId, aws.region),
    ...options.env,
  });
  delete process.env.SNAPSHOT_BUCKET;
  delete process.env.SNAPSHOT_DIR;
  setAwsClients({ secretsManager: new LocalSecretsManager(scenario.aws.secrets, aws) });
  setDatabricksFetch(emu.fetch);
  clearCredentialsCache();
  return {
    emu,
    close: async () => {
      await emu.close();
      current = undefined;
      setDatabricksFetch(undefined);
      setClock(previousClock);
      process.env = previousEnv;
    },
  };
}

/** A Map item for the workspace; a fresh execution id per call, so snapshots of tests never meet. */
export function itemFor(overrides: Partial<RotationItem> = {}): RotationItem {
  return {
    executionId: `test-${randomUUID()}`,
    workspace: {
      workspaceId: WS,
      workspaceName: 'prod',
      deploymentName: DEPLOYMENT,
      region: 'us-east-1',
      current: { managedServicesKeyConfigId: 'cfg-old', storageKeyConfigId: null },
      changes: { managedServices: true, storage: false },
      storageAdded: false,
      steps: [],
    },
    target: { keyArn: 'arn:aws:kms:us-east-1:111122223333:key/new', keyId: 'new', region: 'us-east-1' },
    useCases: ['MANAGED_SERVICES'],
    reuseKeyForClusterVolumes: true,
    activeRuns: 'cancel',
    drainTimeoutMinutes: 60,
    emergency: false,
    storageWaitSeconds: 0,
    ...overrides,
  };
}

export type Item = RotationItem & {
  compute?: StopResult;
  computeCheck?: StopCheckResult;
  restore?: RestoreResult;
  restoreCheck?: RestoreCheckResult;
};

/** Every JSON document the state machine would carry for this item (results and the item itself). */
export const payloads: string[] = [];

function carry(item: Item): Item {
  payloads.push(JSON.stringify(item));
  return item;
}

export async function stop(item: Item): Promise<Item> {
  return carry({ ...item, compute: await invoke<StopResult>(stopCompute, item) });
}

export async function checkStopped(item: Item): Promise<Item> {
  return carry({ ...item, computeCheck: await invoke<StopCheckResult>(checkComputeStopped, item) });
}

/** The stop loop as the state machine runs it: Wait 15 s → Check → Choice, then the re-check before the PATCH. */
export async function stopUntilStopped(h: Harness, start: Item, maxChecks = 200): Promise<Item> {
  let item = await stop(start);
  for (let i = 0; i < maxChecks; i++) {
    h.emu.clock.advance(15);
    item = await checkStopped(item);
    if (item.computeCheck?.status !== 'STOPPED') continue;
    item = await checkStopped(item);
    if (item.computeCheck?.status === 'STOPPED') return item;
  }
  throw new Error('compute never stopped');
}

export async function restore(item: Item): Promise<Item> {
  return carry({ ...item, restore: await invoke<RestoreResult>(restoreCompute, item) });
}

export async function checkRestored(item: Item): Promise<Item> {
  return carry({ ...item, restoreCheck: await invoke<RestoreCheckResult>(checkComputeRestored, item) });
}

/** The restore loop: Restore → (Wait 20 s → Check → Choice) until RESTORED. */
export async function restoreUntilRestored(h: Harness, start: Item, maxChecks = 200): Promise<Item> {
  let item = await restore(start);
  for (let i = 0; i < maxChecks; i++) {
    h.emu.clock.advance(20);
    item = await checkRestored(item);
    if (item.restoreCheck?.status === 'RESTORED') return item;
  }
  throw new Error('compute never came back');
}

/** The emulator's current workspace (scenario shape). */
export function workspaceState(h: Harness): Json {
  return (h.emu.state().workspaces as Json[]).find((w) => w.workspace_id === WS) as Json;
}

export const list = (h: Harness, kind: string): Json[] =>
  (workspaceState(h)[kind] as Json[] | undefined) ?? [];

/** Path without the query string. */
export const pathOf = (e: CallLogEntry): string => e.path.split('?')[0] ?? '';

export const STOP_CALL =
  /clusters\/delete|warehouses\/[^/]+\/stop|pipelines\/[^/]+\/stop|instance-pools\/edit|runs\/cancel/;
export const START_CALL = /clusters\/start|warehouses\/[^/]+\/start|pipelines\/[^/]+\/updates/;

/** Workspace API calls that change something (no reads, no token calls). */
export const writes = (h: Harness): CallLogEntry[] =>
  h.emu.callLog().filter((e) => e.method !== 'GET' && !e.path.includes('/oidc/'));

/** Ids of `items` whose state is one of `states`, sorted. */
export const ids = (items: Json[], field: string, states: string[]): string[] =>
  items
    .filter((x) => states.includes(String(x.state)))
    .map((x) => String(x[field]))
    .sort();
