import {
  DependencyTimeoutException,
  DescribeKeyCommand,
  DisabledException,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  KMSInternalException,
  KMSInvalidStateException,
  KMSServiceException,
  LimitExceededException,
  ListAliasesCommand,
  MalformedPolicyDocumentException,
  NotFoundException,
  PutKeyPolicyCommand,
} from '@aws-sdk/client-kms';
import type { SdkClient } from '../../lib/aws/clients.ts';
import { type Clock, clock as currentClock } from '../../lib/clock.ts';

/**
 * A small, faithful stand-in for the KMS calls the product makes (DescribeKey, GetKeyPolicy, PutKeyPolicy,
 * ListAliases, GetKeyRotationStatus), behind the SDK client's `send(command)`. It throws the SDK's own
 * exception classes, so `error.name` and `instanceof` are what the real client gives.
 */

/** A key as the scenario's `aws.keys[]` describes it (README § Scenarios and reports). */
export interface ScenarioKey {
  keyId: string;
  region?: string | undefined;
  /** KMS KeyState: Enabled, Disabled, PendingDeletion, PendingImport, Unavailable, … */
  state?: string | undefined;
  keySpec?: string | undefined;
  keyUsage?: string | undefined;
  origin?: string | undefined;
  aliases?: string[] | undefined;
  /** The key policy as an object (or its JSON text). */
  policy?: Record<string, unknown> | string | undefined;
  description?: string | undefined;
  rotationEnabled?: boolean | undefined;
  rotationPeriodInDays?: number | undefined;
}

export interface KmsCall {
  /** Seconds since the stand-in was created, on its clock. */
  t: number;
  operation: string;
  keyId: string;
  /** The exception name when the call failed. */
  error?: string;
}

type ExceptionClass = new (args: { message: string; $metadata: Record<string, never> }) => Error;

const MODELED: Record<string, ExceptionClass> = {
  DependencyTimeoutException,
  DisabledException,
  KMSInternalException,
  KMSInvalidStateException,
  LimitExceededException,
  MalformedPolicyDocumentException,
  NotFoundException,
};
/** Errors KMS returns that the SDK does not model: it raises them as `KMSServiceException` with their name. */
const UNMODELED = new Set(['ThrottlingException', 'AccessDeniedException']);

const MAX_POLICY_BYTES = 32768;
const DELETION_STATES = new Set(['PendingDeletion', 'PendingReplicaDeletion']);

interface KeyRecord {
  source: ScenarioKey;
  region: string;
  policy: string;
  state: string;
  creationDate: Date;
}

function raise(name: string, message: string): never {
  const Exception = MODELED[name];
  if (Exception) throw new Exception({ message, $metadata: {} });
  if (UNMODELED.has(name)) throw new KMSServiceException({ name, $fault: 'client', $metadata: {}, message });
  throw new Error(`${name}: ${message}`);
}

export class LocalKms implements SdkClient {
  readonly accountId: string;
  readonly region: string;
  private readonly records: KeyRecord[];
  private readonly log: KmsCall[] = [];
  private readonly faults: Array<{ operation: string; name: string; times: number }> = [];
  private readonly clockRef: Clock | undefined;
  private readonly startedAt: number;

  constructor(
    keys: readonly ScenarioKey[],
    options: { accountId: string; region: string; clock?: Clock } = {
      accountId: '111122223333',
      region: 'us-east-1',
    },
  ) {
    this.accountId = options.accountId;
    this.region = options.region;
    this.clockRef = options.clock;
    this.startedAt = this.clock().now();
    this.records = keys.map((key) => ({
      source: structuredClone(key),
      region: key.region ?? options.region,
      policy:
        typeof key.policy === 'string'
          ? key.policy
          : JSON.stringify(key.policy ?? this.defaultPolicy(), null, 2),
      state: key.state ?? 'Enabled',
      creationDate: new Date(this.startedAt),
    }));
  }

  /** The keys as they are now, in the scenario's shape (policy as an object), for the run report. */
  keys(): ScenarioKey[] {
    return this.records.map((r) => ({
      ...structuredClone(r.source),
      region: r.region,
      state: r.state,
      policy: parseOrText(r.policy),
    }));
  }

  /** Every call made, in order. */
  calls(): KmsCall[] {
    return this.log.map((c) => ({ ...c }));
  }

  /** Makes the next `times` calls of `operation` fail with the named KMS exception (tests, fault scenarios). */
  failNext(operation: string, exceptionName: string, times = 1): void {
    if (!MODELED[exceptionName] && !UNMODELED.has(exceptionName))
      throw new Error(`LocalKms cannot raise unknown exception ${exceptionName}`);
    this.faults.push({ operation, name: exceptionName, times });
  }

