import type { KeyUseCase } from '../databricks/types.ts';
import { InvalidInput } from '../errors.ts';
import { KeyPolicyRejected, KeyPolicyTooLarge, KeyPolicyUnparseable } from './errors.ts';

/**
 * KMS key policies and the Databricks statements in them (DESIGN §1 step 2, §6.3). Pure functions over
 * the policy's JSON text: no I/O. The adapter in `./key-policy.ts` reads and writes the policy.
 */

/** KMS' limit on a key policy document (UTF-8 bytes). */
export const KEY_POLICY_MAX_BYTES = 32768;

export type PolicyPrincipal =
  | '*'
  | { AWS?: string | string[]; Service?: string | string[]; [kind: string]: unknown };

/** One statement of a key policy, as IAM's policy grammar has it (unknown fields are kept as they are). */
export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: PolicyPrincipal;
  NotPrincipal?: PolicyPrincipal;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
  [field: string]: unknown;
}

export interface KeyPolicy {
  Version?: string;
  Id?: string;
  /** IAM also accepts a single statement object. */
  Statement: PolicyStatement[] | PolicyStatement;
  [field: string]: unknown;
}

/** What Databricks must be allowed to do with a key (see `databricksGrantFor` in `./grant.ts`). */
export interface DatabricksGrant {
  useCases: KeyUseCase[];
  /** Databricks' AWS principal (`arn:aws:iam::414351767826:root` in the commercial partition). */
  databricksPrincipalArn: string;
  /** Databricks account id(s) for the `aws:PrincipalTag/DatabricksAccountId` condition. */
  accountIds: string[];
  /**
   * The workspace's cross-account IAM role: the EBS statement's principal. It must be an IAM role ARN
   * (`arn:aws:iam::<12 digits>:role/…`) of `awsAccountId` (see `assertEbsPrincipal`).
   */
  ebsRoleArn?: string;
  /**
   * The workspace's own AWS account (12 digits): the account that owns the key whose policy is patched
   * (`databricksGrantFor` takes it from the key ARN, else the deployment's account). The EBS principal must
   * be a role of this account; unset, only its shape is checked (grants built by hand, tests).
   */
  awsAccountId?: string;
  reuseKeyForClusterVolumes: boolean;
}

export const MANAGED_SERVICES_SID =
  'Allow Databricks to use KMS key for managed services in the control plane';
export const DBFS_SID = 'Allow Databricks to use KMS key for DBFS';
export const EBS_SID = 'Allow Databricks to use KMS key for EBS';

/** The Sids of the statements this product writes: the only statements it ever changes (DESIGN §6.3). */
const OWN_SIDS: readonly string[] = [MANAGED_SERVICES_SID, DBFS_SID, EBS_SID];

const ACCOUNT_TAG = 'aws:PrincipalTag/DatabricksAccountId';
const EBS_VIA_SERVICE = 'ec2.*.amazonaws.com';

/**
 * The statements Databricks' documentation gives for these use cases: managed services (control plane),
 * DBFS root storage, and — for storage keys that also encrypt cluster volumes, when the workspace's
 * cross-account role is known — EBS. None of them ever names the `*` principal.
 */
