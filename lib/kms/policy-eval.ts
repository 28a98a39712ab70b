import type { KeyUseCase } from '../databricks/types.ts';
import { databricksStatements, type KeyPolicy, type PolicyStatement, parsePolicy } from './policy.ts';

/**
 * How KMS would judge Databricks' requests against a key policy (DESIGN §6.2, §6.9). Pure: no I/O.
 *
 * An explicit `Deny` that applies to a request wins over every `Allow`, so a key whose policy denies
 * Databricks an action it needs is refused exactly like a key that does not grant it. Each statement is
 * evaluated as IAM does — Principal/NotPrincipal, Action/NotAction, Resource/NotResource, Condition —
 * in the request context Databricks' calls are known to carry. What cannot be known here (a condition key
 * such as `aws:SourceIp`, an operator such as `IpAddress`, a policy variable) counts as "maybe": a Deny
 * that may apply is reported as applying (refusing is safe; a PATCH onto a key Databricks cannot use is an
 * outage), and an Allow that may apply is not counted as a grant.
 */

/** Who asks and for what: the request KMS would see from Databricks. */
export interface DatabricksRequest {
  /** Databricks' AWS principal (setting `databricksPrincipalArn`, `arn:aws:iam::414351767826:root`). */
  databricksPrincipalArn: string;
  /** The `aws:PrincipalTag/DatabricksAccountId` values Databricks' requests carry (one per request). */
  accountIds: readonly string[];
  /** The key the policy belongs to: what `Resource: "*"` means in a key policy. */
  keyArn: string;
  /** The use cases whose actions Databricks needs (the actions of `databricksStatements`). */
  useCases: readonly KeyUseCase[];
}

/** An explicit Deny statement that applies (or may apply) to Databricks for actions it needs. */
export interface DatabricksDenial {
  /** The statement's Sid, when it has one. */
  sid?: string;
  /** Position of the statement in the policy's `Statement` list (0-based). */
  index: number;
  /** `"<Sid>"` or `statement at index <n>`: how messages name it. */
  statement: string;
  /** The needed KMS actions it denies (concrete names, e.g. `kms:ReEncryptFrom` for `kms:ReEncrypt*`). */
  actions: string[];
  /**
   * What could not be evaluated and was taken as applying, e.g. `condition not evaluated: aws:SourceIp`.
   * Empty when the Deny certainly applies.
   */
  unevaluated: string[];
}

export interface DatabricksPolicyVerdict {
  /** The concrete KMS actions Databricks needs for the use cases. */
  actions: string[];
  /** Deny statements that apply to Databricks for at least one needed action; any → refuse the key. */
  denials: DatabricksDenial[];
  /** For each needed action, the Allow statements that certainly grant it to Databricks. */
  grants: Array<{ action: string; allowedBy: string[] }>;
  /** Needed actions no Allow certainly grants (KMS' implicit deny). */
  ungranted: string[];
  /** No applying Deny and every needed action granted. */
  usable: boolean;
}

/**
 * Evaluates a key policy for Databricks' requests: the explicit Deny statements that apply to a needed
 * action, and which needed actions an Allow grants. `missingDatabricksGrants` (in `./policy.ts`) checks the
 * grant by the shape of the documented statements; this checks it by IAM's evaluation.
 * @throws KeyPolicyUnparseable when the policy is not an object with a `Statement`.
 */
