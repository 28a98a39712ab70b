import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SdkClient } from '../lib/aws/clients.ts';
import type { Databricks } from '../lib/databricks/api.ts';
import { DatabricksClient } from '../lib/databricks/client.ts';
import { forgetCredentials, loadCredentials } from '../lib/databricks/credentials.ts';
import { loadSettings, type Settings } from '../lib/settings.ts';
import { assertReadableFile } from '../local/cli/args.ts';
import { UsageError } from './flags.ts';

/**
 * What a command works against: the real Databricks account and AWS (the SDK's default credential chain),
 * or the local emulation of a scenario (the Databricks emulator in process, the KMS and Secrets Manager
 * stand-ins). Either way the product's own settings, Databricks client and KMS client.
 */
export interface Target {
  settings: Settings;
  databricks: Databricks;
  kms: SdkClient;
  /** The AWS region of the KMS client (undefined: the SDK's default chain decides). */
  region: string | undefined;
  /** Epoch ms on the target's clock (the emulator's scaled clock for a scenario). */
  now(): number;
  /** Waits `ms` of the target's time (a scenario's time runs `timeScale` times faster). */
  sleep(ms: number): Promise<void>;
  /** In words, for the header of a command's output. Never a secret. */
  describe: string;
  scenario?: ScenarioTarget;
  close(): Promise<void>;
}

/** The local emulation of a scenario, exposed for tests and for `plan --scenario`'s default input. */
export interface ScenarioTarget {
  file: string;
  name: string;
  input: unknown;
  emulator: import('../local/emulator/index.ts').StartedEmulator;
  kms: import('../local/aws/kms.ts').LocalKms;
}

/** Flags shared by the commands that talk to Databricks and KMS. */
export const TARGET_FLAGS = {
  scenario: { type: 'string' },
  'time-scale': { type: 'string' },
  'secret-arn': { type: 'string' },
  'account-id': { type: 'string' },
  region: { type: 'string' },
} as const;

export const TARGET_HELP = `  --secret-arn ARN         the deployment's Databricks credentials secret (Secrets Manager, read with your AWS
                           credentials); without it DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET are used
  --account-id ID          Databricks account id (default: DATABRICKS_ACCOUNT_ID)
  --region REGION          AWS region (default: AWS_REGION, else the secret's region, else the SDK's default)
  --scenario FILE          work against the local emulation of this scenario instead (no cloud, no credentials)
  --time-scale N           with --scenario: simulated seconds per real second (default: the scenario's, else 600)`;

export interface TargetValues {
  scenario?: string | undefined;
  'time-scale'?: string | undefined;
  'secret-arn'?: string | undefined;
  'account-id'?: string | undefined;
  region?: string | undefined;
}

/** Hooks for tests: see the target a command built (the emulator's call log, the KMS stand-in's calls). */
export interface Hooks {
  onTarget?(target: Target): void;
}

export async function openTarget(values: TargetValues, hooks: Hooks = {}): Promise<Target> {
  const target = values.scenario === undefined ? realTarget(values) : await scenarioTarget(values);
  hooks.onTarget?.(target);
  return target;
}

/** The settings the deployed functions read, from this environment (same variable names). */
function realTarget(values: TargetValues): Target {
  for (const flag of ['time-scale'] as const)
    if (values[flag] !== undefined) throw new UsageError(`--${flag} applies only with --scenario`);
  const env = process.env;
  const secretArn = values['secret-arn'] ?? env.DATABRICKS_CREDENTIALS_SECRET_ARN;
  const clientId = env.DATABRICKS_CLIENT_ID;
  const clientSecret = env.DATABRICKS_CLIENT_SECRET;
  const accountId = values['account-id'] ?? env.DATABRICKS_ACCOUNT_ID;
  if (!accountId)
    throw new UsageError(
      'name the Databricks account: --account-id ID or DATABRICKS_ACCOUNT_ID (or use --scenario FILE)',
    );
  if (!secretArn && !(clientId && clientSecret))
    throw new UsageError(
      "Databricks credentials: give --secret-arn ARN (the deployment's secret) or set DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET (or use --scenario FILE)",
    );
  if (secretArn && !/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/.test(secretArn))
    throw new UsageError(`--secret-arn must be a Secrets Manager secret ARN, got ${secretArn}`);
  const region = values.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? secretArn?.split(':')[3];
  const settings = loadSettings({
    ...env,
    DATABRICKS_ACCOUNT_ID: accountId,
    // The settings require a secret ARN; with credentials from the environment it is only a label.
    DATABRICKS_CREDENTIALS_SECRET_ARN: secretArn ?? 'environment:DATABRICKS_CLIENT_ID',
    ...(region ? { AWS_REGION: region } : {}),
  });
  const clientOptions = region ? { region } : {};
  const secrets = secretArn
    ? new SecretsManagerClient({ region: secretArn.split(':')[3] as string })
    : undefined;
  const databricks = new DatabricksClient({
    accountId: settings.databricksAccountId,
    accountsHost: settings.accountsHost,
    workspaceUrlTemplate: settings.workspaceUrlTemplate,
    credentials: secrets
      ? () => loadCredentials(secrets, secretArn as string)
      : async () => ({ clientId: clientId as string, clientSecret: clientSecret as string }),
    ...(secretArn ? { onAuthFailure: () => forgetCredentials(secretArn) } : {}),
  });
  return {
    settings,
    databricks,
    kms: new KMSClient(clientOptions),
    region,
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    describe: `Databricks account ${settings.databricksAccountId} (${settings.accountsHost}), AWS region ${region ?? '(SDK default)'}, credentials from ${secretArn ? `secret ${secretArn}` : 'DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET'}`,
    close: async () => {},
  };
}

