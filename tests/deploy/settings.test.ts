import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type Cfn, ROOT } from './template.ts';

const run = promisify(execFile);
const OSLS = path.join(ROOT, 'node_modules/osls/bin/serverless.js');
const REQUIRED = [
  '--param=databricksAccountId=11111111-2222-3333-4444-555555555555',
  '--param=credentialsSecretArn=arn:aws:secretsmanager:eu-west-1:111122223333:secret:cmk-rotator/databricks-AbCdEf',
];

/** The service configuration osls resolves for a stage and parameters (no build, no AWS call). */
async function resolved(args: string[]): Promise<{ ok: true; config: Cfn } | { ok: false; output: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  try {
    const { stdout } = await run(process.execPath, [OSLS, 'print', '--format', 'json', ...args], {
      cwd: ROOT,
      env,
      timeout: 60_000,
    });
    return { ok: true, config: JSON.parse(stdout) };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('deployment settings', () => {
  it('refuses a stage without the Databricks account id and the credentials secret ARN', async () => {
    // Act
    const result = await resolved(['--stage', 'prod']);
    // Assess
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.output).toMatch(/Value not found at "param" source/);
  });

  it('passes parameters to the functions as the environment the code reads', async () => {
    // Act
    const result = await resolved([
      '--stage',
      'prod',
      '--region',
      'eu-west-1',
      ...REQUIRED,
      '--param=watchedAlias=alias/acme-databricks',
      '--param=workspaceIds=1234567890123456,2345678901234567',
      '--param=storageWaitMinutes=25',
    ]);
    // Assess
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.provider.region).toBe('eu-west-1');
    const environment = Object.fromEntries(
      Object.entries(result.config.provider.environment as Record<string, unknown>).map(([k, v]) => [
        k,
        String(v),
      ]),
    );
    expect(environment).toMatchObject({
      DATABRICKS_ACCOUNT_ID: '11111111-2222-3333-4444-555555555555',
      WATCHED_ALIAS: 'alias/acme-databricks',
      WORKSPACE_IDS: '1234567890123456,2345678901234567',
      STORAGE_WAIT_MINUTES: '25',
      OLD_KEY_RETENTION_HOURS: '24',
    });
    expect(
      result.config.resources.Resources.AliasMovedRule.Properties.EventPattern.detail.requestParameters
        .aliasName,
    ).toEqual(['alias/acme-databricks']);
  });

  it('switches a trigger off and notifications of successes on by parameter', async () => {
    // Act
    const result = await resolved([
      '--stage',
      'prod',
      ...REQUIRED,
      '--param=triggerDisableKey=false',
      '--param=notifyOnSuccess=true',
    ]);
    // Assess
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const conditions = result.config.resources.Conditions;
    expect(conditions.TriggerDisableKey).toEqual({ 'Fn::Equals': ['false', 'true'] });
    expect(conditions.TriggerScheduleKeyDeletion).toEqual({ 'Fn::Equals': ['true', 'true'] });
    expect(conditions.NotifyOnSuccess).toEqual({ 'Fn::Equals': ['true', 'true'] });
  });
});
