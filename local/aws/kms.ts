import {
  DescribeKeyCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  ListAliasesCommand,
  PutKeyPolicyCommand,
} from '@aws-sdk/client-kms';
import type { SdkClient } from '../../lib/aws/clients.ts';
import { type Clock, clock as currentClock } from '../../lib/clock.ts';
import { awsError, isKnownAwsError } from './faults.ts';

/**
 * A small, faithful stand-in for the KMS calls the product makes (DescribeKey, GetKeyPolicy, PutKeyPolicy,
 * ListAliases, GetKeyRotationStatus), behind the SDK client's `send(command)`. It is the KMS endpoint of
 * one account and one region, as a KMS client is, and raises what the SDK raises (`awsError`), so
 * `error.name`, `instanceof`, `$fault` and `$metadata.httpStatusCode` are what the real client gives.
 */

/** A key as the scenario's `aws.keys[]` describes it (README § Scenarios and reports). */
export interface ScenarioKey {
  keyId: string;
  /** The key's region; a key of another region than the stand-in's exists, but this endpoint cannot see it. */
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
  /**
   * What the security team does to the key during the run, on the run's clock: e.g. a key disabled at the
   * start and enabled again 5 minutes later is `state: "Disabled"` and `[{ afterSeconds: 300, state: "Enabled" }]`.
   */
  stateChanges?: Array<{ afterSeconds: number; state: string }> | undefined;
}

export interface KmsCall {
  /** Seconds since the stand-in was created, on its clock. */
  t: number;
  operation: string;
  keyId: string;
  /** The exception name when the call failed. */
  error?: string;
}

export interface LocalKmsOptions {
  accountId: string;
  /** The region of the KMS endpoint the client talks to. */
  region: string;
  clock?: Clock;
  /**
   * The IAM roles and users that exist (`knownPrincipals`). Given, PutKeyPolicy refuses a policy that
   * names any other role or user, as KMS does; omitted, existence is not checked.
   */
  principals?: readonly string[];
}

const MAX_POLICY_BYTES = 32768;

interface KeyRecord {
  source: ScenarioKey;
  region: string;
  policy: string;
  state: string;
  creationDate: Date;
  /** How many of the scenario's `stateChanges` have taken effect. */
  appliedChanges?: number;
}

function raise(name: string, message: string): never {
  throw awsError('kms', name, message);
}

export class LocalKms implements SdkClient {
  readonly accountId: string;
  readonly region: string;
  private readonly records: KeyRecord[];
  private readonly log: KmsCall[] = [];
  private readonly faults: Array<{ operation: string; name: string; times: number }> = [];
  private readonly clockRef: Clock | undefined;
  private readonly startedAt: number;
  /** The IAM roles and users that exist, or `undefined`: existence is not checked. */
  private readonly principals: ReadonlySet<string> | undefined;

  constructor(
    keys: readonly ScenarioKey[],
    options: LocalKmsOptions = { accountId: '111122223333', region: 'us-east-1' },
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
    this.principals = options.principals
      ? new Set([...options.principals, ...this.records.flatMap((r) => principalsIn(r.policy))])
      : undefined;
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
    if (!isKnownAwsError('kms', exceptionName))
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
    this.applyStateChanges(call.t);
    try {
      this.injectFault(operation);
      return this.answer(command, input);
    } catch (error) {
      call.error = (error as { name?: string }).name ?? 'Error';
      throw error;
    }
  }