export function evaluateKeyPolicyForDatabricks(
  policy: string | KeyPolicy,
  request: DatabricksRequest,
): DatabricksPolicyVerdict {
  const parsed = parsePolicy(typeof policy === 'string' ? policy : JSON.stringify(policy));
  const statements = Array.isArray(parsed.Statement) ? parsed.Statement : [parsed.Statement];
  const actions = databricksActions(request);
  const contexts = requestContexts(request);
  const denials: DatabricksDenial[] = [];
  const allowedBy = new Map<string, string[]>(actions.map((a) => [a, []]));
  for (const [index, statement] of statements.entries()) {
    const judged = judgeStatement(statement, actions, request, contexts);
    const label = statementLabel(statement, index);
    if (statement.Effect === 'Deny') {
      if (judged.deny.verdict === 'no' || judged.deny.actions.length === 0) continue;
      denials.push({
        ...(typeof statement.Sid === 'string' ? { sid: statement.Sid } : {}),
        index,
        statement: label,
        actions: judged.deny.actions,
        unevaluated: judged.deny.notes,
      });
    } else if (statement.Effect === 'Allow') {
      for (const action of judged.allow) allowedBy.get(action)?.push(label);
    }
  }
  const grants = actions.map((action) => ({ action, allowedBy: allowedBy.get(action) ?? [] }));
  const ungranted = grants.filter((g) => g.allowedBy.length === 0).map((g) => g.action);
  return { actions, denials, grants, ungranted, usable: denials.length === 0 && ungranted.length === 0 };
}

/** The explicit Deny statements of `policy` that apply to Databricks for an action it needs. */
export function databricksDenials(
  policy: string | KeyPolicy,
  request: DatabricksRequest,
): DatabricksDenial[] {
  return evaluateKeyPolicyForDatabricks(policy, request).denials;
}

/**
 * `"Deny all" denies kms:Decrypt, kms:Encrypt; statement at index 3 denies kms:Encrypt (condition not
 * evaluated: aws:SourceIp; taken as applying)` — at most `max` statements, then how many more.
 */
export function describeDenials(denials: readonly DatabricksDenial[], max = 10): string {
  const shown = denials.slice(0, max).map((d) => {
    const unsure = d.unevaluated.length > 0 ? ` (${d.unevaluated.join('; ')}; taken as applying)` : '';
    return `${d.statement} denies ${d.actions.join(', ')}${unsure}`;
  });
  if (denials.length > max) shown.push(`and ${denials.length - max} more Deny statement(s)`);
  return shown.join('; ');
}

/**
 * The concrete KMS actions Databricks needs for the use cases: the actions of the statements
 * `databricksStatements` writes for Databricks' principal, wildcards expanded (`kms:ReEncrypt*` needs both
 * `kms:ReEncryptFrom` and `kms:ReEncryptTo`).
 */
export function databricksActions(
  request: Pick<DatabricksRequest, 'databricksPrincipalArn' | 'useCases'>,
): string[] {
  const statements = databricksStatements({
    useCases: [...request.useCases],
    databricksPrincipalArn: request.databricksPrincipalArn,
    // Only the actions are used here; the account ids do not change them.
    accountIds: ['-'],
    reuseKeyForClusterVolumes: false,
  });
  const patterns = new Set(statements.flatMap((s) => stringList(s.Action)));
  const out = new Set<string>();
  for (const pattern of patterns) {
    const expanded = KMS_ACTIONS.filter((a) => globMatches(pattern, a, true));
    for (const action of expanded.length > 0 ? expanded : [pattern]) out.add(action);
  }
  return [...out].sort();
}

/** Every KMS action, so that a needed wildcard (`kms:GenerateDataKey*`) becomes the actions it stands for. */
const KMS_ACTIONS = [
  'CancelKeyDeletion',
  'ConnectCustomKeyStore',
  'CreateAlias',
  'CreateCustomKeyStore',
  'CreateGrant',
  'CreateKey',
  'Decrypt',
  'DeleteAlias',
  'DeleteCustomKeyStore',
  'DeleteImportedKeyMaterial',
  'DeriveSharedSecret',
  'DescribeCustomKeyStores',
  'DescribeKey',
  'DisableKey',
  'DisableKeyRotation',
  'DisconnectCustomKeyStore',
  'EnableKey',
  'EnableKeyRotation',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'GenerateDataKeyWithoutPlaintext',
  'GenerateMac',
  'GenerateRandom',
  'GetKeyPolicy',
  'GetKeyRotationStatus',
  'GetParametersForImport',
  'GetPublicKey',
  'ImportKeyMaterial',
  'ListAliases',
  'ListGrants',
  'ListKeyPolicies',
  'ListKeyRotations',
  'ListKeys',
  'ListResourceTags',
  'ListRetirableGrants',
  'PutKeyPolicy',
  'ReEncryptFrom',
  'ReEncryptTo',
  'ReplicateKey',
  'RetireGrant',
  'RevokeGrant',
  'RotateKeyOnDemand',
  'ScheduleKeyDeletion',
  'Sign',
  'SynchronizeMultiRegionKey',
  'TagResource',
  'UntagResource',
  'UpdateAlias',
  'UpdateCustomKeyStore',
  'UpdateKeyDescription',
  'UpdatePrimaryRegion',
  'Verify',
  'VerifyMac',
].map((name) => `kms:${name}`);