export function databricksStatements(grant: DatabricksGrant): PolicyStatement[] {
  const principal = grant.databricksPrincipalArn;
  assertNamedPrincipal(principal, 'databricksPrincipalArn');
  const accountIds = unique(grant.accountIds);
  if (accountIds.length === 0) {
    throw new InvalidInput(
      'the Databricks key policy grant has no Databricks account id for its aws:PrincipalTag/DatabricksAccountId condition; set DATABRICKS_POLICY_ACCOUNT_IDS or DATABRICKS_ACCOUNT_ID',
      { details: { field: 'accountIds' } },
    );
  }
  const condition = { StringEquals: { [ACCOUNT_TAG]: accountIds } };
  const out: PolicyStatement[] = [];
  if (grant.useCases.includes('MANAGED_SERVICES')) {
    out.push({
      Sid: MANAGED_SERVICES_SID,
      Effect: 'Allow',
      Principal: { AWS: principal },
      Action: ['kms:Encrypt', 'kms:Decrypt'],
      Resource: '*',
      Condition: structuredClone(condition),
    });
  }
  if (grant.useCases.includes('STORAGE')) {
    out.push({
      Sid: DBFS_SID,
      Effect: 'Allow',
      Principal: { AWS: principal },
      Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
      Resource: '*',
      Condition: structuredClone(condition),
    });
    if (grant.reuseKeyForClusterVolumes && grant.ebsRoleArn) {
      assertNamedPrincipal(grant.ebsRoleArn, 'ebsRoleArn');
      assertEbsPrincipal(grant.ebsRoleArn, grant.awsAccountId);
      out.push({
        Sid: EBS_SID,
        Effect: 'Allow',
        Principal: { AWS: grant.ebsRoleArn },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*', 'kms:CreateGrant', 'kms:DescribeKey'],
        Resource: '*',
        Condition: { 'ForAnyValue:StringLike': { 'kms:ViaService': EBS_VIA_SERVICE } },
      });
    }
  }
  return out;
}

export interface MergeResult {
  /** The policy to send; byte-identical to the input when nothing changed. */
  policy: string;
  changed: boolean;
  /** Sids of the statements added. */
  added: string[];
  /** Sids of this product's own statements the Databricks account id(s) were merged into. */
  merged: string[];
  /** UTF-8 size of `policy`. */
  bytes: number;
}

/**
 * Adds what is missing for Databricks to `policyJson` (DESIGN §6.3). It never widens a statement it does not
 * own: only statements with this product's Sids (`MANAGED_SERVICES_SID`, `DBFS_SID`, `EBS_SID` and their
 * numbered variants, see `ownsStatement`) are ever changed, and only by appending Databricks account ids
 * to their `aws:PrincipalTag/DatabricksAccountId` condition — never an action, a principal or a removed
 * condition. Any statement, owned or not, that already grants everything counts as granted; a foreign
 * statement that grants only part is left exactly as it is and our own statement is added (or extended)
 * next to it. Nothing is widened to `*`. Unchanged → the input string itself. Idempotent.
 * @throws KeyPolicyUnparseable when the policy is not an object with a `Statement` (it is left alone).
 * @throws KeyPolicyTooLarge when the result would exceed KMS' 32 KB limit.
 * @throws KeyPolicyRejected when the EBS principal is not a role of the workspace's AWS account.
 */
export function mergeDatabricksStatements(policyJson: string, grant: DatabricksGrant): MergeResult {
  const policy = parsePolicy(policyJson);
  const statements = statementList(policy).map((s) => structuredClone(s));
  const added: string[] = [];
  const merged: string[] = [];
  for (const wanted of databricksStatements(grant)) {
    const found = assess(statements, wanted, grant.databricksPrincipalArn);
    if (found.kind === 'granted') continue;
    if (found.kind === 'extend') {
      const statement = statements[found.index] as PolicyStatement;
      appendAccountIds(statement, found.missing);
      merged.push(statement.Sid as string);
      continue;
    }
    const sid = uniqueSid(statements, wanted.Sid ?? 'Databricks');
    statements.push({ ...wanted, Sid: sid });
    added.push(sid);
  }
  if (added.length === 0 && merged.length === 0) {
    return { policy: policyJson, changed: false, added, merged, bytes: utf8Bytes(policyJson) };
  }
  const next = { ...policy, Statement: statements };
  let text = JSON.stringify(next, null, 2);
  // Indentation alone must not push a policy over the limit: fall back to the compact form.
  if (utf8Bytes(text) > KEY_POLICY_MAX_BYTES) text = JSON.stringify(next);
  const bytes = utf8Bytes(text);
  if (bytes > KEY_POLICY_MAX_BYTES) {
    throw new KeyPolicyTooLarge(
      `adding the Databricks statement(s) ${[...added, ...merged].join(', ')} would make the key policy ${bytes} bytes, over KMS' limit of ${KEY_POLICY_MAX_BYTES}; remove unused statements from the key policy and re-run`,
      { details: { bytes, limit: KEY_POLICY_MAX_BYTES, added, merged } },
    );
  }
  return { policy: text, changed: true, added, merged, bytes };
}

