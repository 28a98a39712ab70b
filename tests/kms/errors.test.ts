import { NotFoundException } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { RotatorError } from '../../lib/errors.ts';
import { fromKmsError, KeyNotFound, KmsThrottled } from '../../lib/kms/errors.ts';

const context = { keyId: 'arn:aws:kms:us-east-1:111122223333:key/abc', operation: 'DescribeKey' };

describe('fromKmsError', () => {
  it.each([
    ['NotFoundException', 'KeyNotFound'],
    ['DisabledException', 'KeyDisabled'],
    ['KMSInvalidStateException', 'KeyInvalidState'],
    ['MalformedPolicyDocumentException', 'KeyPolicyRejected'],
    ['AccessDeniedException', 'KmsAccessDenied'],
    ['ThrottlingException', 'KmsThrottled'],
    ['LimitExceededException', 'KmsThrottled'],
    ['DependencyTimeoutException', 'KmsThrottled'],
    ['KMSInternalException', 'KmsThrottled'],
  ])('maps %s to the named error %s', (sdkName, expected) => {
    // Prepare
    const sdkError = Object.assign(new Error('from KMS'), { name: sdkName });
    // Act
    const error = fromKmsError(sdkError, context);
    // Assess
    expect(error).toBeInstanceOf(RotatorError);
    expect(error.name).toBe(expected);
    expect(error.cause).toBe(sdkError);
    expect(error.message).toContain(context.keyId);
    expect((error as RotatorError).details).toMatchObject({ keyId: context.keyId, kmsError: sdkName });
  });

  it('says what to do about a missing key', () => {
    // Act
    const error = fromKmsError(new NotFoundException({ message: 'no such key', $metadata: {} }), context);
    // Assess
    expect(error).toBeInstanceOf(KeyNotFound);
    expect(error.message).toMatch(/check the key id\/ARN\/alias, the account and the region/);
  });

  it('marks throttling as retried', () => {
    // Act
    const error = fromKmsError(
      Object.assign(new Error('slow down'), { name: 'ThrottlingException' }),
      context,
    );
    // Assess
    expect(error).toBeInstanceOf(KmsThrottled);
    expect(error.message).toMatch(/retried/);
  });

  it('returns an unknown error unchanged', () => {
    // Prepare
    const other = new TypeError('fetch failed');
    // Act & Assess
    expect(fromKmsError(other, context)).toBe(other);
  });
});