  /** The ARN of a key of this stand-in. */
  keyArn(keyId: string): string {
    const record = this.records.find((r) => r.source.keyId === keyId);
    return `arn:aws:kms:${record?.region ?? this.region}:${this.accountId}:key/${keyId}`;
  }

  // biome-ignore lint/suspicious/noExplicitAny: the SDK client's `send` is untyped at this seam.
  async send(command: any): Promise<any> {
    const operation = String(command?.constructor?.name ?? 'Unknown').replace(/Command$/, '');
    const input = (command?.input ?? {}) as Record<string, unknown>;
    const keyId = typeof input.KeyId === 'string' ? input.KeyId : '';
    const call: KmsCall = { t: (this.clock().now() - this.startedAt) / 1000, operation, keyId };
    this.log.push(call);
    try {
      this.injectFault(operation);
      return this.answer(command, input);
    } catch (error) {
      call.error = (error as { name?: string }).name ?? 'Error';
      throw error;
    }
  }

  private answer(command: unknown, input: Record<string, unknown>): unknown {
    if (command instanceof DescribeKeyCommand) return this.describeKey(input);
    if (command instanceof GetKeyPolicyCommand) return this.getKeyPolicy(input);
    if (command instanceof PutKeyPolicyCommand) return this.putKeyPolicy(input);
    if (command instanceof ListAliasesCommand) return this.listAliases(input);
    if (command instanceof GetKeyRotationStatusCommand) return this.getKeyRotationStatus(input);
    const name = (command as { constructor?: { name?: string } })?.constructor?.name ?? typeof command;
    throw new Error(
      `LocalKms does not support ${name}; it answers DescribeKey, GetKeyPolicy, PutKeyPolicy, ListAliases and GetKeyRotationStatus`,
    );
  }

