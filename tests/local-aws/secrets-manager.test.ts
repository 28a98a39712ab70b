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
    ['complete ARN (its own suffix)', ARN],
    ['partial ARN (without the suffix)', `arn:aws:secretsmanager:us-east-1:111122223333:secret:${NAME}`],
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

  // Secrets Manager API reference, GetSecretValue `SecretId`: a complete ARN ends in the secret's own 6
  // random characters, and "If you do include the random suffix added by Secrets Manager, you receive either
  // a ResourceNotFoundException or an AccessDeniedException error". moto 5.2.1 answers the same for each
  // of these but the last (it resolves a partial ARN whose name ends in "-" and 6 characters).
  it.each([
    ['an unknown name', 'other'],
    [
      'a complete ARN with another suffix',
      `arn:aws:secretsmanager:us-east-1:111122223333:secret:${NAME}-XyZ123`,
    ],
    ['the name with its suffix', `${NAME}${ARN.slice(-7)}`],
    ['its ARN in another region', ARN.replace('us-east-1', 'eu-west-1')],
    ['its ARN in another account', ARN.replace('111122223333', '444455556666')],
    [
      'a partial ARN whose name ends in "-" and 6 characters (taken as a complete ARN)',
      'arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-secret',
    ],
  ])('raises the SDK ResourceNotFoundException for %s', async (_, secretId) => {
    // Prepare
    const sm = new LocalSecretsManager({ [NAME]: VALUE, 'prod/db-secret': 'x' }, OPTIONS);
    // Act
    const error = await sm.send(new GetSecretValueCommand({ SecretId: secretId })).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect(error).toMatchObject({
      name: 'ResourceNotFoundException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
  });

  it('finds a secret whose name ends in "-" and 6 characters by its name and complete ARN', async () => {
    // Prepare
    const sm = new LocalSecretsManager({ 'prod/db-secret': 'x' }, OPTIONS);
    // Act
    const byName = await sm.send(new GetSecretValueCommand({ SecretId: 'prod/db-secret' }));
    const byArn = await sm.send(new GetSecretValueCommand({ SecretId: sm.arnOf('prod/db-secret') }));
    // Assess
    expect([byName.Name, byArn.Name]).toEqual(['prod/db-secret', 'prod/db-secret']);
  });

  it('gives each secret its own suffix, the one in the ARN the local runner configures', async () => {
    // Prepare
    const sm = new LocalSecretsManager({ [NAME]: VALUE, other: 'x' }, OPTIONS);
    const otherSuffix = sm.arnOf('other').slice(-7);
    // Act
    const own = await sm.send(
      new GetSecretValueCommand({ SecretId: secretArn(NAME, OPTIONS.accountId, OPTIONS.region) }),
    );
    const swapped = await sm
      .send(new GetSecretValueCommand({ SecretId: `${ARN.slice(0, -7)}${otherSuffix}` }))
      .catch((e: unknown) => e);
    // Assess
    expect(own.ARN).toBe(sm.arnOf(NAME));
    expect(otherSuffix).not.toBe(ARN.slice(-7));
    expect(swapped).toBeInstanceOf(ResourceNotFoundException);
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