/**
 * What the policy does not yet grant Databricks for these use cases, in words (one entry per missing
 * statement, or per own statement that lacks account ids); `[]` when it already grants everything. It
 * describes exactly what `mergeDatabricksStatements` would add or extend.
 * @throws KeyPolicyUnparseable when the policy is not an object with a `Statement`.
 * @throws KeyPolicyRejected when the EBS principal is not a role of the workspace's AWS account.
 */
export function missingDatabricksGrants(policyJson: string, grant: DatabricksGrant): string[] {
  const statements = statementList(parsePolicy(policyJson));
  const missing: string[] = [];
  for (const wanted of databricksStatements(grant)) {
    const found = assess(statements, wanted, grant.databricksPrincipalArn);
    if (found.kind === 'granted') continue;
    if (found.kind === 'extend') {
      const sid = (statements[found.index] as PolicyStatement).Sid;
      missing.push(
        `Databricks account id(s) ${found.missing.join(', ')} in the ${ACCOUNT_TAG} condition of "${sid}"`,
      );
      continue;
    }
    const principal = principalSet(wanted.Principal).join(', ');
    const actions = actionList(wanted.Action).join(', ');
    missing.push(`"${wanted.Sid}" (${actions} for ${principal})`);
  }
  return missing;
}

/**
 * Whether this product owns `statement`: its Sid is one the product writes (`MANAGED_SERVICES_SID`,
 * `DBFS_SID`, `EBS_SID`) or a numbered variant of one (`… 2`, `… 3`, as `uniqueSid` makes them). Only
 * owned statements are ever changed by the merge.
 */
export function ownsStatement(statement: Pick<PolicyStatement, 'Sid'>): boolean {
  return OWN_SIDS.some((base) => isSidOf(statement.Sid, base));
}

/** `sid` is `base` or `base N` with N ≥ 2 (the Sids `uniqueSid` gives). */
function isSidOf(sid: unknown, base: string): boolean {
  if (typeof sid !== 'string') return false;
  if (sid === base) return true;
  if (!sid.startsWith(`${base} `)) return false;
  const n = sid.slice(base.length + 1);
  return /^[1-9]\d*$/.test(n) && Number(n) >= 2;
}

/**
 * The EBS statement's principal must be an IAM role ARN of the workspace's own AWS account: anything else
 * (a user, an account root, an assumed-role session, a role of another account) would hand the key to a
 * principal the workspace's credential configuration should never name.
 * @throws KeyPolicyRejected naming the principal and why.
 */
export function assertEbsPrincipal(
  roleArn: string,
  awsAccountId: string | undefined,
  context?: string,
): void {
  const where = context ? ` (${context})` : '';
  const roleAccount = ROLE_ARN.exec(roleArn)?.[1];
  const details = { field: 'ebsRoleArn', principal: roleArn, awsAccountId };
  if (roleAccount === undefined) {
    throw new KeyPolicyRejected(
      `the EBS statement's principal "${roleArn}"${where} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>); only the workspace's cross-account IAM role may use the key for EBS. Check the workspace's credential configuration; the key policy was not changed`,
      { details },
    );
  }
  if (awsAccountId !== undefined && roleAccount !== awsAccountId) {
    throw new KeyPolicyRejected(
      `the EBS statement's principal "${roleArn}"${where} is a role of AWS account ${roleAccount}, not of the workspace's AWS account ${awsAccountId}; the product never grants a role of another account. Check the workspace's credential configuration; the key policy was not changed`,
      { details: { ...details, roleAccountId: roleAccount } },
    );
  }
}