/** Three-valued: `maybe` is what cannot be decided from what is known about Databricks' requests. */
type Verdict = 'yes' | 'maybe' | 'no';

interface Judged {
  verdict: Verdict;
  notes: string[];
}

const YES: Judged = { verdict: 'yes', notes: [] };
const NO: Judged = { verdict: 'no', notes: [] };
const maybe = (note: string): Judged => ({ verdict: 'maybe', notes: [note] });

/** Logical AND: `no` wins, then `maybe` (with every reason), else `yes`. */
function all(parts: readonly Judged[]): Judged {
  if (parts.some((p) => p.verdict === 'no')) return NO;
  const notes = unique(parts.flatMap((p) => p.notes));
  return parts.some((p) => p.verdict === 'maybe') ? { verdict: 'maybe', notes } : YES;
}

/** Logical OR: `yes` wins, then `maybe` (with every reason), else `no`. */
function any(parts: readonly Judged[]): Judged {
  if (parts.some((p) => p.verdict === 'yes')) return YES;
  const notes = unique(parts.flatMap((p) => p.notes));
  return parts.some((p) => p.verdict === 'maybe') ? { verdict: 'maybe', notes } : NO;
}

/** One context per Databricks account id: each Databricks request carries exactly one tag value. */
type Context = Map<string, string[] | null>;

/**
 * The condition keys whose value in Databricks' requests is known (key names lower-cased, as IAM compares
 * them case-insensitively); `null` = known to be absent. Any other key is unknown.
 */
function requestContexts(request: DatabricksRequest): Context[] {
  const account = /^arn:[^:]+:(?:iam|sts)::(\d{12}):/.exec(request.databricksPrincipalArn)?.[1];
  const base: Context = new Map<string, string[] | null>([
    ['aws:principalarn', [request.databricksPrincipalArn]],
    // Databricks is a cross-account principal calling KMS directly, never on behalf of a customer resource.
    ['aws:sourceaccount', null],
    ['aws:sourcearn', null],
    ['aws:principalisawsservice', ['false']],
    // KMS only answers over TLS.
    ['aws:securetransport', ['true']],
  ]);
  if (account) {
    base.set('aws:principalaccount', [account]);
    base.set('kms:calleraccount', [account]);
  }
  if (request.accountIds.length === 0) return [base];
  return unique([...request.accountIds]).map((id) =>
    new Map(base).set('aws:principaltag/databricksaccountid', [id]),
  );
}

/** How one statement treats Databricks' requests for the needed actions. */
function judgeStatement(
  statement: PolicyStatement,
  actions: readonly string[],
  request: DatabricksRequest,
  contexts: readonly Context[],
): { deny: { verdict: Verdict; actions: string[]; notes: string[] }; allow: string[] } {
  const principal = principalApplies(statement, request.databricksPrincipalArn);
  const resource = resourceApplies(statement, request.keyArn);
  const perContext = contexts.map((ctx) => conditionHolds(statement.Condition, ctx));
  // A Deny applies when it applies to any of Databricks' requests; an Allow grants only when it grants all.
  const denyCondition = any(perContext);
  const allowCondition = all(perContext);
  const matched = actions.map((a) => ({ action: a, judged: actionApplies(statement, a) }));
  const deny = all([principal, resource, denyCondition]);
  const denied = matched.filter((m) => m.judged.verdict !== 'no');
  const allow = all([principal, resource, allowCondition]);
  return {
    deny: {
      verdict: deny.verdict,
      actions: denied.map((m) => m.action),
      notes: unique([...deny.notes, ...denied.flatMap((m) => m.judged.notes)]),
    },
    allow:
      allow.verdict === 'yes' ? matched.filter((m) => m.judged.verdict === 'yes').map((m) => m.action) : [],
  };
}

