import {
  DescribeKeyCommand,
  GetKeyPolicyCommand,
  KMSClient,
  ListResourceTagsCommand,
  PutKeyPolicyCommand,
} from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PlanReport } from '../../cli/plan.ts';
import { type StartedEmulator, startEmulator } from '../../local/emulator/index.ts';
import { loadScenario, type Scenario } from '../../local/scenario.ts';
import { cli, scenarioPath } from './helpers.ts';

/**
 * `cmk-rotator plan` wired as against a real deployment: settings and Databricks credentials from the
 * environment (or the deployment's secret read with the AWS SDK), the Databricks API over HTTP (here the
 * emulator's, as DATABRICKS_ACCOUNTS_HOST), KMS and Secrets Manager through the SDK's own clients (mocked).
 */
const kms = mockClient(KMSClient);
const secrets = mockClient(SecretsManagerClient);
const KEY = 'arn:aws:kms:us-east-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef';
const SECRET = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:cmk-rotator/databricks-AbCdEf';

let scenario: Scenario;
let emulator: StartedEmulator;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  scenario = await loadScenario(scenarioPath('rotate-managed-services'));
  emulator = await startEmulator(scenario, { timeScale: 1 });
});

afterAll(async () => {
  await emulator.close();
  kms.restore();
  secrets.restore();
});

beforeEach(() => {
  env = { ...process.env };
  kms.reset();
  secrets.reset();
  const key = scenario.aws.keys.find((k) => k.keyId === '5678abcd-56ef-78ab-90cd-567890abcdef');
  kms.on(DescribeKeyCommand).resolves({
    KeyMetadata: {
      KeyId: '5678abcd-56ef-78ab-90cd-567890abcdef',
      Arn: KEY,
      KeyState: 'Enabled',
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      AWSAccountId: '111122223333',
    },
  });
  kms.on(GetKeyPolicyCommand).resolves({ Policy: JSON.stringify(key?.policy) });
  kms.on(ListResourceTagsCommand).resolves({ Tags: [{ TagKey: 'cmk-rotator:managed', TagValue: 'true' }] });
  Object.assign(process.env, {
    DATABRICKS_ACCOUNTS_HOST: emulator.url,
    DATABRICKS_WORKSPACE_URL_TEMPLATE: emulator.workspaceUrlTemplate,
    WATCHED_ALIAS: 'alias/databricks-managed-services',
  });
  delete process.env.DATABRICKS_CREDENTIALS_SECRET_ARN;
});

afterEach(() => {
  process.env = env;
});

const input = ['--workspace-ids', '1234567890123456', '--key-arn', KEY, '--region', 'us-east-1'];
/** The scenario's Databricks account (local/scenarios/rotate-managed-services.json). */
const account = ['--account-id', '0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e'];

describe('cmk-rotator plan against a deployment (SDK clients, Databricks over HTTP)', () => {
  it('uses DATABRICKS_CLIENT_ID/SECRET from the environment, reads only, and never prints the secret', async () => {
    process.env.DATABRICKS_CLIENT_ID = scenario.databricks.servicePrincipal.clientId;
    process.env.DATABRICKS_CLIENT_SECRET = scenario.databricks.servicePrincipal.clientSecret;
    const before = emulator.callLog().length;
    const run = await cli(['plan', ...input, ...account]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      `Against: Databricks account ${scenario.databricks.accountId} (${emulator.url})`,
    );
    expect(run.stdout).toContain('credentials from DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET');
    expect(run.stdout).toContain('Key tag cmk-rotator:managed=true: present');
    expect(run.stdout).toContain('stop compute:     6 cluster(s) terminated');
    expect(run.stdout).not.toContain(scenario.databricks.servicePrincipal.clientSecret);
    const calls = emulator.callLog().slice(before);
    expect(calls.filter((c) => c.method !== 'GET' && !c.path.includes('/oidc/'))).toEqual([]);
    expect(kms.commandCalls(PutKeyPolicyCommand)).toHaveLength(0);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it('reads the Databricks credentials from the deployment’s secret with --secret-arn', async () => {
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({
        client_id: scenario.databricks.servicePrincipal.clientId,
        client_secret: scenario.databricks.servicePrincipal.clientSecret,
      }),
    });
    const run = await cli(['plan', ...input, ...account, '--secret-arn', SECRET, '--json']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as PlanReport;
    expect(report.against).toContain(`credentials from secret ${SECRET}`);
    expect(report.plan?.mode).toBe('rotate');
    expect(secrets.commandCalls(GetSecretValueCommand)[0]?.args[0].input).toEqual({ SecretId: SECRET });
    expect(run.stdout).not.toContain(scenario.databricks.servicePrincipal.clientSecret);
  });

  it('names a missing key tag as the KmsAccessDenied the deployed functions would meet', async () => {
    process.env.DATABRICKS_CLIENT_ID = scenario.databricks.servicePrincipal.clientId;
    process.env.DATABRICKS_CLIENT_SECRET = scenario.databricks.servicePrincipal.clientSecret;
    kms.on(ListResourceTagsCommand).resolves({ Tags: [] });
    const run = await cli(['plan', ...input, ...account, '--skip-compute']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Key tag cmk-rotator:managed=true: MISSING');
    expect(run.stdout).toMatch(
      /Patch key policy: KmsAccessDenied: KMS key \S+ does not carry the tag cmk-rotator:managed=true/,
    );
    // The deployment's own tag, when it uses another one.
    kms.on(ListResourceTagsCommand).resolves({ Tags: [{ TagKey: 'team:kms', TagValue: 'yes' }] });
    expect(
      (await cli(['plan', ...input, ...account, '--skip-compute', '--key-tag', 'team:kms=yes'])).code,
    ).toBe(0);
  });
});
