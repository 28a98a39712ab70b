import { Readable } from 'node:stream';
import {
  DescribeKeyCommand,
  KMSClient,
  KMSInvalidStateException,
  KMSServiceException,
} from '@aws-sdk/client-kms';
import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { fromKmsError } from '../../lib/kms/errors.ts';
import { type AwsService, awsError, FaultPlan } from '../../local/aws/faults.ts';
import { LocalKms } from '../../local/aws/kms.ts';
import { LocalS3 } from '../../local/aws/s3.ts';
import { parseScenario } from '../../local/scenario.ts';

const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-secret' };

/**
 * The error the real SDK v3 client raises when the service answers `status` with the error `code`: the
 * client is given a request handler that returns that wire answer (no network), and one attempt.
 */
async function sdkErrorFor(service: AwsService, code: string, status: number): Promise<Error> {
  const json = { 'content-type': 'application/x-amz-json-1.1' };
  const answer = (headers: Record<string, string>, body: string) => ({
    handle: async () => ({
      response: { statusCode: status, reason: '', headers, body: Readable.from([Buffer.from(body)]) },
    }),
  });
  const common = { region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 };
  const jsonBody = JSON.stringify({ __type: code, message: 'from the wire' });
  if (service === 'kms') {
    const client = new KMSClient({ ...common, requestHandler: answer(json, jsonBody) as never });
    return client.send(new DescribeKeyCommand({ KeyId: 'k' })).catch((e: Error) => e) as Promise<Error>;
  }
  if (service === 'secretsManager') {
    const client = new SecretsManagerClient({ ...common, requestHandler: answer(json, jsonBody) as never });
    return client.send(new GetSecretValueCommand({ SecretId: 's' })).catch((e: Error) => e) as Promise<Error>;
  }
  const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>from the wire</Message></Error>`;
  const client = new S3Client({
    ...common,
    requestHandler: answer({ 'content-type': 'application/xml' }, xml) as never,
  });
  return client
    .send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x', IfNoneMatch: '*' }))
    .catch((e: Error) => e) as Promise<Error>;
}

const shape = (error: unknown) => {
  const e = error as Error & {
    $fault?: string;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  return {
    class: e.constructor.name,
    name: e.name,
    $fault: e.$fault,
    $retryable: e.$retryable,
    httpStatusCode: e.$metadata?.httpStatusCode,
  };
};

describe('awsError', () => {
  // Each fault a scenario can inject, with the status AWS answers it with (S3 API reference error-code
  // table; KMS and Secrets Manager answer client errors with 400, internal errors with 500).
  it.each([
    ['kms', 'AccessDeniedException', 400],
    ['kms', 'ThrottlingException', 400],
    ['kms', 'KMSInvalidStateException', 400],
    ['kms', 'NotFoundException', 400],
    ['kms', 'MalformedPolicyDocumentException', 400],
    ['kms', 'KMSInternalException', 500],
    ['kms', 'DependencyTimeoutException', 500],
    ['s3', 'SlowDown', 503],
    ['s3', 'ConditionalRequestConflict', 409],
    ['s3', 'PreconditionFailed', 412],
    ['s3', 'InternalError', 500],
    ['s3', 'AccessDenied', 403],
    ['secretsManager', 'ResourceNotFoundException', 400],
    ['secretsManager', 'ThrottlingException', 400],
    ['secretsManager', 'InternalServiceError', 500],
  ] as const)('raises %s %s as the SDK parses it from an HTTP %i answer', async (service, code, status) => {
    // Act
    const ours = awsError(service, code, 'injected');
    const theirs = await sdkErrorFor(service, code, status);
    // Assess
    expect(shape(ours)).toEqual(shape(theirs));
    expect(shape(ours).httpStatusCode).toBe(status);
  });
});

describe('FaultPlan (scenario aws.faults)', () => {
  const planOf = (faults: unknown[]) => new FaultPlan(parseScenario({ aws: { faults } }).aws.faults);

  it.each([
    ['error SlowDown', 'SlowDown', 503, { error: 'SlowDown' }, 'server'],
    [
      'error ConditionalRequestConflict',
      'ConditionalRequestConflict',
      409,
      { error: 'ConditionalRequestConflict' },
      'client',
    ],
    ['error PreconditionFailed', 'PreconditionFailed', 412, { error: 'PreconditionFailed' }, 'client'],
    ['only status 503', 'SlowDown', 503, { status: 503 }, 'server'],
    ['only status 409', 'ConditionalRequestConflict', 409, { status: 409 }, 'client'],
  ])('fails an S3 call given %s as S3ServiceException %s (HTTP %i)', async (_, name, code, given, fault) => {
    // Prepare
    const s3 = planOf([{ service: 's3', operation: 'PutObject', ...given }]).wrap('s3', new LocalS3());
    // Act
    const failure = await s3
      .send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }))
      .catch((e: unknown) => e);
    // Assess
    expect(failure).toBeInstanceOf(S3ServiceException);
    expect(failure).toMatchObject({ name, $fault: fault, $metadata: { httpStatusCode: code } });
    expect((failure as { $retryable?: unknown }).$retryable).toBeUndefined();
  });

  it.each([
    ['AccessDeniedException', KMSServiceException, 'KmsAccessDenied'],
    ['ThrottlingException', KMSServiceException, 'KmsThrottled'],
    ['KMSInvalidStateException', KMSInvalidStateException, 'KeyInvalidState'],
  ])(
    'fails a KMS call with %s as the SDK does, which the product names',
    async (error, ErrorClass, named) => {
      // Prepare
      const kms = planOf([{ service: 'kms', operation: 'DescribeKey', error }]).wrap(
        'kms',
        new LocalKms([{ keyId: 'k1' }]),
      );
      // Act
      const failure = await kms.send(new DescribeKeyCommand({ KeyId: 'k1' })).catch((e: unknown) => e);
      const next = await kms.send(new DescribeKeyCommand({ KeyId: 'k1' }));
      // Assess
      expect(failure).toBeInstanceOf(ErrorClass);
      expect(failure).toMatchObject({ name: error, $fault: 'client', $metadata: { httpStatusCode: 400 } });
      expect(fromKmsError(failure, { keyId: 'k1', operation: 'DescribeKey' }).name).toBe(named);
      expect(next.KeyMetadata.KeyId).toBe('k1');
    },
  );

  it('lets the call take effect before failing it when the fault is `after` (a lost answer)', async () => {
    // Prepare
    const local = new LocalS3();
    const s3 = planOf([{ service: 's3', operation: 'PutObject', error: 'InternalError', after: true }]).wrap(
      's3',
      local,
    );
    // Act
    const failure = await s3
      .send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }))
      .catch((e: unknown) => e);
    const read = await s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }));
    // Assess
    expect(failure).toMatchObject({
      name: 'InternalError',
      $fault: 'server',
      $metadata: { httpStatusCode: 500 },
    });
    expect(await read.Body.transformToString()).toBe('x');
  });
});
