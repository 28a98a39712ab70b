import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  actionsOf,
  type Cfn,
  evaluateCondition,
  ROOT,
  resolve,
  roleStatements,
  type Template,
} from './template.ts';

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

  it('encrypts the topic with the key given, and lets the two publishers use it', async () => {
    // Prepare
    const key = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    // Act
    const result = await resolved([
      '--stage',
      'prod',
      ...REQUIRED,
      `--param=notificationTopicKmsKeyArn=${key}`,
    ]);
    // Assess
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const template = result.config.resources as Template;
    expect(evaluateCondition(template, 'EncryptTopic')).toBe(true);
    expect(resolve(template, template.Resources.NotificationTopic?.Properties).KmsMasterKeyId).toBe(key);
    for (const role of ['AnnounceRetentionRole', 'NotifyExecutionEndedRole']) {
      const useKey = roleStatements(template, role).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('kms:')),
      );
      expect(useKey, role).toEqual([
        expect.objectContaining({
          Effect: 'Allow',
          Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
          Resource: key,
        }),
      ]);
    }
  });

  it('leaves the topic unencrypted without a key (alarms cannot use alias/aws/sns)', async () => {
    // Act
    const result = await resolved(['--stage', 'prod', ...REQUIRED]);
    // Assess
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const template = result.config.resources as Template;
    expect(evaluateCondition(template, 'EncryptTopic')).toBe(false);
    expect(
      resolve(template, template.Resources.NotificationTopic?.Properties).KmsMasterKeyId,
    ).toBeUndefined();
  });

  it('conditions key policy access on the tag the settings name', async () => {
    // Act
    const result = await resolved([
      '--stage',
      'prod',
      ...REQUIRED,
      '--param=keyTagKey=security-team:cmk-rotator',
      '--param=keyTagValue=approved',
    ]);
    // Assess
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const template = result.config.resources as Template;
    for (const role of ['PlanRole', 'PatchKeyPolicyRole', 'UpdateWorkspaceRole', 'VerifyRole']) {
      const policy = roleStatements(template, role).filter(
        (s) =>
          s.Effect === 'Allow' &&
          actionsOf(s).some((a) => a === 'kms:GetKeyPolicy' || a === 'kms:PutKeyPolicy'),
      );
      expect(policy.length, role).toBeGreaterThan(0);
      for (const s of policy) {
        expect(s.Condition, role).toEqual({
          StringEquals: { 'aws:ResourceTag/security-team:cmk-rotator': 'approved' },
        });
      }
    }
  });
});
