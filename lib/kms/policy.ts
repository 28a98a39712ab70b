import type { KeyUseCase } from '../databricks/types.ts';
import { InvalidInput } from '../errors.ts';
import { KeyPolicyTooLarge, KeyPolicyUnparseable } from './errors.ts';

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
  /** The workspace's cross-account IAM role: the EBS statement's principal. */
  ebsRoleArn?: string;
  reuseKeyForClusterVolumes: boolean;
}

export const MANAGED_SERVICES_SID =
  'Allow Databricks to use KMS key for managed services in the control plane';
export const DBFS_SID = 'Allow Databricks to use KMS key for DBFS';
export const EBS_SID = 'Allow Databricks to use KMS key for EBS';

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
  /** Sids of existing statements the Databricks account id(s) were merged into. */
  merged: string[];
  /** UTF-8 size of `policy`. */
  bytes: number;
}

/**
 * Adds what is missing for Databricks to `policyJson` (DESIGN §6.3): every existing statement is kept
 * as it is, except that an existing Databricks statement (found by Sid or by content) that lacks some
 * account ids gets them appended to its condition instead of a duplicate statement. Nothing is widened
 * to `*`. Unchanged → the input string itself. Idempotent.
 * @throws KeyPolicyUnparseable when the policy is not an object with a `Statement` (it is left alone).
 * @throws KeyPolicyTooLarge when the result would exceed KMS' 32 KB limit.
 */
export function mergeDatabricksStatements(policyJson: string, grant: DatabricksGrant): MergeResult {
  const policy = parsePolicy(policyJson);
  const statements = statementList(policy).map((s) => structuredClone(s));
  const added: string[] = [];
  const merged: string[] = [];
  for (const wanted of databricksStatements(grant)) {
    const found = findGranting(statements, wanted, grant.databricksPrincipalArn);
    if (found === undefined) {
      const sid = uniqueSid(statements, wanted.Sid ?? 'Databricks');
      statements.push({ ...wanted, Sid: sid });
      added.push(sid);
      continue;
    }
    const ids = accountIdsOf(wanted);
    if (ids === undefined) continue;
    const statement = statements[found] as PolicyStatement;
    const missing = ids.filter((id) => !accountIdsOf(statement)?.includes(id));
    if (missing.length > 0) {
      appendAccountIds(statement, missing);
      merged.push(statement.Sid ?? `statement ${found}`);
    }
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
 * statement or missing account id); `[]` when it already grants everything.
 * @throws KeyPolicyUnparseable when the policy is not an object with a `Statement`.
 */
export function missingDatabricksGrants(policyJson: string, grant: DatabricksGrant): string[] {
  const statements = statementList(parsePolicy(policyJson));
  const missing: string[] = [];
  for (const wanted of databricksStatements(grant)) {
    const principal = principalSet(wanted.Principal).join(', ');
    const actions = actionList(wanted.Action).join(', ');
    const found = findGranting(statements, wanted, grant.databricksPrincipalArn);
    if (found === undefined) {
      missing.push(`"${wanted.Sid}" (${actions} for ${principal})`);
      continue;
    }
    const have = accountIdsOf(statements[found] as PolicyStatement) ?? [];
    const lacking = (accountIdsOf(wanted) ?? []).filter((id) => !have.includes(id));
    if (lacking.length > 0) {
      missing.push(
        `Databricks account id(s) ${lacking.join(', ')} in the ${ACCOUNT_TAG} condition of "${wanted.Sid}"`,
      );
    }
  }
  return missing;
}

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

/**
 * Index of an existing statement that grants at least what `wanted` grants: an Allow for exactly the same
 * AWS principal(s), a superset of the actions, on `*`, with a condition of the same kind. Preferred, in
 * order: one that already lists every account id (nothing to change), one with `wanted`'s Sid, the first.
 */
function findGranting(
  statements: readonly PolicyStatement[],
  wanted: PolicyStatement,
  databricksPrincipalArn: string,
): number | undefined {
  const partition = /^arn:([^:]+):/.exec(databricksPrincipalArn)?.[1] ?? 'aws';
  const ids = accountIdsOf(wanted) ?? [];
  let best: { index: number; rank: number } | undefined;
  for (const [index, statement] of statements.entries()) {
    if (!grants(statement, wanted, partition)) continue;
    const have = accountIdsOf(statement) ?? [];
    const complete = ids.every((id) => have.includes(id));
    const rank = (complete ? 2 : 0) + (statement.Sid === wanted.Sid ? 1 : 0);
    if (best === undefined || rank > best.rank) best = { index, rank };
  }
  return best?.index;
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