function principalApplies(statement: PolicyStatement, principalArn: string): Judged {
  if (statement.Principal !== undefined) return principalMatches(statement.Principal, principalArn);
  if (statement.NotPrincipal !== undefined) {
    // NotPrincipal: everyone except those listed. Listing Databricks' principal or account exempts it.
    const listed = principalMatches(statement.NotPrincipal, principalArn);
    return listed.verdict === 'yes' ? NO : YES;
  }
  return maybe('the statement names no Principal');
}

/**
 * Whether a Principal element names Databricks: `*`, `{"AWS": "*"}`, the principal ARN, its account id
 * or account root. Another principal of Databricks' AWS account (a role) may be the one that calls.
 */
function principalMatches(principal: unknown, principalArn: string): Judged {
  if (principal === '*') return YES;
  const values =
    typeof principal === 'string' ? [principal] : isObject(principal) ? stringList(principal.AWS) : [];
  const parts = /^arn:([^:]+):(?:iam|sts)::(\d{12}):/.exec(principalArn);
  const partition = parts?.[1];
  const account = parts?.[2];
  return any(
    values.map((value) => {
      if (value === '*' || value === principalArn) return YES;
      if (account && (value === account || value === `arn:${partition}:iam::${account}:root`)) return YES;
      if (account && new RegExp(`^arn:[^:]+:(iam|sts)::${account}:`).test(value)) {
        return maybe(
          `principal ${value} is in Databricks' AWS account ${account}, whose calling role is not known`,
        );
      }
      return NO;
    }),
  );
}

function actionApplies(statement: PolicyStatement, action: string): Judged {
  if (statement.Action !== undefined) {
    return stringList(statement.Action).some((p) => globMatches(p, action, true)) ? YES : NO;
  }
  if (statement.NotAction !== undefined) {
    return stringList(statement.NotAction).some((p) => globMatches(p, action, true)) ? NO : YES;
  }
  return maybe('the statement names no Action');
}

/** In a key policy `*` means this key; ARN patterns are matched case-sensitively, as IAM does. */
function resourceApplies(statement: PolicyStatement, keyArn: string): Judged {
  const matches = (patterns: unknown) =>
    any(
      stringList(patterns).map((p) =>
        p.includes('${')
          ? maybe(`resource ${p} has a policy variable`)
          : globMatches(p, keyArn, false)
            ? YES
            : NO,
      ),
    );
  if (statement.Resource !== undefined) return matches(statement.Resource);
  if (statement.NotResource !== undefined) return negate(matches(statement.NotResource));
  return maybe('the statement names no Resource');
}

/** Every operator, every key in it: AND. The values of one key: OR (NOR for the negated operators). */
function conditionHolds(condition: unknown, ctx: Context): Judged {
  if (condition === undefined) return YES;
  if (!isObject(condition)) return maybe('condition not evaluated: it is not an object');
  const parts: Judged[] = [];
  for (const [operator, block] of Object.entries(condition)) {
    if (!isObject(block)) {
      parts.push(maybe(`condition not evaluated: ${operator}`));
      continue;
    }
    for (const [key, values] of Object.entries(block))
      parts.push(evaluateCondition(operator, key, values, ctx));
  }
  return all(parts);
}

type Compare = (actual: string, wanted: string) => boolean;

