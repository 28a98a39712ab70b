import {
  DescribeKeyCommand,
  DisabledException,
  KMSClient,
  KMSInvalidStateException,
  NotFoundException,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { assertKeyUsable, describeKey, type KeyFacts, keyRegion, parseKmsArn } from '../../lib/kms/key.ts';

const ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const kmsMock = mockClient(KMSClient);
const kms = new KMSClient({ region: 'us-east-1' });

afterEach(() => kmsMock.reset());

const usable: KeyFacts = {
  keyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
  arn: ARN,
  region: 'us-east-1',
  state: 'Enabled',
  keySpec: 'SYMMETRIC_DEFAULT',
  keyUsage: 'ENCRYPT_DECRYPT',
};

describe('Function: describeKey', () => {
  it('returns the facts of the key an alias names', async () => {
    // Prepare
    kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/databricks' }).resolves({
      KeyMetadata: {
        KeyId: usable.keyId,
        Arn: ARN,
        KeyState: 'Enabled',
        KeySpec: 'SYMMETRIC_DEFAULT',
        KeyUsage: 'ENCRYPT_DECRYPT',
        Origin: 'AWS_KMS',
      },
    });
    // Act
    const facts = await describeKey(kms, 'alias/databricks');
    // Assess
    expect(facts).toEqual({ ...usable, origin: 'AWS_KMS' });
  });

  const sdkError = (name: string): Error => {
    const $metadata = {};
    if (name === 'NotFoundException') return new NotFoundException({ message: 'from KMS', $metadata });
    if (name === 'DisabledException') return new DisabledException({ message: 'from KMS', $metadata });
    if (name === 'KMSInvalidStateException')
      return new KMSInvalidStateException({ message: 'from KMS', $metadata });
    // The SDK has no class for AccessDeniedException: it arrives as a generic service error with that name.
    return Object.assign(new Error('from KMS'), { name });
  };

  it.each([
    ['NotFoundException', 'KeyNotFound'],
    ['DisabledException', 'KeyDisabled'],
    ['KMSInvalidStateException', 'KeyInvalidState'],
    ['AccessDeniedException', 'KmsAccessDenied'],
  ])('maps %s to %s naming the key', async (sdkName, name) => {
    kmsMock.on(DescribeKeyCommand).rejects(sdkError(sdkName));
    const error = await describeKey(kms, ARN).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe(name);
    expect((error as Error).message).toContain(ARN);
  });
});

describe('Function: assertKeyUsable', () => {
  it('accepts an enabled symmetric ENCRYPT_DECRYPT key in the workspace region', () => {
    expect(() => assertKeyUsable(usable, 'us-east-1')).not.toThrow();
  });

  it.each([
    ['KeyDisabled', { state: 'Disabled' }, 'us-east-1'],
    ['KeyInvalidState', { state: 'PendingDeletion' }, 'us-east-1'],
    ['KeyInvalidState', { state: 'PendingImport' }, 'us-east-1'],
    ['KeyNotSymmetric', { keySpec: 'RSA_4096' }, 'us-east-1'],
    ['KeyWrongUsage', { keyUsage: 'GENERATE_VERIFY_MAC' }, 'us-east-1'],
    ['KeyRegionMismatch', {}, 'eu-west-1'],
  ])('raises %s for %j in %s', (name, facts, region) => {
    let error: Error | undefined;
    try {
      assertKeyUsable({ ...usable, ...facts }, region);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.name).toBe(name);
    expect(error?.message).toContain(ARN);
  });
});

describe('Function: keyRegion', () => {
  it('reads the region from a key ARN, multi-Region keys included', () => {
    expect(keyRegion(ARN)).toBe('us-east-1');
    expect(
      keyRegion('arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab'),
    ).toBe('us-gov-west-1');
  });

  it('tells a key ARN from an alias ARN', () => {
    expect(parseKmsArn(ARN)?.kind).toBe('key');
    expect(parseKmsArn('arn:aws:kms:us-east-1:111122223333:alias/databricks')?.kind).toBe('alias');
    expect(parseKmsArn('alias/databricks')).toBeUndefined();
  });
});
