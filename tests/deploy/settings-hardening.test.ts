import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../lib/settings.ts';

/** The settings the security review added (issue: events are evidence; least privilege and hardening). */
const BASE = {
  DATABRICKS_ACCOUNT_ID: 'acc-0d6c9a2e',
  DATABRICKS_CREDENTIALS_SECRET_ARN:
    'arn:aws:secretsmanager:eu-west-1:111122223333:secret:databricks/x-AbCdEf',
};

function refusal(env: Record<string, string>): Error & { details?: { field?: string } } {
  try {
    loadSettings({ ...BASE, ...env });
  } catch (error) {
    return error as Error & { details?: { field?: string } };
  }
  throw new Error('expected InvalidSettings');
}

describe('Settings: Databricks hosts', () => {
  it.each([
    ['DATABRICKS_ACCOUNTS_HOST', 'http://accounts.cloud.databricks.com'],
    ['DATABRICKS_ACCOUNTS_HOST', 'http://10.0.0.5:8080'],
    ['DATABRICKS_WORKSPACE_URL_TEMPLATE', 'http://{deployment_name}.cloud.databricks.com'],
    ['DATABRICKS_WORKSPACE_URL_TEMPLATE', 'http://127.0.0.1.evil.example/{deployment_name}'],
  ])('refuses plain http:// for %s = %s outside local mode, naming the setting', (name, value) => {
    const error = refusal({ [name]: value });
    expect(error.name).toBe('InvalidSettings');
    expect(error.details?.field).toBe(name);
    expect(error.message).toContain('https://');
  });

  it.each(['http://127.0.0.1:4010', 'http://localhost:4010', 'http://[::1]:4010'])(
    'accepts http:// on a loopback host (local mode): %s',
    (host) => {
      const settings = loadSettings({
        ...BASE,
        DATABRICKS_ACCOUNTS_HOST: host,
        DATABRICKS_WORKSPACE_URL_TEMPLATE: `${host}/ws/{deployment_name}`,
      });
      expect(settings.accountsHost).toBe(host);
    },
  );
});

describe('Settings: events and keys', () => {
  it('defaults to alarm-only (no emergency rotation), no silent policy repair and a 10-minute grace delay', () => {
    const settings = loadSettings(BASE);
    expect(settings).toMatchObject({
      emergencyRotation: false,
      repairPolicyOnRotation: false,
      keyRecheckGraceMinutes: 10,
    });
  });

  it('takes the deployment account and region from DEPLOYMENT_ACCOUNT_ID and AWS_REGION', () => {
    const settings = loadSettings({
      ...BASE,
      DEPLOYMENT_ACCOUNT_ID: '444455556666',
      AWS_REGION: 'us-west-2',
    });
    expect(settings).toMatchObject({ deploymentAccountId: '444455556666', deploymentRegion: 'us-west-2' });
  });

  it('falls back to the account and region of the credentials secret ARN', () => {
    const settings = loadSettings(BASE);
    expect(settings).toMatchObject({ deploymentAccountId: '111122223333', deploymentRegion: 'eu-west-1' });
  });

  it.each([
    ['EMERGENCY_ROTATION', 'yes'],
    ['REPAIR_POLICY_ON_ROTATION', '1'],
    ['KEY_RECHECK_GRACE_MINUTES', '-1'],
    ['KEY_RECHECK_GRACE_MINUTES', String(24 * 60 + 1)],
    ['DEPLOYMENT_ACCOUNT_ID', '12345'],
  ])('refuses %s = %s, naming it', (name, value) => {
    expect(refusal({ [name]: value }).details?.field).toBe(name);
  });

  it('reads true and false in any case', () => {
    expect(loadSettings({ ...BASE, EMERGENCY_ROTATION: 'TRUE' }).emergencyRotation).toBe(true);
    expect(loadSettings({ ...BASE, REPAIR_POLICY_ON_ROTATION: 'False' }).repairPolicyOnRotation).toBe(false);
  });
});