const OPERATORS: Record<string, { compare: Compare; negated: boolean }> = {
  stringequals: { compare: (a, w) => a === w, negated: false },
  stringnotequals: { compare: (a, w) => a === w, negated: true },
  stringequalsignorecase: { compare: (a, w) => a.toLowerCase() === w.toLowerCase(), negated: false },
  stringnotequalsignorecase: { compare: (a, w) => a.toLowerCase() === w.toLowerCase(), negated: true },
  stringlike: { compare: (a, w) => globMatches(w, a, false), negated: false },
  stringnotlike: { compare: (a, w) => globMatches(w, a, false), negated: true },
  arnequals: { compare: arnMatches, negated: false },
  arnlike: { compare: arnMatches, negated: false },
  arnnotequals: { compare: arnMatches, negated: true },
  arnnotlike: { compare: arnMatches, negated: true },
  bool: { compare: (a, w) => a.toLowerCase() === w.toLowerCase(), negated: false },
};

/**
 * One condition key under one operator, as IAM evaluates it: a missing key makes a positive operator false
 * and a negated one true; `…IfExists` makes a missing key true; `ForAnyValue:` needs one matching value (none
 * present: false); `ForAllValues:` needs every value to match (none present: true).
 */
function evaluateCondition(operator: string, key: string, raw: unknown, ctx: Context): Judged {
  const shape = /^(?:(ForAnyValue|ForAllValues):)?(.+?)(IfExists)?$/i.exec(operator);
  const set = shape?.[1]?.toLowerCase();
  const name = (shape?.[2] ?? operator).toLowerCase();
  const ifExists = shape?.[3] !== undefined;
  const lowered = key.toLowerCase();
  if (!ctx.has(lowered)) return maybe(`condition not evaluated: ${key}`);
  const actual = ctx.get(lowered) ?? null;
  const wanted = conditionValues(raw);
  if (wanted === undefined) return maybe(`condition not evaluated: ${key} (value is not a string list)`);
  if (wanted.some((w) => /\$\{(?![*?$]\})/.test(w))) {
    return maybe(`condition not evaluated: ${key} (policy variable)`);
  }
  if (name === 'null' && !set && !ifExists) {
    const absent = actual === null || actual.length === 0;
    return wanted.some((w) => w.toLowerCase() === String(absent)) ? YES : NO;
  }
  const op = OPERATORS[name];
  if (!op) return maybe(`condition not evaluated: ${key} (operator ${operator})`);
  const values = actual ?? [];
  const matches = (value: string) => wanted.some((w) => op.compare(value, w));
  const holds = (value: string) => (op.negated ? !matches(value) : matches(value));
  let result: boolean;
  if (values.length === 0) {
    result = set === 'forallvalues' ? true : set === 'foranyvalue' ? false : ifExists || op.negated;
  } else if (set === 'forallvalues') {
    result = values.every(holds);
  } else if (set === 'foranyvalue') {
    result = values.some(holds);
  } else {
    result = op.negated ? !values.some(matches) : values.some(matches);
  }
  return result ? YES : NO;
}

function conditionValues(raw: unknown): string[] | undefined {
  const list = Array.isArray(raw) ? raw : [raw];
  if (!list.every((v) => ['string', 'number', 'boolean'].includes(typeof v))) return undefined;
  return list.map(String);
}

/** `ArnLike`/`ArnEquals`: the six ARN parts compared one by one, each a case-sensitive glob. */
function arnMatches(actual: string, pattern: string): boolean {
  const a = arnParts(actual);
  const p = arnParts(pattern);
  if (!a || !p) return false;
  return p.every((part, i) => globMatches(part, a[i] as string, false));
}

function arnParts(arn: string): string[] | undefined {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

function negate(judged: Judged): Judged {
  if (judged.verdict === 'maybe') return judged;
  return judged.verdict === 'yes' ? NO : YES;
}

/** IAM globs: `*` any run of characters, `?` one character. Action names compare case-insensitively. */
function globMatches(pattern: string, value: string, ignoreCase: boolean): boolean {
  const source = [...pattern]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value);
}

function statementLabel(statement: PolicyStatement, index: number): string {
  return typeof statement.Sid === 'string' && statement.Sid !== ''
    ? `"${statement.Sid}"`
    : `statement at index ${index}`;
}

function stringList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