  /** The scenario's `stateChanges` due by `t` (seconds since the start) take effect, in order. */
  private applyStateChanges(t: number): void {
    for (const record of this.records) {
      const due = (record.source.stateChanges ?? []).filter((c) => c.afterSeconds <= t);
      const last = due.sort((a, b) => a.afterSeconds - b.afterSeconds).at(-1);
      if (last && record.appliedChanges !== due.length) {
        record.state = last.state;
        record.appliedChanges = due.length;
      }
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
    if (this.principals) this.checkPrincipalsExist(policy, this.principals);
    // No key-state check: KMS' key-state table marks PutKeyPolicy as succeeding in every key state,
    // Disabled and PendingDeletion included (developer guide, "Key states of AWS KMS keys",
    // https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html). moto 5.2.1 agrees.
    record.policy = policy;
    return { $metadata: {} };
  }

  private listAliases(input: Record<string, unknown>) {
    // Aliases are regional like keys: this endpoint lists its own region's.
    const records =
      input.KeyId === undefined
        ? this.records.filter((r) => r.region === this.region)
        : [this.resolve(input.KeyId, { aliases: false })];
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

  /**
   * Finds a key by id or key ARN (and, for DescribeKey, alias name or alias ARN) like KMS does. KMS keys
   * are regional and an ARN names its region: a KMS endpoint given a key or alias ARN of another region
   * answers `NotFoundException: Invalid arn <region>` (HTTP 400; reported from real KMS in
   * kubernetes-retired/kube-aws#1041 and nakedible/openssl-engine-kms#1). The KMS API reference allows an
   * ARN to reach another *account* (DescribeKey `KeyId`), never another region. moto 5.2.1 answers
   * NotFoundException for a key that lives in another region, but looks a rewritten ARN up by key id alone.
   */
  private resolve(keyId: unknown, options: { aliases: boolean }): KeyRecord {
    if (typeof keyId !== 'string' || keyId === '') raise('NotFoundException', 'KeyId is required');
    const arn = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key|alias)\/(.+)$/.exec(keyId);
    const here = this.records.filter((r) => r.region === this.region);
    let record: KeyRecord | undefined;
    if (arn) {
      const [, region, account, kind, name] = arn;
      if (region !== this.region) raise('NotFoundException', `Invalid arn ${region}`);
      const wantedAlias = `alias/${name}`;
      record =
        account !== this.accountId
          ? undefined
          : kind === 'key'
            ? here.find((r) => r.source.keyId === name)
            : options.aliases
              ? here.find((r) => (r.source.aliases ?? []).includes(wantedAlias))
              : undefined;
    } else if (keyId.startsWith('alias/')) {
      record = options.aliases ? here.find((r) => (r.source.aliases ?? []).includes(keyId)) : undefined;
    } else {
      record = here.find((r) => r.source.keyId === keyId);
    }
    if (!record) {
      const what = keyId.includes('alias/') ? 'Alias' : 'Key';
      raise('NotFoundException', `${what} '${this.describeId(keyId)}' does not exist`);
    }
    return record;
  }

  /**
   * KMS refuses a key policy that names an IAM role or user that does not exist: "The principals in the
   * key policy must exist and be visible to KMS" (KMS API reference, PutKeyPolicy `Policy`), answered with
   * `MalformedPolicyDocumentException: Policy contains a statement with one or more invalid principals`
   * (AWS re:Post knowledge center, kms-policy-error-invalid-principals). moto does not check this.
   */
  private checkPrincipalsExist(policy: string, known: ReadonlySet<string>): void {
    const missing = principalsIn(policy).filter((p) => !principalExists(p, known));
    if (missing.length > 0) {
      raise(
        'MalformedPolicyDocumentException',
        `Policy contains a statement with one or more invalid principals. (local stand-in: ${missing.join(', ')} not among the scenario's IAM principals, aws.principals)`,
      );
    }
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

/**
 * What KMS checks of a policy document's grammar: JSON, a `Statement`, and in each statement an `Effect`,
 * a principal, an `Action` or `NotAction`, a `Resource` of `"*"`, and unique `Sid`s. Refusals are
 * `MalformedPolicyDocumentException`.
 *
 * `Action` and `Resource`: the KMS developer guide lists both as required in every key policy statement
 * ("Elements in a key policy"), `"*"` being the only Resource a key policy can name. KMS used to store a
 * statement without them (it had no effect); the PutKeyPolicy API reference still says so. AWS announced
 * to key owners (AWS Health, quoted in ministryofjustice/analytical-platform#7691) that from 18 August
 * 2025 CreateKey, ReplicateKey and PutKeyPolicy "without a valid Action or NotAction, and Resource element
 * in the key policy will be rejected with MalformedPolicyDocumentException", Resource `"*"` being the only
 * accepted value. The stand-in answers as KMS does since then. (moto validates none of this.)
 */
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
    const resources = Array.isArray(st.Resource) ? st.Resource : [st.Resource];
    if (st.Resource === undefined || resources.length === 0 || resources.some((r) => r !== '*')) {
      raise(
        'MalformedPolicyDocumentException',
        `Policy statement must have "Resource": "*"${typeof st.Sid === 'string' ? ` (statement ${st.Sid})` : ''}`,
      );
    }
    if (typeof st.Sid === 'string') {
      if (sids.has(st.Sid))
        raise('MalformedPolicyDocumentException', `Statement IDs (SID) must be unique: ${st.Sid}`);
      sids.add(st.Sid);
    }
  }
}

/**
 * The IAM principals a policy names (`Principal` and `NotPrincipal`, key `AWS`): `*`, account ids and
 * ARNs. Service principals are left out: they always exist. An unparseable policy names none.
 */
export function principalsIn(policy: string | Record<string, unknown>): string[] {
  let doc: unknown = policy;
  if (typeof policy === 'string') {
    try {
      doc = JSON.parse(policy);
    } catch {
      return [];
    }
  }
  const statement = (doc as { Statement?: unknown } | null)?.Statement;
  const statements = Array.isArray(statement) ? statement : statement ? [statement] : [];
  const out: string[] = [];
  for (const st of statements as Array<Record<string, unknown> | null>) {
    for (const element of [st?.Principal, st?.NotPrincipal]) {
      if (element === '*') out.push('*');
      const aws = (element as { AWS?: unknown } | null | undefined)?.AWS;
      for (const value of Array.isArray(aws) ? aws : aws === undefined ? [] : [aws]) {
        out.push(String(value));
      }
    }
  }
  return [...new Set(out)];
}

/**
 * Whether KMS would find the IAM principal `value` (a `Principal.AWS` entry). The stand-in's rule:
 * - `*`, an account id (`111122223333`) and an account root (`arn:aws:iam::111122223333:root`) always
 *   exist — an AWS account always does, which is why the Databricks principal
 *   `arn:aws:iam::414351767826:root` needs no declaration;
 * - an IAM role or user ARN exists when it is `known`: named by a key policy of the scenario at the start,
 *   declared in `aws.principals`, the product's `databricksPrincipalArn` setting, or the cross-account
 *   role of a Databricks credential configuration (`knownPrincipals`);
 * - other ARNs of IAM or STS (assumed roles, federated users, OIDC/SAML providers) are taken as existing —
 *   the stand-in does not model them;
 * - anything else (a unique id such as `AROAEXAMPLE` left behind by a deleted role, a typo) does not.
 */
export function principalExists(value: string, known: ReadonlySet<string>): boolean {
  if (value === '*' || /^\d{12}$/.test(value)) return true;
  const arn = /^arn:aws[a-z-]*:(iam|sts)::(\d{12}):(.+)$/.exec(value);
  if (!arn) return false;
  const [, service, , resource = ''] = arn;
  if (service === 'iam' && resource === 'root') return true;
  if (service === 'iam' && /^(role|user)\//.test(resource)) return known.has(value);
  return true;
}

/** What a scenario says about who exists in IAM (the `aws`, `settings` and `databricks` parts it needs). */
export interface PrincipalSources {
  aws: { principals?: readonly string[] | undefined; keys?: ReadonlyArray<ScenarioKey> | undefined };
  settings?: { databricksPrincipalArn?: string | undefined } | undefined;
  databricks?:
    | {
        credentials?:
          | ReadonlyArray<{ aws_credentials?: { sts_role?: { role_arn?: string | undefined } } }>
          | undefined;
      }
    | undefined;
}

/**
 * The IAM principals a scenario's world holds (`LocalKmsOptions.principals`): `aws.principals`, those the
 * key policies name at the start, the Databricks principal the product is configured with, and the
 * cross-account roles of the Databricks credential configurations (the EBS statement's principal).
 */
export function knownPrincipals(scenario: PrincipalSources): string[] {
  const roles = (scenario.databricks?.credentials ?? []).flatMap(
    (c) => c.aws_credentials?.sts_role?.role_arn ?? [],
  );
  const inPolicies = (scenario.aws.keys ?? []).flatMap((k) => (k.policy ? principalsIn(k.policy) : []));
  const databricks = scenario.settings?.databricksPrincipalArn;
  return [
    ...new Set([
      ...(scenario.aws.principals ?? []),
      ...inPolicies,
      ...(databricks ? [databricks] : []),
      ...roles,
    ]),
  ];
}

function parseOrText(policy: string): Record<string, unknown> | string {
  try {
    return JSON.parse(policy) as Record<string, unknown>;
  } catch {
    return policy;
  }
}
