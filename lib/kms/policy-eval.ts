import type { KeyUseCase } from '../databricks/types.ts';
import {
  databricksStatements,
  EBS_SID,
  type KeyPolicy,
  type PolicyStatement,
  parsePolicy,
} from './policy.ts';

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
 *
 * Who calls: policies name Databricks by its account principal (`arn:aws:iam::414351767826:root`), but KMS
 * never sees that root. Databricks calls from an IAM role (an assumed-role session) of that account, whose
 * name is not known here: `aws:PrincipalArn` is that role's ARN, so a condition on it decides only when it
 * matches every role of the account (or none), and a `NotPrincipal` exempts the session only when it lists
 * the account, the role and the session (IAM's rule for assumed roles), which cannot be known to hold.
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
  /**
   * The key also encrypts cluster EBS volumes (STORAGE with `reuseKeyForClusterVolumes`): the Deny
   * statements that apply to the workspace's cross-account role calling through EC2 (the EBS statement's
   * actions) are evaluated too. `roleArn` is that role when known; without it, the caller is a role of the
   * key's account whose name is not known (a Deny naming any role of that account then counts as applying).
   * Only STORAGE uses it. Its grant is checked by the statement's shape (`missingDatabricksGrants`).
   */
  clusterVolumes?: { roleArn?: string };
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
   * The actions it denies the workspace's cross-account role for cluster volumes (EBS), when the request
   * asked for `clusterVolumes` and there are any.
   */
  clusterVolumeActions?: string[];
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
 * grant by the shape of the documented statements; this checks it by IAM's evaluation. With
 * `clusterVolumes`, Deny statements against the workspace's cross-account role (EBS) are found too; the
 * grants are Databricks' own.
 * @throws KeyPolicyUnparseable when the policy is not an object with a `Statement`.
 */
export function evaluateKeyPolicyForDatabricks(
  policy: string | KeyPolicy,
  request: DatabricksRequest,
): DatabricksPolicyVerdict {
  const parsed = parsePolicy(typeof policy === 'string' ? policy : JSON.stringify(policy));
  const statements = Array.isArray(parsed.Statement) ? parsed.Statement : [parsed.Statement];
  const databricks = databricksPath(request);
  const volumes = clusterVolumePath(request);
  const actions = databricks.actions;
  const denials: DatabricksDenial[] = [];
  const allowedBy = new Map<string, string[]>(actions.map((a) => [a, []]));
  for (const [index, statement] of statements.entries()) {
    const label = statementLabel(statement, index);
    if (statement.Effect === 'Deny') {
      const denied = judgeStatement(statement, databricks, request.keyArn).denied;
      const deniedVolumes = volumes ? judgeStatement(statement, volumes, request.keyArn).denied : [];
      if (denied.length === 0 && deniedVolumes.length === 0) continue;
      denials.push({
        ...(typeof statement.Sid === 'string' ? { sid: statement.Sid } : {}),
        index,
        statement: label,
        actions: denied.map((d) => d.action),
        ...(deniedVolumes.length > 0 ? { clusterVolumeActions: deniedVolumes.map((d) => d.action) } : {}),
        unevaluated: unique([...denied, ...deniedVolumes].flatMap((d) => d.notes)),
      });
    } else if (statement.Effect === 'Allow') {
      for (const action of judgeStatement(statement, databricks, request.keyArn).allowed) {
        allowedBy.get(action)?.push(label);
      }
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
    const what = d.actions.length > 0 ? [d.actions.join(', ')] : [];
    if (d.clusterVolumeActions?.length) {
      what.push(
        `the workspace's cross-account role ${d.clusterVolumeActions.join(', ')} for cluster volumes (EBS)`,
      );
    }
    return `${d.statement} denies ${what.join(' and ')}${unsure}`;
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
  return expandActions(statements.flatMap((s) => stringList(s.Action)));
}

/** The concrete actions of the EBS statement `databricksStatements` writes for the cross-account role. */
function clusterVolumeActions(databricksPrincipalArn: string): string[] {
  const statements = databricksStatements({
    useCases: ['STORAGE'],
    databricksPrincipalArn,
    accountIds: ['-'],
    reuseKeyForClusterVolumes: true,
    // Only the actions are used here; any role ARN gives the same statement.
    ebsRoleArn: 'arn:aws:iam::000000000000:role/cross-account',
  });
  return expandActions(statements.filter((s) => s.Sid === EBS_SID).flatMap((s) => stringList(s.Action)));
}

function expandActions(patterns: readonly string[]): string[] {
  const out = new Set<string>();
  for (const pattern of new Set(patterns)) {
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

function negate(judged: Judged): Judged {
  if (judged.verdict === 'maybe') return judged;
  return judged.verdict === 'yes' ? NO : YES;
}

/**
 * A value known only by its shape: `prefix` followed by a non-empty rest that is not known — the ARN of
 * a role whose name is not known (`arn:aws:iam::414351767826:role/` + name).
 */
interface Unknown {
  prefix: string;
  /** Why the rest is not known, for notes. */
  why: string;
}

/**
 * The condition keys whose value in a request is known (key names lower-cased, as IAM compares them
 * case-insensitively); `null` = known to be absent. Any other key is unknown.
 */
type Context = Map<string, string[] | Unknown | null>;

/**
 * Who calls KMS: an IAM role (an assumed-role session) of `account` — `roleArn` when it is known, else a
 * role whose name is not known. Without `account` nothing but `*` (or the exact `roleArn`) is known to
 * name it.
 */
interface Caller {
  /** How notes name it: `Databricks`, `the workspace's cross-account role`. */
  who: string;
  partition?: string;
  account?: string;
  roleArn?: string;
}

/** One kind of request to judge: its caller, the actions it needs, the request context(s) per action. */
interface RequestPath {
  caller: Caller;
  actions: string[];
  /** Every context such a request may carry for `action`: a Deny applies if it applies to any of them. */
  contexts: (action: string) => Context[];
}

/** An IAM role ARN: partition, account, role name (after its path). */
const ROLE_ARN = /^arn:([^:]+):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/;
/** Any IAM or STS principal ARN: partition, account, resource. */
const PRINCIPAL_ARN = /^arn:([^:]+):(?:iam|sts)::(\d{12}):(.*)$/;

function callerOf(who: string, principalArn: string | undefined): Caller {
  const role = ROLE_ARN.exec(principalArn ?? '');
  if (role && principalArn) return { who, partition: role[1], account: role[2], roleArn: principalArn };
  const principal = PRINCIPAL_ARN.exec(principalArn ?? '');
  // The account principal (or another principal of the account): the request comes from one of its roles.
  return principal ? { who, partition: principal[1], account: principal[2] } : { who };
}

/** What `aws:PrincipalArn` is in the caller's requests; `undefined` when not even its account is known. */
function principalArnOf(caller: Caller): string[] | Unknown | undefined {
  if (caller.roleArn !== undefined) return [caller.roleArn];
  if (caller.account === undefined) return undefined;
  return {
    prefix: `arn:${caller.partition}:iam::${caller.account}:role/`,
    why: `${caller.who} calls from a role of account ${caller.account} whose name is not known`,
  };
}

/** Context keys every request of `caller` carries. */
function callerContext(caller: Caller): Context {
  const ctx: Context = new Map<string, string[] | Unknown | null>([
    // The caller is an IAM role's session, not an AWS service principal.
    ['aws:principalisawsservice', ['false']],
    // KMS only answers over TLS.
    ['aws:securetransport', ['true']],
  ]);
  const arn = principalArnOf(caller);
  if (arn !== undefined) ctx.set('aws:principalarn', arn);
  if (caller.account !== undefined) {
    ctx.set('aws:principalaccount', [caller.account]);
    ctx.set('kms:calleraccount', [caller.account]);
  }
  return ctx;
}

/**
 * Databricks' control plane calling KMS directly: one context per Databricks account id, as each
 * Databricks request carries exactly one `aws:PrincipalTag/DatabricksAccountId` value.
 */
function databricksPath(request: DatabricksRequest): RequestPath {
  const caller = callerOf('Databricks', request.databricksPrincipalArn);
  const base = callerContext(caller);
  // Databricks is a cross-account principal calling KMS directly, never on behalf of a customer resource.
  base.set('aws:sourceaccount', null);
  base.set('aws:sourcearn', null);
  const contexts =
    request.accountIds.length === 0
      ? [base]
      : unique([...request.accountIds]).map((id) =>
          new Map(base).set('aws:principaltag/databricksaccountid', [id]),
        );
  return { caller, actions: databricksActions(request), contexts: () => contexts };
}

/**
 * The workspace's cross-account role using the key for cluster volumes: EC2 calls KMS with the role's
 * credentials (`kms:ViaService` `ec2.<key's region>.amazonaws.com`), and its `CreateGrant` is for an AWS
 * resource (`kms:GrantIsForAWSResource`, a key only grant operations carry). The role is of the key's
 * account (`databricksGrantFor`).
 */
function clusterVolumePath(request: DatabricksRequest): RequestPath | undefined {
  if (!request.clusterVolumes || !request.useCases.includes('STORAGE')) return undefined;
  const key = /^arn:([^:]+):kms:([^:]+):(\d{12}):/.exec(request.keyArn);
  const who = "the workspace's cross-account role";
  const known = request.clusterVolumes.roleArn;
  const caller = known ? callerOf(who, known) : key ? { who, partition: key[1], account: key[3] } : { who };
  const base = callerContext(caller);
  base.set('aws:viaawsservice', ['true']);
  if (key) base.set('kms:viaservice', [`ec2.${key[2]}.amazonaws.com`]);
  const forGrant = new Map(base).set('kms:grantisforawsresource', ['true']);
  const other = new Map(base).set('kms:grantisforawsresource', null);
  return {
    caller,
    actions: clusterVolumeActions(request.databricksPrincipalArn),
    contexts: (action) => [action === 'kms:CreateGrant' ? forGrant : other],
  };
}

/** How one statement treats the path's requests: which needed actions it (maybe) denies, which it grants. */
function judgeStatement(
  statement: PolicyStatement,
  path: RequestPath,
  keyArn: string,
): { denied: Array<{ action: string; notes: string[] }>; allowed: string[] } {
  const principal = principalApplies(statement, path.caller);
  const resource = resourceApplies(statement, keyArn);
  const denied: Array<{ action: string; notes: string[] }> = [];
  const allowed: string[] = [];
  if (principal.verdict === 'no' || resource.verdict === 'no') return { denied, allowed };
  for (const action of path.actions) {
    const act = actionApplies(statement, action);
    if (act.verdict === 'no') continue;
    const perContext = path.contexts(action).map((ctx) => conditionHolds(statement.Condition, ctx));
    // A Deny applies when it applies to any of the requests; an Allow grants only when it grants all.
    const deny = all([principal, resource, any(perContext), act]);
    if (deny.verdict !== 'no') denied.push({ action, notes: deny.notes });
    if (all([principal, resource, all(perContext), act]).verdict === 'yes') allowed.push(action);
  }
  return { denied, allowed };
}

function principalApplies(statement: PolicyStatement, caller: Caller): Judged {
  if (statement.Principal !== undefined) return principalMatches(statement.Principal, caller);
  if (statement.NotPrincipal !== undefined) return notPrincipalApplies(statement.NotPrincipal, caller);
  return maybe('the statement names no Principal');
}

function principalValues(principal: unknown): string[] {
  return typeof principal === 'string' ? [principal] : isObject(principal) ? stringList(principal.AWS) : [];
}

/**
 * Whether a Principal element names the caller: `*`, `{"AWS": "*"}`, its account (id or root: every
 * principal of the account), or its role. Another principal of the account may be the calling role.
 */
function principalMatches(principal: unknown, caller: Caller): Judged {
  if (principal === '*') return YES;
  return any(principalValues(principal).map((value) => principalValueMatches(value, caller)));
}

function principalValueMatches(value: string, caller: Caller): Judged {
  if (value === '*' || value === caller.roleArn) return YES;
  const { account, partition, roleArn } = caller;
  if (account === undefined) return maybe(`principal ${value}: the account of ${caller.who} is not known`);
  if (value === account || value === `arn:${partition}:iam::${account}:root`) return YES;
  const resource = PRINCIPAL_ARN.exec(value);
  if (resource?.[2] !== account) return NO;
  if (roleArn === undefined) {
    return maybe(
      `principal ${value} is in ${caller.who}'s AWS account ${account}, whose calling role is not known`,
    );
  }
  // A known role: only its own sessions (whose names are not known) are also it.
  const roleName = ROLE_ARN.exec(roleArn)?.[3];
  return resource[3]?.startsWith(`assumed-role/${roleName}/`)
    ? maybe(`principal ${value} is a session of ${roleArn}; which session calls is not known`)
    : NO;
}

/**
 * NotPrincipal: everyone except those listed. IAM exempts an assumed-role session only when the list names
 * its account, its role and the session itself (the account alone does not exempt the account's roles);
 * the calling session is never known here, so a NotPrincipal applies to the caller unless it lists `*`,
 * and may apply when it lists all three kinds for the caller.
 */
function notPrincipalApplies(notPrincipal: unknown, caller: Caller): Judged {
  const values = notPrincipal === '*' ? ['*'] : principalValues(notPrincipal);
  if (values.includes('*')) return NO;
  const { account, partition, roleArn } = caller;
  const listed = (test: (value: string) => boolean) => values.some(test);
  const role = (v: string) =>
    roleArn !== undefined
      ? v === roleArn
      : ROLE_ARN.exec(v)?.slice(1, 3).join(':') === `${partition}:${account}`;
  const roleName = roleArn !== undefined ? ROLE_ARN.exec(roleArn)?.[3] : undefined;
  const session = (v: string) => {
    const m = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(v);
    return m?.[2] === account && m?.[1] === partition && (roleName === undefined || m?.[3] === roleName);
  };
  const accountListed = (v: string) => v === account || v === `arn:${partition}:iam::${account}:root`;
  if (account !== undefined && listed(accountListed) && listed(role) && listed(session)) {
    return maybe(
      `NotPrincipal lists ${caller.who}'s account, a role and a session of it; whether the calling session is among them is not known`,
    );
  }
  return YES;
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
          : resourceMatches(p, keyArn)
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
/** The same comparison against a value whose rest is not known: does `wanted` match all, some or none? */
type CompareUnknown = (actual: Unknown, wanted: string) => Verdict;

const literal =
  (ignoreCase: boolean): CompareUnknown =>
  (actual, wanted) => {
    const fold = (s: string) => (ignoreCase ? s.toLowerCase() : s);
    return wanted.length > actual.prefix.length && fold(wanted).startsWith(fold(actual.prefix))
      ? 'maybe'
      : 'no';
  };

const OPERATORS: Record<string, { compare: Compare; unknown: CompareUnknown; negated: boolean }> = {
  stringequals: { compare: (a, w) => a === w, unknown: literal(false), negated: false },
  stringnotequals: { compare: (a, w) => a === w, unknown: literal(false), negated: true },
  stringequalsignorecase: {
    compare: (a, w) => a.toLowerCase() === w.toLowerCase(),
    unknown: literal(true),
    negated: false,
  },
  stringnotequalsignorecase: {
    compare: (a, w) => a.toLowerCase() === w.toLowerCase(),
    unknown: literal(true),
    negated: true,
  },
  stringlike: {
    compare: (a, w) => globMatches(w, a, false),
    unknown: (a, w) => globCovers(w, a.prefix),
    negated: false,
  },
  stringnotlike: {
    compare: (a, w) => globMatches(w, a, false),
    unknown: (a, w) => globCovers(w, a.prefix),
    negated: true,
  },
  arnequals: { compare: arnMatches, unknown: arnCovers, negated: false },
  arnlike: { compare: arnMatches, unknown: arnCovers, negated: false },
  arnnotequals: { compare: arnMatches, unknown: arnCovers, negated: true },
  arnnotlike: { compare: arnMatches, unknown: arnCovers, negated: true },
  bool: { compare: (a, w) => a.toLowerCase() === w.toLowerCase(), unknown: () => 'maybe', negated: false },
};

const notVerdict = (v: Verdict): Verdict => (v === 'yes' ? 'no' : v === 'no' ? 'yes' : 'maybe');
const anyVerdict = (vs: readonly Verdict[]): Verdict =>
  vs.includes('yes') ? 'yes' : vs.includes('maybe') ? 'maybe' : 'no';
const allVerdict = (vs: readonly Verdict[]): Verdict =>
  vs.includes('no') ? 'no' : vs.includes('maybe') ? 'maybe' : 'yes';

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
  const values = actual === null ? [] : Array.isArray(actual) ? actual : [actual];
  if (name === 'null' && !set && !ifExists) {
    const absent = values.length === 0;
    return wanted.some((w) => w.toLowerCase() === String(absent)) ? YES : NO;
  }
  const op = OPERATORS[name];
  if (!op) return maybe(`condition not evaluated: ${key} (operator ${operator})`);
  const matches = (value: string | Unknown): Verdict =>
    anyVerdict(
      wanted.map((w) =>
        typeof value === 'string' ? (op.compare(value, w) ? 'yes' : 'no') : op.unknown(value, w),
      ),
    );
  const holds = (value: string | Unknown) => (op.negated ? notVerdict(matches(value)) : matches(value));
  let result: Verdict;
  if (values.length === 0) {
    const present = set === 'forallvalues' ? true : set === 'foranyvalue' ? false : ifExists || op.negated;
    result = present ? 'yes' : 'no';
  } else if (set === 'forallvalues') {
    result = allVerdict(values.map(holds));
  } else if (set === 'foranyvalue') {
    result = anyVerdict(values.map(holds));
  } else {
    const some = anyVerdict(values.map(matches));
    result = op.negated ? notVerdict(some) : some;
  }
  if (result === 'maybe') {
    const why = values.find((v): v is Unknown => typeof v !== 'string')?.why;
    return maybe(`condition not evaluated: ${key} (${why ?? 'value not known'})`);
  }
  return result === 'yes' ? YES : NO;
}

function conditionValues(raw: unknown): string[] | undefined {
  const list = Array.isArray(raw) ? raw : [raw];
  if (!list.every((v) => ['string', 'number', 'boolean'].includes(typeof v))) return undefined;
  return list.map(String);
}

/** `ArnLike`/`ArnEquals`: the six ARN parts compared one by one, each a case-sensitive glob. */
function arnMatches(actual: string, pattern: string): boolean {
  const a = arnParts(actual);
  const p = arnPatternParts(pattern);
  if (!a || !p) return false;
  return p.every((part, i) => globMatches(part, a[i] as string, false));
}

/** `arnMatches` against an ARN whose resource part is only known to start with `actual.prefix`'s. */
function arnCovers(actual: Unknown, pattern: string): Verdict {
  const a = arnParts(actual.prefix);
  const p = arnPatternParts(pattern);
  if (!a || !p) return 'no';
  if (!p.slice(0, 5).every((part, i) => globMatches(part, a[i] as string, false))) return 'no';
  return globCovers(p[5] as string, a[5] as string);
}

function arnParts(arn: string): string[] | undefined {
  const parts = arnPatternParts(arn);
  return parts?.[0] === 'arn' ? parts : undefined;
}

/**
 * The six colon-delimited parts of an `ArnLike` pattern. Each part, the first included, may hold `*` and
 * `?` (IAM User Guide, condition operators, ARN condition operators: "each of the six colon-delimited
 * components of the ARN is checked separately and each can include multi-character match wildcards (*) or
 * single-character match wildcards (?)"), so `*:aws:iam::…` is a pattern like `arn:aws:iam::…`.
 */
function arnPatternParts(pattern: string): string[] | undefined {
  const parts = pattern.split(':');
  if (parts.length < 6) return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

/**
 * Whether the case-sensitive IAM glob `pattern` matches every (`yes`), some (`maybe`) or none (`no`) of
 * the strings `prefix` + a non-empty rest: the glob is run over `prefix` as an automaton, then each
 * position it may be at is asked whether its remainder matches any rest (only `*`s, at most one `?`) or
 * some rest (anything left).
 */
function globCovers(pattern: string, prefix: string): Verdict {
  const p = [...pattern];
  const closure = (states: Set<number>) => {
    // A Set visits what is added while it is iterated: a run of `*`s is skipped in one pass.
    for (const i of states) if (p[i] === '*') states.add(i + 1);
    return states;
  };
  let states = closure(new Set([0]));
  for (const c of prefix) {
    const next = new Set<number>();
    for (const i of states) {
      if (p[i] === '*') next.add(i);
      else if (p[i] === '?' || p[i] === c) next.add(i + 1);
    }
    states = closure(next);
  }
  const rests = [...states].map((i) => p.slice(i));
  const matchesEvery = (rest: string[]) =>
    rest.includes('*') &&
    rest.every((c) => c === '*' || c === '?') &&
    rest.filter((c) => c === '?').length <= 1;
  if (rests.some(matchesEvery)) return 'yes';
  return rests.some((rest) => rest.length > 0) ? 'maybe' : 'no';
}

/**
 * A `Resource` pattern against the key's ARN, case-sensitively. Wildcards stay within their colon-separated
 * segment, except a `*` that ends a segment, which "can expand to match beyond the colon boundaries" (IAM
 * User Guide, IAM JSON policy elements: Resource, "Using wildcards in resource ARNs"): `arn:aws:kms:*` covers
 * every key, `arn:aws:kms:us*1:…` does not reach past the region.
 */
function resourceMatches(pattern: string, arn: string): boolean {
  const chars = [...pattern];
  const source = chars
    .map((c, i) => {
      if (c === '*') return i + 1 === chars.length || chars[i + 1] === ':' ? '.*' : '[^:]*';
      if (c === '?') return '[^:]';
      return c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${source}$`, 's').test(arn);
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
