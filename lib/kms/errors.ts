import { RotatorError } from '../errors.ts';

/**
 * Named KMS errors. The class name is the stable error name the state machine's Retry/Catch match on;
 * messages name the key and say what to do next.
 */

/** The key (or alias) does not exist in this account and region. */
export class KeyNotFound extends RotatorError {}

/** The key exists but is disabled. */
export class KeyDisabled extends RotatorError {}

/** The key is pending deletion, pending import, unavailable, or otherwise not usable in its state. */
export class KeyInvalidState extends RotatorError {}

/** The key is not a symmetric (SYMMETRIC_DEFAULT) key. */
export class KeyNotSymmetric extends RotatorError {}

/** The key's usage is not ENCRYPT_DECRYPT. */
export class KeyWrongUsage extends RotatorError {}

/** The key is not in the workspace's region. */
export class KeyRegionMismatch extends RotatorError {}

/** The key policy is not a JSON object with a `Statement` list; the product refuses to touch it. */
export class KeyPolicyUnparseable extends RotatorError {}

/** The merged key policy would exceed the KMS limit of 32 KB. */
export class KeyPolicyTooLarge extends RotatorError {}

/**
 * The key policy cannot be written: KMS rejected it (MalformedPolicyDocumentException), or the product
 * refuses to write a statement whose principal it must not grant — the EBS statement's principal is not an
 * IAM role of the workspace's own AWS account (see `assertEbsPrincipal` in `./policy.ts`). The message
 * names the key or the principal and why.
 */
export class KeyPolicyRejected extends RotatorError {}

/** The rotator's role is not allowed to call this KMS operation on the key. */
export class KmsAccessDenied extends RotatorError {}

/** KMS throttled the call or failed transiently; the state machine retries it. */
export class KmsThrottled extends RotatorError {}

const THROTTLED = new Set([
  'ThrottlingException',
  'LimitExceededException',
  'DependencyTimeoutException',
  'KMSInternalException',
]);

/**
 * Maps an AWS SDK KMS exception (by its `name`) to the named error of this module, keeping the SDK error as
 * `cause`. Errors that are not known KMS exceptions are returned unchanged.
 */
export function fromKmsError(error: unknown, context: { keyId: string; operation: string }): Error {
  const name = (error as { name?: unknown } | null)?.name;
  const sdkMessage = (error as { message?: unknown } | null)?.message;
  const { keyId, operation } = context;
  const said = typeof sdkMessage === 'string' && sdkMessage !== '' ? ` (KMS said: ${sdkMessage})` : '';
  const options = { cause: error, details: { keyId, operation, kmsError: name } };
  switch (name) {
    case 'NotFoundException':
      return new KeyNotFound(
        `KMS key ${keyId} was not found by ${operation}${said}; check the key id/ARN/alias, the account and the region`,
        options,
      );
    case 'DisabledException':
      return new KeyDisabled(
        `KMS key ${keyId} is disabled (${operation})${said}; enable it (kms:EnableKey) or choose another key`,
        options,
      );
    case 'KMSInvalidStateException':
      return new KeyInvalidState(
        `KMS key ${keyId} is not in a state that allows ${operation}${said}; cancel its deletion, import its key material or choose another key`,
        options,
      );
    case 'MalformedPolicyDocumentException':
      return new KeyPolicyRejected(
        `KMS rejected the key policy of ${keyId} (${operation})${said}; check the policy's principals exist and its syntax`,
        options,
      );
    case 'AccessDeniedException':
      return new KmsAccessDenied(
        `the rotator is not allowed to call kms:${operation} on ${keyId}${said}; grant it in the key policy and the rotator's IAM role`,
        options,
      );
    default:
      if (typeof name === 'string' && THROTTLED.has(name)) {
        return new KmsThrottled(
          `KMS ${operation} on ${keyId} failed transiently (${name})${said}; it is retried`,
          options,
        );
      }
      return error instanceof Error ? error : new Error(String(error), { cause: error });
  }
}
