import {
  DisabledException,
  GetKeyPolicyCommand,
  KMSClient,
  KMSInvalidStateException,
  KMSServiceException,
  MalformedPolicyDocumentException,
  NotFoundException,
  PutKeyPolicyCommand,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Clock, setClock } from '../../lib/clock.ts';
import { TransientError } from '../../lib/errors.ts';
import {
  KeyDisabled,
  KeyInvalidState,
  KeyNotFound,
  KeyPolicyRejected,
  KeyPolicyUnparseable,
  KmsAccessDenied,
  KmsThrottled,
} from '../../lib/kms/errors.ts';
import { ensureDatabricksKeyPolicy, readKeyPolicy } from '../../lib/kms/key-policy.ts';
import {
  type DatabricksGrant,
  databricksStatements,
  MANAGED_SERVICES_SID,
  mergeDatabricksStatements,
} from '../../lib/kms/policy.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const KEY = 'arn:aws:kms:us-east-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef';
const ROOT = {
  Sid: 'Enable IAM User Permissions',
  Effect: 'Allow',
  Principal: { AWS: 'arn:aws:iam::111122223333:root' },
  Action: 'kms:*',
  Resource: '*',
};
const GRANT: DatabricksGrant = {
  useCases: ['MANAGED_SERVICES'],
  databricksPrincipalArn: 'arn:aws:iam::414351767826:root',
  accountIds: ['acc-1'],
  reuseKeyForClusterVolumes: true,
};
const BARE = JSON.stringify({ Version: '2012-10-17', Statement: [ROOT] });
const GRANTED = mergeDatabricksStatements(BARE, GRANT).policy;

const kms = mockClient(KMSClient);
const client = new KMSClient({ region: 'us-east-1' });
let previousClock: Clock;

beforeEach(() => {
  kms.reset();
  previousClock = setClock({ now: () => 0, sleep: async () => {} });
});
afterEach(() => {
  setClock(previousClock);
});

const sdkError = (name: string) => {
  const meta = { message: `${name} from KMS`, $metadata: {} };
  switch (name) {
    case 'NotFoundException':
      return new NotFoundException(meta);
    case 'DisabledException':
      return new DisabledException(meta);
    case 'KMSInvalidStateException':
      return new KMSInvalidStateException(meta);
    case 'MalformedPolicyDocumentException':
      return new MalformedPolicyDocumentException(meta);
    default:
      return new KMSServiceException({ name, $fault: 'client', ...meta });
  }
};