/** An IAM role ARN in any partition; group 1 is its account. Role paths and names use `[\w+=,.@-]`. */
const ROLE_ARN = /^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;

/** Parses a key policy; anything that is not an object with a `Statement` list (or object) is refused. */
export function parsePolicy(policyJson: string): KeyPolicy {
  let value: unknown;
  try {
    value = JSON.parse(policyJson);
  } catch (error) {
    throw new KeyPolicyUnparseable(
      'the key policy is not valid JSON; it is left untouched: fix it in the KMS console and re-run',
      { cause: error },
    );
  }
  if (!isObject(value)) {
    throw new KeyPolicyUnparseable(
      'the key policy is not a JSON object; it is left untouched: fix it and re-run',
    );
  }
  const statement = value.Statement;
  const list = Array.isArray(statement) ? statement : [statement];
  if (statement === undefined || !list.every(isObject)) {
    throw new KeyPolicyUnparseable(
      'the key policy has no Statement list of objects; it is left untouched: fix it and re-run',
    );
  }
  return value as KeyPolicy;
}

function statementList(policy: KeyPolicy): PolicyStatement[] {
  return Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
}

type Assessment =
  | { kind: 'granted' }
  | { kind: 'extend'; index: number; missing: string[] }
  | { kind: 'add' };

/**
 * How `wanted` stands in `statements`: `granted` when any statement (ours or not) grants at least what it
 * grants — an Allow for exactly the same AWS principal(s), a superset of the actions, on `*`, with a
 * condition of the same kind listing every account id; else `extend` when one of our own statements of
 * the same kind (its Sid, or a numbered variant) has exactly its actions and principal and lacks only
 * account ids (the one with `wanted`'s exact Sid preferred, then the first); else `add`.
 */
function assess(
  statements: readonly PolicyStatement[],
  wanted: PolicyStatement,
  databricksPrincipalArn: string,
): Assessment {
  const partition = /^arn:([^:]+):/.exec(databricksPrincipalArn)?.[1] ?? 'aws';
  const ids = accountIdsOf(wanted);
  const candidates: number[] = [];
  for (const [index, statement] of statements.entries()) {
    if (!grants(statement, wanted, partition)) continue;
    const have = accountIdsOf(statement) ?? [];
    if (ids === undefined || ids.every((id) => have.includes(id))) return { kind: 'granted' };
    if (isSidOf(statement.Sid, wanted.Sid as string) && sameActions(statement, wanted)) {
      candidates.push(index);
    }
  }
  if (ids === undefined || candidates.length === 0) return { kind: 'add' };
  const index =
    candidates.find((i) => (statements[i] as PolicyStatement).Sid === wanted.Sid) ??
    (candidates[0] as number);
  const have = accountIdsOf(statements[index] as PolicyStatement) ?? [];
  return { kind: 'extend', index, missing: ids.filter((id) => !have.includes(id)) };
}

/** Exactly the same actions (IAM action names are case-insensitive): extending it adds no action. */
function sameActions(statement: PolicyStatement, wanted: PolicyStatement): boolean {
  const have = new Set(actionList(statement.Action).map((a) => a.toLowerCase()));
  const want = new Set(actionList(wanted.Action).map((a) => a.toLowerCase()));
  return have.size === want.size && [...want].every((a) => have.has(a));
}

function grants(statement: PolicyStatement, wanted: PolicyStatement, partition: string): boolean {
  if (statement.Effect !== 'Allow') return false;
  if (statement.NotPrincipal !== undefined || statement.NotAction !== undefined) return false;
  if (statement.NotResource !== undefined) return false;
  if (!samePrincipal(statement.Principal, wanted.Principal, partition)) return false;
  const actions = actionList(statement.Action);
  if (!actionList(wanted.Action).every((a) => actions.some((pattern) => globMatches(pattern, a))))
    return false;
  if (!actionList(statement.Resource).includes('*')) return false;
  return accountIdsOf(wanted) !== undefined
    ? accountIdsOf(statement) !== undefined
    : isEbsCondition(statement);
}