/**
 * The local emulation of a scenario, wired as local/runner/run.ts wires it: the Databricks emulator (called
 * in process), the KMS stand-in with the scenario's keys and policies, the Secrets Manager stand-in holding
 * the service principal's secret, and the settings the runner gives the functions.
 */
async function scenarioTarget(values: TargetValues): Promise<Target> {
  for (const flag of ['secret-arn', 'account-id', 'region'] as const)
    if (values[flag] !== undefined)
      throw new UsageError(`--${flag} does not apply with --scenario (the scenario names them)`);
  const file = values.scenario as string;
  assertReadableFile(file, '--scenario');
  const timeScale = values['time-scale'] === undefined ? undefined : Number(values['time-scale']);
  if (timeScale !== undefined && !(timeScale > 0))
    throw new UsageError(`--time-scale must be a positive number, got ${values['time-scale']}`);
  const { loadScenario, SCENARIO_SETTINGS } = await import('../local/scenario.ts');
  const { startEmulator } = await import('../local/emulator/index.ts');
  const { LocalKms, knownPrincipals } = await import('../local/aws/kms.ts');
  const { LocalSecretsManager, secretArn } = await import('../local/aws/secrets-manager.ts');
  const scenario = await loadScenario(file);
  const emulator = await startEmulator(scenario, { timeScale: timeScale ?? scenario.timeScale ?? 600 });
  const { accountId, region } = scenario.aws;
  const kms = new LocalKms(scenario.aws.keys, {
    accountId,
    region,
    principals: knownPrincipals(scenario),
    clock: emulator.clock,
  });
  const secrets = new LocalSecretsManager(scenario.aws.secrets, { accountId, region });
  const secretName = Object.keys(scenario.aws.secrets)[0] ?? 'databricks/cmk-rotator';
  const arn = secretArn(secretName, accountId, region);
  const env: Record<string, string> = {
    DATABRICKS_ACCOUNT_ID: scenario.databricks.accountId,
    DATABRICKS_ACCOUNTS_HOST: emulator.url,
    DATABRICKS_WORKSPACE_URL_TEMPLATE: emulator.workspaceUrlTemplate,
    DATABRICKS_CREDENTIALS_SECRET_ARN: arn,
    AWS_REGION: region,
    DEPLOYMENT_ACCOUNT_ID: accountId,
  };
  for (const [field, name] of Object.entries(SCENARIO_SETTINGS)) {
    const value = (scenario.settings as Record<string, unknown>)[field];
    if (value !== undefined && value !== null)
      env[name] = Array.isArray(value) ? value.join(',') : String(value);
  }
  const settings = loadSettings(env);
  const databricks = new DatabricksClient({
    accountId: settings.databricksAccountId,
    accountsHost: settings.accountsHost,
    workspaceUrlTemplate: settings.workspaceUrlTemplate,
    credentials: () => loadCredentials(secrets, arn),
    onAuthFailure: () => forgetCredentials(arn),
    fetch: emulator.fetch,
  });
  const name = scenario.name ?? file;
  return {
    settings,
    databricks,
    kms,
    region,
    now: () => emulator.clock.now(),
    sleep: (ms) => emulator.clock.sleep(ms),
    describe: `the local emulation of scenario "${name}" (${file}; Databricks emulator and AWS stand-ins in process, time ×${emulator.clock.timeScale})`,
    scenario: { file, name, input: scenario.input, emulator, kms },
    close: () => emulator.close(),
  };
}