  private describeKey(input: Record<string, unknown>) {
    const record = this.resolve(input.KeyId, { aliases: true });
    const arn = this.keyArn(record.source.keyId);
    const spec = record.source.keySpec ?? 'SYMMETRIC_DEFAULT';
    return {
      KeyMetadata: {
        AWSAccountId: this.accountId,
        KeyId: record.source.keyId,
        Arn: arn,
        CreationDate: record.creationDate,
        Enabled: record.state === 'Enabled',
        Description: record.source.description ?? '',
        KeyUsage: record.source.keyUsage ?? 'ENCRYPT_DECRYPT',
        KeyState: record.state,
        Origin: record.source.origin ?? 'AWS_KMS',
        KeyManager: 'CUSTOMER',
        CustomerMasterKeySpec: spec,
        KeySpec: spec,
        MultiRegion: false,
        ...(spec === 'SYMMETRIC_DEFAULT' ? { EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] } : {}),
      },
      $metadata: {},
    };
  }

  private getKeyPolicy(input: Record<string, unknown>) {
    const record = this.resolve(input.KeyId, { aliases: false });
    this.checkPolicyName(input.PolicyName);
    return { Policy: record.policy, PolicyName: 'default', $metadata: {} };
  }

  private putKeyPolicy(input: Record<string, unknown>) {
    const record = this.resolve(input.KeyId, { aliases: false });
    this.checkPolicyName(input.PolicyName);
    const policy = input.Policy;
    if (typeof policy !== 'string' || policy === '')
      raise('MalformedPolicyDocumentException', 'Policy is required');
    if (Buffer.byteLength(policy, 'utf8') > MAX_POLICY_BYTES) {
      raise('LimitExceededException', `The key policy exceeds the maximum size of ${MAX_POLICY_BYTES} bytes`);
    }
    validatePolicy(policy);
    if (DELETION_STATES.has(record.state)) {
      raise('KMSInvalidStateException', `${this.keyArn(record.source.keyId)} is pending deletion.`);
    }
    record.policy = policy;
    return { $metadata: {} };
  }

  private listAliases(input: Record<string, unknown>) {
    const records =
      input.KeyId === undefined ? this.records : [this.resolve(input.KeyId, { aliases: false })];
    const aliases = records.flatMap((r) =>
      (r.source.aliases ?? []).map((name) => ({
        AliasName: name,
        AliasArn: `arn:aws:kms:${r.region}:${this.accountId}:${name}`,
        TargetKeyId: r.source.keyId,
        CreationDate: r.creationDate,
        LastUpdatedDate: r.creationDate,
      })),
    );
    return { Aliases: aliases, Truncated: false, $metadata: {} };
  }

  private getKeyRotationStatus(input: Record<string, unknown>) {
    const record = this.resolve(input.KeyId, { aliases: false });
    const enabled = record.source.rotationEnabled ?? false;
    return {
      KeyId: this.keyArn(record.source.keyId),
      KeyRotationEnabled: enabled,
      ...(enabled ? { RotationPeriodInDays: record.source.rotationPeriodInDays ?? 365 } : {}),
      $metadata: {},
    };
  }

  /** Finds a key by id or key ARN (and, for DescribeKey, alias name or alias ARN) like KMS does. */
  private resolve(keyId: unknown, options: { aliases: boolean }): KeyRecord {
    if (typeof keyId !== 'string' || keyId === '') raise('NotFoundException', 'KeyId is required');
    const arn = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key|alias)\/(.+)$/.exec(keyId);
    let record: KeyRecord | undefined;
    if (arn) {
      const [, region, account, kind, name] = arn;
      const wantedAlias = `alias/${name}`;
      record =
        account !== this.accountId
          ? undefined
          : kind === 'key'
            ? this.records.find((r) => r.source.keyId === name && r.region === region)
            : options.aliases
              ? this.records.find(
                  (r) => r.region === region && (r.source.aliases ?? []).includes(wantedAlias),
                )
              : undefined;
    } else if (keyId.startsWith('alias/')) {
      record = options.aliases
        ? this.records.find((r) => r.region === this.region && (r.source.aliases ?? []).includes(keyId))
        : undefined;
    } else {
      record = this.records.find((r) => r.source.keyId === keyId && r.region === this.region);
    }
    if (!record) {
      const what = keyId.includes('alias/') ? 'Alias' : 'Key';
      raise('NotFoundException', `${what} '${this.describeId(keyId)}' does not exist`);
    }
    return record;
  }

  private describeId(keyId: string): string {
    if (keyId.startsWith('arn:')) return keyId;
    if (keyId.startsWith('alias/')) return `arn:aws:kms:${this.region}:${this.accountId}:${keyId}`;
    return `arn:aws:kms:${this.region}:${this.accountId}:key/${keyId}`;
  }

  private checkPolicyName(name: unknown): void {
    // KMS keys have exactly one policy; since 2024 PolicyName is optional and defaults to "default".
    if (name !== undefined && name !== 'default')
      raise('NotFoundException', `Policy '${String(name)}' does not exist`);
  }

  private injectFault(operation: string): void {
    const fault = this.faults.find((f) => f.operation === operation && f.times > 0);
    if (!fault) return;
    fault.times--;
    raise(fault.name, `injected ${fault.name} for ${operation}`);
  }

  private clock(): Clock {
    return this.clockRef ?? currentClock();
  }

  private defaultPolicy() {
    return {
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [
        {
          Sid: 'Enable IAM User Permissions',
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${this.accountId}:root` },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    };
  }
}

/** What KMS checks of a policy document's grammar (a subset: JSON, statements, effects, principals). */
function validatePolicy(policy: string): void {
  let doc: unknown;
  try {
    doc = JSON.parse(policy);
  } catch {
    raise('MalformedPolicyDocumentException', 'The new key policy is not valid JSON.');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    raise('MalformedPolicyDocumentException', 'The new key policy is not a JSON object.');
  }
  const { Version, Statement } = doc as Record<string, unknown>;
  if (Version !== undefined && Version !== '2012-10-17' && Version !== '2008-10-17') {
    raise('MalformedPolicyDocumentException', `Policy has an invalid Version ${JSON.stringify(Version)}`);
  }
  const statements = Array.isArray(Statement) ? Statement : Statement === undefined ? [] : [Statement];
  if (statements.length === 0)
    raise('MalformedPolicyDocumentException', 'Policy is missing required element: Statement');
  const sids = new Set<string>();
  for (const s of statements) {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) {
      raise('MalformedPolicyDocumentException', 'Policy statement must be a JSON object');
    }
    const st = s as Record<string, unknown>;
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny') {
      raise('MalformedPolicyDocumentException', 'Policy statement has an invalid or missing Effect');
    }
    if (st.Principal === undefined && st.NotPrincipal === undefined) {
      raise('MalformedPolicyDocumentException', 'Policy contains a statement with no principal.');
    }
    if (st.Action === undefined && st.NotAction === undefined) {
      raise('MalformedPolicyDocumentException', 'Policy statement is missing required element: Action');
    }
    if (typeof st.Sid === 'string') {
      if (sids.has(st.Sid))
        raise('MalformedPolicyDocumentException', `Statement IDs (SID) must be unique: ${st.Sid}`);
      sids.add(st.Sid);
    }
  }
}

function parseOrText(policy: string): Record<string, unknown> | string {
  try {
    return JSON.parse(policy) as Record<string, unknown>;
  } catch {
    return policy;
  }
}