describe('ensureDatabricksKeyPolicy', () => {
  it('does not write a policy that already grants Databricks', async () => {
    // Prepare
    kms.on(GetKeyPolicyCommand).resolves({ Policy: GRANTED, PolicyName: 'default' });
    // Act
    const result = await ensureDatabricksKeyPolicy(client, KEY, GRANT);
    // Assess
    expect(result).toEqual({ changed: false, added: [], merged: [], bytes: Buffer.byteLength(GRANTED) });
    expect(kms.commandCalls(PutKeyPolicyCommand)).toHaveLength(0);
    expect(kms.commandCalls(GetKeyPolicyCommand)[0]?.args[0].input).toEqual({
      KeyId: KEY,
      PolicyName: 'default',
    });
  });

  it('writes the merged policy as "default" without bypassing the lockout safety check', async () => {
    // Prepare
    kms.on(GetKeyPolicyCommand).resolvesOnce({ Policy: BARE }).resolves({ Policy: GRANTED });
    kms.on(PutKeyPolicyCommand).resolves({});
    // Act
    const result = await ensureDatabricksKeyPolicy(client, KEY, GRANT);
    // Assess
    expect(result).toMatchObject({ changed: true, added: [MANAGED_SERVICES_SID], merged: [] });
    const puts = kms.commandCalls(PutKeyPolicyCommand);
    expect(puts).toHaveLength(1);
    const input = puts[0]?.args[0].input;
    expect(input).toEqual({ KeyId: KEY, PolicyName: 'default', Policy: GRANTED });
    expect(input).not.toHaveProperty('BypassPolicyLockoutSafetyCheck');
    expect(JSON.parse(input?.Policy ?? '{}').Statement).toEqual([ROOT, databricksStatements(GRANT)[0]]);
  });

  it('merges again when a concurrent write replaced its statement', async () => {
    // Prepare: another workspace's patch overwrote ours between our write and the read-back
    kms
      .on(GetKeyPolicyCommand)
      .resolvesOnce({ Policy: BARE })
      .resolvesOnce({ Policy: BARE })
      .resolves({ Policy: GRANTED });
    kms.on(PutKeyPolicyCommand).resolves({});
    // Act
    const result = await ensureDatabricksKeyPolicy(client, KEY, GRANT);
    // Assess
    expect(result).toMatchObject({ changed: true, added: [MANAGED_SERVICES_SID] });
    expect(kms.commandCalls(PutKeyPolicyCommand)).toHaveLength(2);
  });

  it('raises TransientError when the policy keeps losing the statement', async () => {
    // Prepare
    kms.on(GetKeyPolicyCommand).resolves({ Policy: BARE });
    kms.on(PutKeyPolicyCommand).resolves({});
    // Act & Assess
    await expect(ensureDatabricksKeyPolicy(client, KEY, GRANT)).rejects.toBeInstanceOf(TransientError);
    expect(kms.commandCalls(PutKeyPolicyCommand)).toHaveLength(3);
  });

  it('refuses to touch an unparseable policy', async () => {
    // Prepare
    kms.on(GetKeyPolicyCommand).resolves({ Policy: '{"Statement": ' });
    // Act & Assess
    await expect(ensureDatabricksKeyPolicy(client, KEY, GRANT)).rejects.toBeInstanceOf(KeyPolicyUnparseable);
    expect(kms.commandCalls(PutKeyPolicyCommand)).toHaveLength(0);
  });

  it.each([
    ['NotFoundException', KeyNotFound],
    ['DisabledException', KeyDisabled],
    ['KMSInvalidStateException', KeyInvalidState],
    ['AccessDeniedException', KmsAccessDenied],
    ['ThrottlingException', KmsThrottled],
  ])('maps %s from GetKeyPolicy to %s naming the key', async (name, ErrorClass) => {
    // Prepare
    kms.on(GetKeyPolicyCommand).rejects(sdkError(name));
    // Act
    const error = await ensureDatabricksKeyPolicy(client, KEY, GRANT).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(ErrorClass);
    expect((error as Error).name).toBe(ErrorClass.name);
    expect((error as Error).message).toContain(KEY);
    expect((error as Error).cause).toMatchObject({ name });
  });

  it.each([
    ['MalformedPolicyDocumentException', KeyPolicyRejected],
    ['KMSInvalidStateException', KeyInvalidState],
    ['AccessDeniedException', KmsAccessDenied],
    ['ThrottlingException', KmsThrottled],
  ])('maps %s from PutKeyPolicy to %s', async (name, ErrorClass) => {
    // Prepare
    kms.on(GetKeyPolicyCommand).resolves({ Policy: BARE });
    kms.on(PutKeyPolicyCommand).rejects(sdkError(name));
    // Act
    const error = await ensureDatabricksKeyPolicy(client, KEY, GRANT).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(ErrorClass);
    expect((error as Error).message).toContain('PutKeyPolicy');
  });
});

describe('readKeyPolicy', () => {
  it('returns the policy text as KMS holds it', async () => {
    // Prepare
    kms.on(GetKeyPolicyCommand).resolves({ Policy: BARE });
    // Act & Assess
    await expect(readKeyPolicy(client, KEY)).resolves.toBe(BARE);
  });

  it('raises KeyPolicyUnparseable when KMS returns no policy', async () => {
    // Prepare
    kms.on(GetKeyPolicyCommand).resolves({});
    // Act & Assess
    await expect(readKeyPolicy(client, KEY)).rejects.toBeInstanceOf(KeyPolicyUnparseable);
  });
});
