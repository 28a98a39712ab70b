import {
  GetSecretValueCommand,
  ListSecretsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { clearCredentialsCache, loadCredentials } from '../../lib/databricks/credentials.ts';
import { LocalSecretsManager, secretArn } from '../../local/aws/secrets-manager.ts';

const NAME = 'databricks/cmk-rotator';
const VALUE = { client_id: 'sp-id', client_secret: 'sp-secret' };
const OPTIONS = { accountId: '111122223333', region: 'us-east-1' };
const ARN = secretArn(NAME, OPTIONS.accountId, OPTIONS.region);

describe('secretArn', () => {
  it('gives a stable Secrets Manager ARN with a 6-character suffix', () => {
    // Act & Assess
    expect(ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:111122223333:secret:databricks\/cmk-rotator-[A-Za-z]{6}$/,
    );
    expect(secretArn(NAME, OPTIONS.accountId, OPTIONS.region)).toBe(ARN);
  });
});

describe('LocalSecretsManager', () => {
  it.each([
    ['name', NAME],
    ['full ARN', ARN],
    ['ARN with another suffix', `arn:aws:secretsmanager:us-east-1:111122223333:secret:${NAME}-XyZ123`],
    ['partial ARN', `arn:aws:secretsmanager:us-east-1:111122223333:secret:${NAME}`],
  ])('returns the secret by its %s as JSON text', async (_, secretId) => {
    // Prepare
    const sm = new LocalSecretsManager({ [NAME]: VALUE }, OPTIONS);
    // Act
    const out = await sm.send(new GetSecretValueCommand({ SecretId: secretId }));
    // Assess
    expect(out).toMatchObject({ ARN, Name: NAME, VersionStages: ['AWSCURRENT'] });
    expect(JSON.parse(out.SecretString)).toEqual(VALUE);
  });

  it('returns a plain-text secret as it is', async () => {
    // Prepare
    const sm = new LocalSecretsManager({ token: 'plain' }, OPTIONS);
    // Act
    const out = await sm.send(new GetSecretValueCommand({ SecretId: 'token' }));
    // Assess
    expect(out.SecretString).toBe('plain');
  });

  it('raises the SDK ResourceNotFoundException for an unknown secret', async () => {
    // Prepare
    const sm = new LocalSecretsManager({ [NAME]: VALUE }, OPTIONS);
    // Act
    const error = await sm.send(new GetSecretValueCommand({ SecretId: 'other' })).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect((error as Error).name).toBe('ResourceNotFoundException');
  });

  it('names a command it does not support', async () => {
    // Prepare
    const sm = new LocalSecretsManager({}, OPTIONS);
    // Act & Assess
    await expect(sm.send(new ListSecretsCommand({}))).rejects.toThrow(/does not support ListSecretsCommand/);
  });

  it('serves the product’s credential loader', async () => {
    // Prepare
    clearCredentialsCache();
    const sm = new LocalSecretsManager({ [NAME]: VALUE }, OPTIONS);
    // Act
    const credentials = await loadCredentials(sm, ARN);
    // Assess
    expect(credentials).toEqual({ clientId: 'sp-id', clientSecret: 'sp-secret' });
  });
});
