import * as kmsSdk from '@aws-sdk/client-kms';
import * as s3Sdk from '@aws-sdk/client-s3';
import * as secretsManagerSdk from '@aws-sdk/client-secrets-manager';
import type { SdkClient } from '../../lib/aws/clients.ts';
import type { AwsFault } from '../scenario.ts';

/** The AWS services the stand-ins answer for (`lambda` faults are Step Functions Task errors, not SDK errors). */
export type AwsService = Exclude<AwsFault['service'], 'lambda'>;

type Modeled = new (args: { message: string; $metadata: { httpStatusCode?: number } }) => Error;
type Base = new (args: {
  name: string;
  message: string;
  $fault: 'client' | 'server';
  $metadata: { httpStatusCode?: number };
}) => Error;

/**
 * How each service's errors reach the caller through the AWS SDK v3 (the versions in package.json): an
 * error code the service model declares becomes an instance of its own class, with the fault its model
 * gives it; any other code becomes the service's base exception with that code as `name`, `$fault`
 * `client` below HTTP 500 and `server` from 500 on. `$metadata.httpStatusCode` is the status, and
 * `$retryable` stays unset: the SDK sets it only for errors modelled with the `@retryable` trait, and KMS,
 * S3 and Secrets Manager model none (its retry strategy recognises throttling by `name` and 500/502/503/504
 * by status instead). tests/local-aws/faults.test.ts holds these shapes against the SDK's own parsing.
 *
 * The statuses are what the services answer:
 * - KMS: 400 for client errors, 500 for `KMSInternalException` and `DependencyTimeoutException` (server
 *   faults). Real KMS answers `NotFoundException: Invalid arn …` with "status code: 400"
 *   (kubernetes-retired/kube-aws#1041); moto 5.2.1 answers every KMS client error with 400.
 * - S3: the error-code table of the S3 API reference
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList): `SlowDown` 503,
 *   `ConditionalRequestConflict` 409, `PreconditionFailed` 412, `InternalError` 500, `AccessDenied` 403.
 * - Secrets Manager: 400 for client errors, 500 for `InternalServiceError`. Real Secrets Manager answers
 *   `ResourceNotFoundException` with `$metadata.httpStatusCode` 400 (SDK error logged in
 *   aws/aws-sdk-js-v3#7701; its model gives the error no `@httpError`); moto 5.2.1 answers 404 instead.
 */
const SERVICES: Record<
  AwsService,
  { sdk: Record<string, unknown>; base: Base; status: Record<string, number> }
> = {
  kms: {
    sdk: kmsSdk,
    base: kmsSdk.KMSServiceException as unknown as Base,
    status: {
      AccessDeniedException: 400,
      DisabledException: 400,
      KMSInvalidStateException: 400,
      LimitExceededException: 400,
      MalformedPolicyDocumentException: 400,
      NotFoundException: 400,
      ThrottlingException: 400,
      ValidationException: 400,
      KMSInternalException: 500,
      DependencyTimeoutException: 500,
      ServiceUnavailable: 503,
    },
  },
  s3: {
    sdk: s3Sdk,
    base: s3Sdk.S3ServiceException as unknown as Base,
    status: {
      AccessDenied: 403,
      ConditionalRequestConflict: 409,
      InternalError: 500,
      NoSuchBucket: 404,
      NoSuchKey: 404,
      PreconditionFailed: 412,
      ServiceUnavailable: 503,
      SlowDown: 503,
    },
  },
  secretsManager: {
    sdk: secretsManagerSdk,
    base: secretsManagerSdk.SecretsManagerServiceException as unknown as Base,
    status: {
      AccessDeniedException: 400,
      DecryptionFailure: 400,
      InvalidParameterException: 400,
      InvalidRequestException: 400,
      ResourceNotFoundException: 400,
      ThrottlingException: 400,
      InternalServiceError: 500,
      ServiceUnavailable: 503,
    },
  },
};

/** Whether `name` is an error code of `service` that `awsError` knows the status of. */
export function isKnownAwsError(service: AwsService, name: string): boolean {
  return name in SERVICES[service].status;
}

/** The HTTP status `service` answers the error code `name` with (an unknown code: 500). */
export function awsErrorStatus(service: AwsService, name: string): number {
  return SERVICES[service].status[name] ?? 500;
}