/** Same AWS principal set and no other principal kinds (`*` never matches: ours is never `*`). */
function samePrincipal(
  actual: PolicyPrincipal | undefined,
  wanted: PolicyPrincipal | undefined,
  partition: string,
): boolean {
  if (!isObject(actual) || Object.keys(actual).some((k) => k !== 'AWS')) return false;
  const a = principalSet(actual, partition);
  const w = principalSet(wanted, partition);
  return a.length === w.length && a.every((p) => w.includes(p));
}

function principalSet(principal: PolicyPrincipal | undefined, partition = 'aws'): string[] {
  if (!isObject(principal)) return [];
  // IAM treats a bare account id as that account's root principal.
  return unique(
    actionList(principal.AWS as string | string[] | undefined).map((p) =>
      /^\d{12}$/.test(p) ? `arn:${partition}:iam::${p}:root` : p,
    ),
  );
}

function actionList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** IAM action patterns are case-insensitive globs; `wanted` may itself end in `*` (`kms:ReEncrypt*`). */
function globMatches(pattern: string, action: string): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 'i').test(action);
}

/**
 * The account ids of a statement whose only condition is `StringEquals aws:PrincipalTag/DatabricksAccountId`;
 * `undefined` for any other condition (a statement with extra conditions may not grant what we need).
 */
function accountIdsOf(statement: PolicyStatement): string[] | undefined {
  const entry = accountCondition(statement);
  if (!entry) return undefined;
  const value = entry.block[entry.key];
  return typeof value === 'string' ? [value] : Array.isArray(value) ? value.map(String) : undefined;
}

function accountCondition(
  statement: PolicyStatement,
): { block: Record<string, unknown>; key: string } | undefined {
  const condition = statement.Condition;
  if (!isObject(condition) || Object.keys(condition).length !== 1) return undefined;
  const block = condition.StringEquals;
  if (!isObject(block) || Object.keys(block).length !== 1) return undefined;
  const key = Object.keys(block)[0] as string;
  // Condition keys are case-insensitive in IAM.
  return key.toLowerCase() === ACCOUNT_TAG.toLowerCase() ? { block, key } : undefined;
}

function appendAccountIds(statement: PolicyStatement, ids: string[]): void {
  const entry = accountCondition(statement);
  if (!entry) return;
  const current = entry.block[entry.key];
  const list = typeof current === 'string' ? [current] : Array.isArray(current) ? current : [];
  // Assigning the existing key keeps the condition's key order.
  entry.block[entry.key] = [...list, ...ids];
}

/** No condition (broader than ours), or only Databricks' `kms:ViaService ec2.*.amazonaws.com`. */
function isEbsCondition(statement: PolicyStatement): boolean {
  const condition = statement.Condition;
  if (condition === undefined) return true;
  if (!isObject(condition) || Object.keys(condition).length !== 1) return false;
  const [operator, block] = Object.entries(condition)[0] as [string, unknown];
  if (!/^(ForAnyValue:)?StringLike$/.test(operator) || !isObject(block)) return false;
  const keys = Object.keys(block);
  if (keys.length !== 1 || keys[0]?.toLowerCase() !== 'kms:viaservice') return false;
  return actionList(block[keys[0]]).includes(EBS_VIA_SERVICE);
}

function uniqueSid(statements: readonly PolicyStatement[], sid: string): string {
  const taken = new Set(statements.map((s) => s.Sid));
  if (!taken.has(sid)) return sid;
  let n = 2;
  while (taken.has(`${sid} ${n}`)) n++;
  return `${sid} ${n}`;
}

function assertNamedPrincipal(arn: string, field: string): void {
  if (!arn.startsWith('arn:') || arn.includes('*')) {
    throw new InvalidInput(
      `the Databricks key policy grant's ${field} "${arn}" is not a principal ARN without wildcards; the product never grants "*"`,
      { details: { field } },
    );
  }
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}
