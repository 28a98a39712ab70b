import {
  DescribeKeyCommand,
  DisabledException,
  EnableKeyCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  KMSServiceException,
  LimitExceededException,
  ListAliasesCommand,
  MalformedPolicyDocumentException,
  NotFoundException,
  PutKeyPolicyCommand,
} from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { describeKey } from '../../lib/kms/key.ts';
import { ensureDatabricksKeyPolicy } from '../../lib/kms/key-policy.ts';
import { LocalKms, type ScenarioKey } from '../../local/aws/kms.ts';

const ACCOUNT = '111122223333';
const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${KEY_ID}`;
const POLICY = {
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'Enable IAM User Permissions',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
  ],
};

const localKms = (keys: Partial<ScenarioKey>[] = [{}]) =>
  new LocalKms(
    keys.map((k, i) => ({
      keyId: i === 0 ? KEY_ID : `key-${i}`,
      aliases: ['alias/databricks'],
      policy: POLICY,
      ...k,
    })),
    { accountId: ACCOUNT, region: 'us-east-1', clock: { now: () => 0, sleep: async () => {} } },
  );

describe('LocalKms DescribeKey', () => {
  it.each([
    ['key id', KEY_ID],
    ['key ARN', ARN],
    ['alias name', 'alias/databricks'],
    ['alias ARN', `arn:aws:kms:us-east-1:${ACCOUNT}:alias/databricks`],
  ])('finds a key by its %s', async (_, keyId) => {
    // Prepare
    const kms = localKms();
    // Act
    const out = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
    // Assess
    expect(out.KeyMetadata).toMatchObject({
      KeyId: KEY_ID,
      Arn: ARN,
      KeyState: 'Enabled',
      Enabled: true,
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      MultiRegion: false,
    });
    expect(out.KeyMetadata.CreationDate).toBeInstanceOf(Date);
  });

  it.each([
    ['an unknown key id', 'ffffffff-0000-0000-0000-000000000000'],
    ['an unknown alias', 'alias/nope'],
    ['a key ARN of another account', `arn:aws:kms:us-east-1:999999999999:key/${KEY_ID}`],
    ['a key ARN of another region', `arn:aws:kms:eu-west-1:${ACCOUNT}:key/${KEY_ID}`],
  ])('raises the SDK NotFoundException for %s', async (_, keyId) => {
    // Prepare
    const kms = localKms();
    // Act
    const error = await kms.send(new DescribeKeyCommand({ KeyId: keyId })).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(NotFoundException);
    expect(error).toMatchObject({ name: 'NotFoundException', $fault: 'client' });
  });

  // A key ARN names its region and a KMS endpoint knows only its own region's keys: KMS answers
  // `NotFoundException: Invalid arn eu-west-1` (HTTP 400). moto 5.2.1 answers NotFoundException too.
  it.each([
    ['its key ARN', `arn:aws:kms:eu-west-1:${ACCOUNT}:key/${KEY_ID}`, 'Invalid arn eu-west-1'],
    ['its alias ARN', `arn:aws:kms:eu-west-1:${ACCOUNT}:alias/databricks`, 'Invalid arn eu-west-1'],
    ['its key id', KEY_ID, 'does not exist'],
    ['its alias name', 'alias/databricks', 'does not exist'],
  ])('cannot see a key of another region by %s, like a KMS client of one region', async (_, keyId, said) => {
    // Prepare
    const kms = localKms([{ region: 'eu-west-1' }]);
    // Act
    const error = await kms.send(new DescribeKeyCommand({ KeyId: keyId })).catch((e: unknown) => e);
    const aliases = await kms.send(new ListAliasesCommand({}));
    // Assess
    expect(error).toBeInstanceOf(NotFoundException);
    expect(error).toMatchObject({
      $metadata: { httpStatusCode: 400 },
      message: expect.stringContaining(said),
    });
    expect(aliases.Aliases).toEqual([]);
  });

  it('answers a key ARN of another region even when that region has the key', async () => {
    // Prepare: the same key id in both regions (multi-Region keys share ids)
    const kms = localKms([{}, { keyId: KEY_ID, region: 'eu-west-1', aliases: [] }]);
    // Act
    const here = await kms.send(new DescribeKeyCommand({ KeyId: ARN }));
    const there = await kms
      .send(new DescribeKeyCommand({ KeyId: `arn:aws:kms:eu-west-1:${ACCOUNT}:key/${KEY_ID}` }))
      .catch((e: unknown) => e);
    // Assess
    expect(here.KeyMetadata.Arn).toBe(ARN);
    expect(there).toBeInstanceOf(NotFoundException);
  });

  it('describes a disabled key as Disabled', async () => {
    // Prepare
    const kms = localKms([{ state: 'Disabled' }]);
    // Act
    const out = await kms.send(new DescribeKeyCommand({ KeyId: KEY_ID }));
    // Assess
    expect(out.KeyMetadata).toMatchObject({ KeyState: 'Disabled', Enabled: false });
  });

  it('feeds the product’s describeKey', async () => {
    // Prepare
    const kms = localKms([{ keySpec: 'RSA_2048', keyUsage: 'SIGN_VERIFY' }]);
    // Act
    const facts = await describeKey(kms, 'alias/databricks');
    // Assess
    expect(facts).toMatchObject({
      arn: ARN,
      region: 'us-east-1',
      keySpec: 'RSA_2048',
      keyUsage: 'SIGN_VERIFY',
    });
  });
});

describe('LocalKms key policy', () => {
  it('returns the scenario policy and keeps what PutKeyPolicy sent', async () => {
    // Prepare
    const kms = localKms();
    const next = JSON.stringify({ ...POLICY, Id: 'changed' });
    // Act
    const before = await kms.send(new GetKeyPolicyCommand({ KeyId: KEY_ID, PolicyName: 'default' }));
    await kms.send(new PutKeyPolicyCommand({ KeyId: ARN, PolicyName: 'default', Policy: next }));
    const after = await kms.send(new GetKeyPolicyCommand({ KeyId: ARN, PolicyName: 'default' }));
    // Assess
    expect(JSON.parse(before.Policy)).toEqual(POLICY);
    expect(after.Policy).toBe(next);
    expect(kms.keys()[0]?.policy).toEqual({ ...POLICY, Id: 'changed' });
  });

  it.each([
    ['not JSON', '{"Statement": ['],
    ['without statements', '{"Version": "2012-10-17"}'],
    [
      'with a statement without principal',
      JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] }),
    ],
    [
      'with a bad Effect',
      JSON.stringify({ Statement: [{ Effect: 'Maybe', Principal: '*', Action: 'kms:*', Resource: '*' }] }),
    ],
    [
      'with duplicate Sids',
      JSON.stringify({
        Statement: [
          { Sid: 'A', Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt', Resource: '*' },
          { Sid: 'A', Effect: 'Allow', Principal: '*', Action: 'kms:Encrypt', Resource: '*' },
        ],
      }),
    ],
    // Since 18 August 2025 KMS refuses a statement without Action/NotAction or without Resource "*"
    // (AWS Health notice to key owners); see validatePolicy in local/aws/kms.ts.
    [
      'with a statement without Action',
      JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Resource: '*' }] }),
    ],
    [
      'with a statement without Resource',
      JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*' }] }),
    ],
    [
      'with a Resource other than "*"',
      JSON.stringify({ Statement: [{ ...POLICY.Statement[0], Resource: ARN }] }),
    ],
  ])('rejects a policy %s with MalformedPolicyDocumentException and keeps the old one', async (_, policy) => {
    // Prepare
    const kms = localKms();
    // Act
    const error = await kms
      .send(new PutKeyPolicyCommand({ KeyId: KEY_ID, PolicyName: 'default', Policy: policy }))
      .catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(MalformedPolicyDocumentException);
    expect(kms.keys()[0]?.policy).toEqual(POLICY);
  });

  it('rejects a policy over 32768 bytes with LimitExceededException', async () => {
    // Prepare
    const kms = localKms();
    const big = JSON.stringify({ ...POLICY, Id: 'x'.repeat(32768) });
    // Act
    const error = await kms
      .send(new PutKeyPolicyCommand({ KeyId: KEY_ID, PolicyName: 'default', Policy: big }))
      .catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(LimitExceededException);
  });

  it('accepts a statement with NotAction instead of Action', async () => {
    // Prepare
    const kms = localKms();
    const { Action: _, ...rest } = POLICY.Statement[0] as Record<string, unknown>;
    const policy = JSON.stringify({
      ...POLICY,
      Statement: [{ ...rest, NotAction: 'kms:ScheduleKeyDeletion' }],
    });
    // Act
    await kms.send(new PutKeyPolicyCommand({ KeyId: KEY_ID, PolicyName: 'default', Policy: policy }));
    // Assess
    expect(kms.keys()[0]?.policy).toEqual(JSON.parse(policy));
  });

  // KMS' key-state table: PutKeyPolicy succeeds in every key state
  // (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html). moto 5.2.1 agrees.
  it.each(['Disabled', 'PendingDeletion', 'PendingImport', 'Unavailable'])(
    'lets the policy of a %s key be read and changed, as the KMS key-state table says',
    async (state) => {
      // Prepare
      const kms = localKms([{ state }]);
      const next = { ...POLICY, Id: 'changed' };
      // Act
      const read = await kms.send(new GetKeyPolicyCommand({ KeyId: KEY_ID, PolicyName: 'default' }));
      await kms.send(
        new PutKeyPolicyCommand({ KeyId: KEY_ID, PolicyName: 'default', Policy: JSON.stringify(next) }),
      );
      // Assess
      expect(JSON.parse(read.Policy)).toEqual(POLICY);
      expect(kms.keys()[0]).toMatchObject({ state, policy: next });
      expect(kms.calls().map((c) => c.error)).toEqual([undefined, undefined]);
    },
  );

  it('does not accept an alias for policy calls, like KMS', async () => {
    // Prepare
    const kms = localKms();
    // Act & Assess
    await expect(
      kms.send(new GetKeyPolicyCommand({ KeyId: 'alias/databricks', PolicyName: 'default' })),
    ).rejects.toBeInstanceOf(NotFoundException);
  });

  it('is patched by ensureDatabricksKeyPolicy once, then left alone', async () => {
    // Prepare
    const kms = localKms();
    const grant = {
      useCases: ['MANAGED_SERVICES' as const],
      databricksPrincipalArn: 'arn:aws:iam::414351767826:root',
      accountIds: ['acc-1'],
      reuseKeyForClusterVolumes: true,
    };
    // Act
    const first = await ensureDatabricksKeyPolicy(kms, ARN, grant);
    const second = await ensureDatabricksKeyPolicy(kms, ARN, grant);
    // Assess
    expect(first.changed).toBe(true);
    expect(second.changed).toBe(false);
    expect(kms.calls().filter((c) => c.operation === 'PutKeyPolicy')).toHaveLength(1);
  });
});

describe('LocalKms aliases, rotation status and faults', () => {
  it('lists the aliases of one key or of all keys', async () => {
    // Prepare
    const kms = localKms([{}, { aliases: ['alias/other'] }]);
    // Act
    const one = await kms.send(new ListAliasesCommand({ KeyId: KEY_ID }));
    const all = await kms.send(new ListAliasesCommand({}));
    // Assess
    expect(one.Aliases).toEqual([
      expect.objectContaining({
        AliasName: 'alias/databricks',
        AliasArn: `arn:aws:kms:us-east-1:${ACCOUNT}:alias/databricks`,
        TargetKeyId: KEY_ID,
      }),
    ]);
    expect(all.Aliases.map((a: { AliasName: string }) => a.AliasName)).toEqual([
      'alias/databricks',
      'alias/other',
    ]);
  });

  it('reports the rotation status from the scenario', async () => {
    // Prepare
    const kms = localKms([{ rotationEnabled: true }]);
    // Act
    const out = await kms.send(new GetKeyRotationStatusCommand({ KeyId: KEY_ID }));
    // Assess
    expect(out).toMatchObject({ KeyRotationEnabled: true, RotationPeriodInDays: 365 });
  });

  it.each([
    ['DisabledException', DisabledException],
    ['ThrottlingException', KMSServiceException],
    ['AccessDeniedException', KMSServiceException],
  ])('raises an injected %s with the SDK’s name and class', async (name, ErrorClass) => {
    // Prepare
    const kms = localKms();
    kms.failNext('DescribeKey', name);
    // Act
    const error = await kms.send(new DescribeKeyCommand({ KeyId: KEY_ID })).catch((e: unknown) => e);
    const next = await kms.send(new DescribeKeyCommand({ KeyId: KEY_ID }));
    // Assess
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error).toMatchObject({ name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
    expect(next.KeyMetadata.KeyId).toBe(KEY_ID);
    expect(kms.calls().map((c) => c.error)).toEqual([name, undefined]);
  });

  it('names a command it does not support', async () => {
    // Prepare
    const kms = localKms();
    // Act & Assess
    await expect(kms.send(new EnableKeyCommand({ KeyId: KEY_ID }))).rejects.toThrow(
      /does not support EnableKeyCommand/,
    );
  });
});