/**
 * The error the AWS SDK v3 client of `service` raises for the error code `name` (see `SERVICES`): the
 * SDK's own class, so `instanceof`, `name`, `$fault` and `$metadata.httpStatusCode` are what the product
 * sees from AWS.
 */
export function awsError(service: AwsService, name: string, message: string, status?: number): Error {
  const { sdk, base: Base } = SERVICES[service];
  const httpStatusCode = status ?? awsErrorStatus(service, name);
  const candidate = sdk[name] as { prototype?: unknown } | undefined;
  const Modeled =
    typeof candidate === 'function' && candidate.prototype instanceof Base
      ? (candidate as Modeled)
      : undefined;
  // A modelled error keeps the fault its model gives it, whatever the status; another one is `client`
  // below 500.
  if (Modeled) return new Modeled({ message, $metadata: { httpStatusCode } });
  return new Base({
    name,
    message,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode },
  });
}

/**
 * Fault injection for the AWS stand-ins (scenario `aws.faults`): wraps a client's `send(command)` so the
 * matching calls fail the way the SDK fails (`awsError`) before the call, or after it took effect
 * (`after`: a lost response). Also used for Lambda faults of the runner (see `FaultPlan.take`).
 */
export class FaultPlan {
  private readonly faults: Array<AwsFault & { left: number; seen: number }>;

  constructor(faults: readonly AwsFault[]) {
    this.faults = faults.map((f) => ({ ...f, left: f.times, seen: 0 }));
  }

  /** The fault for this call, if one matches and has `times` left (consumed). */
  take(service: AwsFault['service'], operation: string): AwsFault | undefined {
    for (const f of this.faults) {
      if (f.service !== service || f.left <= 0) continue;
      if (f.operation !== undefined && f.operation !== operation) continue;
      f.seen++;
      if (f.seen <= f.skip) continue;
      f.left--;
      return f;
    }
    return undefined;
  }

  /** `client` with the faults of `service` applied to its calls. */
  wrap(service: AwsFault['service'], client: SdkClient): SdkClient {
    return {
      // biome-ignore lint/suspicious/noExplicitAny: the SDK client's `send` is untyped at this seam.
      send: async (command: any): Promise<any> => {
        const operation = String(command?.constructor?.name ?? '').replace(/Command$/, '');
        const fault = this.take(service, operation);
        if (!fault) return client.send(command);
        if (fault.after) await client.send(command);
        throw faultError(fault, `${service}.${operation}`);
      },
    };
  }
}

/**
 * The error a fault raises. For KMS, S3 and Secrets Manager: the SDK's error for that code (`awsError`),
 * with the status the scenario gives or the one the service answers the code with. For a Lambda fault:
 * an error named like the Step Functions error.
 */
export function faultError(fault: AwsFault, where: string): Error {
  if (fault.service !== 'lambda') {
    const name = fault.error ?? defaultName(fault.service, fault.status ?? 500);
    const status = fault.status ?? awsErrorStatus(fault.service, name);
    return awsError(
      fault.service,
      name,
      `Injected fault (scenario): ${where} fails with ${name} (HTTP ${status})`,
      status,
    );
  }
  const status = fault.status ?? (/Throttl|TooManyRequests/i.test(fault.error ?? '') ? 429 : 500);
  const name = fault.error ?? (status >= 500 ? 'InternalError' : 'ClientError');
  const error = new Error(`Injected fault (scenario): ${where} fails with ${name} (HTTP ${status})`);
  error.name = name;
  Object.assign(error, {
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
  return error;
}

/** The error code a service answers a bare HTTP status with (a fault that gives only `status`). */
const BY_STATUS: Record<AwsService, Record<number, string>> = {
  kms: { 400: 'ValidationException', 500: 'KMSInternalException', 503: 'ServiceUnavailable' },
  s3: {
    403: 'AccessDenied',
    404: 'NoSuchKey',
    409: 'ConditionalRequestConflict',
    412: 'PreconditionFailed',
    500: 'InternalError',
    503: 'SlowDown',
  },
  secretsManager: { 400: 'InvalidRequestException', 500: 'InternalServiceError', 503: 'ServiceUnavailable' },
};

function defaultName(service: AwsService, status: number): string {
  return BY_STATUS[service][status] ?? (status >= 500 ? 'InternalFailure' : 'ClientError');
}
