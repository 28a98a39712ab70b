import { describe, expect, it } from 'vitest';
import { databricksStatements, type PolicyStatement } from '../../lib/kms/policy.ts';
import {
  type DatabricksDenial,
  type DatabricksRequest,
  databricksDenials,
  describeDenials,
  evaluateKeyPolicyForDatabricks,
} from '../../lib/kms/policy-eval.ts';

/**
 * How KMS would judge a key policy for Databricks, found by mutation testing (`npm run mutation`): statements
 * that lack an element or hold one of an odd shape, condition operators and values at their edges, ARN
 * comparisons part by part, NotPrincipal's session rule, and how denials are described.
 */

const DATABRICKS = 'arn:aws:iam::414351767826:root';
const DATABRICKS_ROLE = 'arn:aws:iam::414351767826:role/databricks';
const KEY_ID = '5678abcd-56ef-78ab-90cd-567890abcdef';
const KEY = `arn:aws:kms:us-east-1:111122223333:key/${KEY_ID}`;
const ACCOUNT = 'acc-0d6c9a2e';
const TAG = 'aws:PrincipalTag/DatabricksAccountId';
const CROSS_ACCOUNT_ROLE = 'arn:aws:iam::111122223333:role/databricks-cross-account';
const UNKNOWN_ROLE =
  'condition not evaluated: aws:PrincipalArn (Databricks calls from a role of account 414351767826 whose name is not known)';

const request = (overrides: Partial<DatabricksRequest> = {}): DatabricksRequest => ({
  databricksPrincipalArn: DATABRICKS,
  accountIds: [ACCOUNT],
  keyArn: KEY,
  useCases: ['MANAGED_SERVICES'],
  ...overrides,
});

const ADMIN: PolicyStatement = {
  Sid: 'Enable IAM User Permissions',
  Effect: 'Allow',
  Principal: { AWS: 'arn:aws:iam::111122223333:root' },
  Action: 'kms:*',
  Resource: '*',
};

/** The documented statements, so that only the Deny under test can make the key unusable. */
const granting = (): PolicyStatement[] => [
  ADMIN,
  ...databricksStatements({
    useCases: ['MANAGED_SERVICES', 'STORAGE'],
    databricksPrincipalArn: DATABRICKS,
    accountIds: [ACCOUNT],
    reuseKeyForClusterVolumes: true,
    ebsRoleArn: CROSS_ACCOUNT_ROLE,
  }),
];

const policyWith = (...extra: PolicyStatement[]) =>
  JSON.stringify({ Version: '2012-10-17', Statement: [...granting(), ...extra] });

const deny = (overrides: Partial<PolicyStatement> = {}): PolicyStatement => ({
  Sid: 'Deny under test',
  Effect: 'Deny',
  Principal: '*',
  Action: 'kms:Decrypt',
  Resource: '*',
  ...overrides,
});

/** A statement of a shape the types do not allow (elements missing, values of another type). */
const odd = (statement: Record<string, unknown>) => statement as unknown as PolicyStatement;

/** A Deny of kms:Decrypt with an element removed (Principal, Action, Resource). */
const denyWithout = (element: 'Principal' | 'Action' | 'Resource', extra: Record<string, unknown> = {}) => {
  const statement: Record<string, unknown> = { ...deny(), ...extra };
  delete statement[element];
  return odd(statement);
};

/** The denials the policy with `extra` added gets for the request. */
const denialsWith = (extra: PolicyStatement, req: Partial<DatabricksRequest> = {}) =>
  databricksDenials(policyWith(extra), request(req));

/** `[actions, unevaluated]` of each denial, so that a certain, a maybe and no denial all read apart. */
const judged = (extra: PolicyStatement, req: Partial<DatabricksRequest> = {}) =>
  denialsWith(extra, req).map((d) => [d.actions, d.unevaluated]);

const withCondition = (Condition: unknown) => deny({ Condition: Condition as PolicyStatement['Condition'] });

describe('Function: evaluateKeyPolicyForDatabricks — the verdict', () => {
  it('is not usable when no Deny applies but a needed action is granted by no Allow', () => {
    // Act
    const verdict = evaluateKeyPolicyForDatabricks(JSON.stringify({ Statement: [ADMIN] }), request());
    // Assess
    expect(verdict).toEqual({
      actions: ['kms:Decrypt', 'kms:Encrypt'],
      denials: [],
      grants: [
        { action: 'kms:Decrypt', allowedBy: [] },
        { action: 'kms:Encrypt', allowedBy: [] },
      ],
      ungranted: ['kms:Decrypt', 'kms:Encrypt'],
      usable: false,
    });
  });

  it.each([
    ['no Effect', {}],
    ['an Effect that is neither Allow nor Deny', { Effect: 'Audit' }],
  ])('counts a statement with %s neither as a grant nor as a denial', (_, effect) => {
    // Prepare
    const statement = odd({
      Sid: 'Odd',
      Principal: { AWS: DATABRICKS },
      Action: 'kms:*',
      Resource: '*',
      ...effect,
    });
    // Act
    const verdict = evaluateKeyPolicyForDatabricks(
      JSON.stringify({ Statement: [ADMIN, statement] }),
      request(),
    );
    // Assess
    expect(verdict.denials).toEqual([]);
    expect(verdict.ungranted).toEqual(['kms:Decrypt', 'kms:Encrypt']);
    expect(verdict.usable).toBe(false);
  });

  it('names a Deny by its index when its Sid is empty, and keeps the empty Sid', () => {
    // Act
    const [denial] = denialsWith(deny({ Sid: '' }));
    // Assess
    expect(denial).toStrictEqual({
      sid: '',
      index: 4,
      statement: 'statement at index 4',
      actions: ['kms:Decrypt'],
      unevaluated: [],
    });
  });

  it('leaves out the sid of a Deny whose Sid is not a string', () => {
    // Act
    const [denial] = denialsWith(odd({ ...deny(), Sid: 7 }));
    // Assess
    expect(denial).toStrictEqual({
      index: 4,
      statement: 'statement at index 4',
      actions: ['kms:Decrypt'],
      unevaluated: [],
    });
  });
});

describe('Function: evaluateKeyPolicyForDatabricks — elements missing or of an odd shape', () => {
  it.each([
    ['Principal (nor NotPrincipal)', denyWithout('Principal'), ['kms:Decrypt'], 'Principal'],
    ['Action (nor NotAction)', denyWithout('Action'), ['kms:Decrypt', 'kms:Encrypt'], 'Action'],
    ['Resource (nor NotResource)', denyWithout('Resource'), ['kms:Decrypt'], 'Resource'],
  ])('takes a Deny that names no %s as maybe applying, and says so', (_, statement, actions, element) => {
    // Act & Assess
    expect(judged(statement)).toEqual([[actions, [`the statement names no ${element}`]]]);
  });

  it('does not count an Allow that names no Principal as a grant', () => {
    // Prepare
    const allow = odd({ Effect: 'Allow', Action: 'kms:*', Resource: '*' });
    // Act
    const verdict = evaluateKeyPolicyForDatabricks(JSON.stringify({ Statement: [ADMIN, allow] }), request());
    // Assess
    expect(verdict.ungranted).toEqual(['kms:Decrypt', 'kms:Encrypt']);
  });

  it('takes a Resource or NotResource with a policy variable as maybe naming the key, and says so', () => {
    // Prepare
    const pattern = `arn:aws:kms:us-east-1:\${aws:PrincipalAccount}:key/*`;
    const note = `resource ${pattern} has a policy variable`;
    // Act & Assess
    expect(judged(deny({ Resource: pattern }))).toEqual([[['kms:Decrypt'], [note]]]);
    expect(judged(deny({ Resource: undefined, NotResource: pattern }))).toEqual([[['kms:Decrypt'], [note]]]);
  });

  it('matches Resource and NotResource ARNs case-sensitively', () => {
    // Prepare
    const upper = KEY.replace(KEY_ID, KEY_ID.toUpperCase());
    // Act & Assess
    expect(judged(deny({ Resource: upper }))).toEqual([]);
    expect(judged(deny({ Resource: undefined, NotResource: upper }))).toEqual([[['kms:Decrypt'], []]]);
  });

  it('matches NotAction case-insensitively, as Action', () => {
    // Act & Assess
    expect(judged(deny({ Action: undefined, NotAction: ['KMS:ENCRYPT', 'kms:decrypt'] }))).toEqual([]);
    expect(judged(deny({ Action: undefined, NotAction: 'KMS:ENCRYPT' }))).toEqual([[['kms:Decrypt'], []]]);
  });

  it('reads a Principal given as a bare string as that principal (an empty one names no one)', () => {
    // Act & Assess
    expect(judged(odd({ ...deny(), Principal: DATABRICKS }))).toEqual([[['kms:Decrypt'], []]]);
    expect(judged(odd({ ...deny(), Principal: 'arn:aws:iam::999988887777:root' }))).toEqual([]);
    expect(judged(odd({ ...deny(), Principal: '' }))).toEqual([]);
  });

  it('reads a bare-string NotPrincipal as the one principal it exempts', () => {
    // Act & Assess
    expect(judged(odd({ ...deny(), Principal: undefined, NotPrincipal: DATABRICKS }))).toEqual([
      [['kms:Decrypt'], []],
    ]);
  });

  it('skips the entries of Action, Principal and Resource lists that are not strings', () => {
    // Prepare
    const statement = odd({
      ...deny(),
      Principal: { AWS: [7, DATABRICKS] },
      Action: [{ kms: 'Encrypt' }, 'kms:Decrypt', null],
      Resource: [42, KEY],
    });
    // Act & Assess
    expect(judged(statement)).toEqual([[['kms:Decrypt'], []]]);
    expect(judged(odd({ ...deny(), Action: undefined, NotAction: [5, 'kms:Decrypt'] }))).toEqual([
      [['kms:Encrypt'], []],
    ]);
  });
});

describe('Function: evaluateKeyPolicyForDatabricks — conditions at their edges', () => {
  it.each([
    ['a string', 'aws:SecureTransport'],
    ['a list', [{ StringEquals: { 'aws:PrincipalAccount': '414351767826' } }]],
    ['null', null],
  ])('takes a Condition that is %s as not evaluated, and says so', (_, condition) => {
    // Act & Assess
    expect(judged(withCondition(condition))).toEqual([
      [['kms:Decrypt'], ['condition not evaluated: it is not an object']],
    ]);
  });

  it.each([
    ['a string', 'aws:PrincipalAccount'],
    ['null', null],
    ['a list', [{ 'aws:PrincipalAccount': '414351767826' }]],
  ])('takes an operator whose block is %s as not evaluated, naming the operator', (_, block) => {
    // Act & Assess
    expect(judged(withCondition({ StringEquals: block }))).toEqual([
      [['kms:Decrypt'], ['condition not evaluated: StringEquals']],
    ]);
  });

  it('ignores a Deny whose other operator surely excludes Databricks, even beside an unreadable block', () => {
    // Act & Assess
    expect(judged(withCondition({ StringEquals: 'x', Bool: { 'aws:SecureTransport': 'false' } }))).toEqual(
      [],
    );
  });

  it.each([
    ['a list inside the list', [['414351767826']]],
    ['a null in the list', ['414351767826', null]],
    ['an object', { id: '414351767826' }],
  ])('takes a condition value that is %s as not evaluated, and says so', (_, value) => {
    // Act & Assess
    expect(judged(withCondition({ StringEquals: { 'aws:PrincipalAccount': value } }))).toEqual([
      [['kms:Decrypt'], ['condition not evaluated: aws:PrincipalAccount (value is not a string list)']],
    ]);
  });

  it('reads number and boolean condition values as their text', () => {
    // Act & Assess
    expect(judged(withCondition({ StringEquals: { 'aws:PrincipalAccount': 414351767826 } }))).toEqual([
      [['kms:Decrypt'], []],
    ]);
    expect(judged(withCondition({ StringEquals: { 'aws:PrincipalAccount': [999988887777, true] } }))).toEqual(
      [],
    );
    expect(judged(withCondition({ Bool: { 'aws:SecureTransport': false } }))).toEqual([]);
  });

  it('compares StringNotEqualsIgnoreCase without regard to case', () => {
    // Act & Assess
    expect(judged(withCondition({ StringNotEqualsIgnoreCase: { [TAG]: 'ACC-0D6C9A2E' } }))).toEqual([]);
    expect(judged(withCondition({ StringNotEqualsIgnoreCase: { [TAG]: 'ACC-OTHER' } }))).toEqual([
      [['kms:Decrypt'], []],
    ]);
  });

  it('matches StringLike and StringNotLike case-sensitively', () => {
    // Act & Assess
    expect(judged(withCondition({ StringLike: { [TAG]: 'ACC-*' } }))).toEqual([]);
    expect(judged(withCondition({ StringNotLike: { [TAG]: 'ACC-*' } }))).toEqual([[['kms:Decrypt'], []]]);
  });

  it('lets a wildcard match any character, a line break too', () => {
    // Act & Assess
    expect(judged(withCondition({ StringLike: { [TAG]: 'acc-*' } }), { accountIds: ['acc-\n1'] })).toEqual([
      [['kms:Decrypt'], []],
    ]);
  });

  it('cannot decide Bool on the calling role’s ARN, whose name is not known', () => {
    // Act & Assess
    expect(judged(withCondition({ Bool: { 'aws:PrincipalArn': 'true' } }))).toEqual([
      [['kms:Decrypt'], [UNKNOWN_ROLE]],
    ]);
  });

  it('holds a Null condition when any of its values does (the values of one key are ORed)', () => {
    // Act & Assess
    expect(judged(withCondition({ Null: { 'aws:SourceArn': ['false', 'true'] } }))).toEqual([
      [['kms:Decrypt'], []],
    ]);
    expect(judged(withCondition({ Null: { 'aws:SourceArn': ['false'] } }))).toEqual([]);
  });

  it('takes ForAnyValue with a negated operator on an absent key as false, ForAllValues as true', () => {
    // Act & Assess
    expect(judged(withCondition({ 'ForAnyValue:StringNotEquals': { 'aws:SourceArn': 'x' } }))).toEqual([]);
    expect(judged(withCondition({ 'ForAllValues:StringNotEquals': { 'aws:SourceArn': 'x' } }))).toEqual([
      [['kms:Decrypt'], []],
    ]);
  });

  it('judges ForAllValues with a negated operator value by value', () => {
    // Act & Assess
    expect(judged(withCondition({ 'ForAllValues:StringNotEquals': { [TAG]: ACCOUNT } }))).toEqual([]);
    expect(judged(withCondition({ 'ForAllValues:StringNotEquals': { [TAG]: 'acc-other' } }))).toEqual([
      [['kms:Decrypt'], []],
    ]);
  });

  it('takes a policy variable in any one of the values as not evaluated', () => {
    // Act & Assess
    expect(judged(withCondition({ StringEquals: { [TAG]: [ACCOUNT, `\${aws:username}`] } }))).toEqual([
      [['kms:Decrypt'], [`condition not evaluated: ${TAG} (policy variable)`]],
    ]);
  });

  it.each([`\${*}`, `\${?}`, `\${$}`])(
    'reads %s as an escaped character, not as a policy variable',
    (escaped) => {
      // Act & Assess
      expect(judged(withCondition({ StringNotEquals: { [TAG]: `acc-${escaped}` } }))).toEqual([
        [['kms:Decrypt'], []],
      ]);
    },
  );

  it('takes an operator without a name as not evaluated, naming the key', () => {
    // Act & Assess
    expect(judged(withCondition({ '': { 'aws:PrincipalAccount': '414351767826' } }))).toEqual([
      [['kms:Decrypt'], ['condition not evaluated: aws:PrincipalAccount (operator )']],
    ]);
  });
});

describe('Function: evaluateKeyPolicyForDatabricks — ARNs compared part by part', () => {
  const asRole = { databricksPrincipalArn: DATABRICKS_ROLE };
  const arnLike = (pattern: string) => withCondition({ ArnLike: { 'aws:PrincipalArn': pattern } });

  it('compares a known role’s ARN case-sensitively', () => {
    // Act & Assess
    expect(judged(arnLike('arn:aws:iam::414351767826:role/DATABRICKS'), asRole)).toEqual([]);
    expect(judged(arnLike('arn:aws:iam::414351767826:role/databricks'), asRole)).toEqual([
      [['kms:Decrypt'], []],
    ]);
  });

  it('lets the first part of a pattern be a wildcard too, as every one of the six parts may be', () => {
    // Act & Assess: a Deny for every role of Databricks' account, written without "arn"
    expect(judged(arnLike('*:aws:iam::414351767826:role/*'), asRole)).toEqual([[['kms:Decrypt'], []]]);
    expect(judged(arnLike('ar?:aws:iam::414351767826:role/databricks'), asRole)).toEqual([
      [['kms:Decrypt'], []],
    ]);
    expect(judged(arnLike('*:aws:iam::999999999999:role/*'), asRole)).toEqual([]);
  });

  it('matches no ARN with a pattern of fewer than six parts', () => {
    // Act & Assess
    expect(judged(arnLike('arn:aws:iam'), asRole)).toEqual([]);
    expect(judged(arnLike('arn:aws:iam'))).toEqual([]);
  });

  it('keeps the colons of the resource part', () => {
    // Act & Assess
    expect(judged(arnLike('arn:aws:iam::414351767826:role/data:bricks'), asRole)).toEqual([]);
    expect(judged(arnLike('arn:aws:iam::414351767826:role/*:x'))).toEqual([
      [['kms:Decrypt'], [UNKNOWN_ROLE]],
    ]);
  });

  it('lets a wildcard of the account part match the account only, not the role name', () => {
    // Act & Assess
    expect(judged(arnLike('arn:aws:iam::*:role/'))).toEqual([]);
  });
});

describe('Function: evaluateKeyPolicyForDatabricks — NotPrincipal and the calling session', () => {
  const notPrincipal = (AWS: string[]) => deny({ Principal: undefined, NotPrincipal: { AWS } });
  const role = 'arn:aws:iam::414351767826:role/d';

  it.each([
    ['a session of another account', 'arn:aws:sts::999988887777:assumed-role/d/s'],
    ['a session of another partition', 'arn:aws-cn:sts::414351767826:assumed-role/d/s'],
    ['a session ARN with junk before it', 'xarn:aws:sts::414351767826:assumed-role/d/s'],
    ['a session ARN with a line break in it', 'arn:aws:sts::414351767826:assumed-role/d/s\nx'],
  ])('certainly applies a NotPrincipal Deny listing the account, a role and %s', (_, session) => {
    // Act & Assess
    expect(judged(notPrincipal([DATABRICKS, role, session]))).toEqual([[['kms:Decrypt'], []]]);
  });

  it('may apply one listing the account, a role and a session of that account', () => {
    // Act & Assess
    expect(judged(notPrincipal([DATABRICKS, role, 'arn:aws:sts::414351767826:assumed-role/d/s']))).toEqual([
      [
        ['kms:Decrypt'],
        [
          "NotPrincipal lists Databricks's account, a role and a session of it; whether the calling session is among them is not known",
        ],
      ],
    ]);
  });
});

describe('Function: evaluateKeyPolicyForDatabricks — request contexts', () => {
  it('evaluates one request without a Databricks account id when none is known', () => {
    // Act & Assess
    expect(judged(deny(), { accountIds: [] })).toEqual([[['kms:Decrypt'], []]]);
    expect(judged(withCondition({ StringEquals: { [TAG]: ACCOUNT } }), { accountIds: [] })).toEqual([
      [['kms:Decrypt'], [`condition not evaluated: ${TAG}`]],
    ]);
  });

  it.each([
    ['a key id', KEY_ID],
    ['a key ARN with junk before it', `x${KEY}`],
  ])('knows nothing of the cross-account role’s account when the key is named by %s', (_, keyArn) => {
    // Prepare
    const req = { useCases: ['STORAGE' as const], clusterVolumes: {}, keyArn };
    const denials = (statement: PolicyStatement) =>
      denialsWith(statement, req).map((d) => [d.clusterVolumeActions, d.unevaluated]);
    // Act & Assess
    expect(denials(deny({ Action: 'kms:CreateGrant', Principal: { AWS: '111122223333' } }))).toEqual([
      [
        ['kms:CreateGrant'],
        ["principal 111122223333: the account of the workspace's cross-account role is not known"],
      ],
    ]);
    expect(
      denials(
        deny({
          Action: 'kms:CreateGrant',
          Condition: { StringEquals: { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' } },
        }),
      ),
    ).toEqual([[['kms:CreateGrant'], ['condition not evaluated: kms:ViaService']]]);
  });
});

describe('Function: describeDenials — limits and notes', () => {
  const denial = (n: number, unevaluated: string[] = []): DatabricksDenial => ({
    index: n,
    statement: `statement at index ${n}`,
    actions: ['kms:Decrypt'],
    unevaluated,
  });
  const many = (count: number) => Array.from({ length: count }, (_, i) => denial(i));

  it('shows ten statements by default, then says how many more', () => {
    // Act & Assess
    expect(describeDenials(many(10))).not.toContain('more');
    expect(describeDenials(many(11))).toMatch(
      /; statement at index 9 denies kms:Decrypt; and 1 more Deny statement\(s\)$/,
    );
  });

  it('shows exactly `max` statements without a tail', () => {
    // Act & Assess
    expect(describeDenials(many(2), 2)).toBe(
      'statement at index 0 denies kms:Decrypt; statement at index 1 denies kms:Decrypt',
    );
  });

  it('lists every unevaluated part of one Deny, separated by semicolons', () => {
    // Prepare
    const [found] = denialsWith(
      withCondition({
        IpAddress: { 'aws:SourceIp': '10.0.0.0/8' },
        StringEquals: { 'aws:SourceVpc': 'vpc-1' },
      }),
    );
    // Act & Assess
    expect(describeDenials(found ? [found] : [])).toBe(
      '"Deny under test" denies kms:Decrypt (condition not evaluated: aws:SourceIp; condition not evaluated: aws:SourceVpc; taken as applying)',
    );
  });
});

describe('Function: evaluateKeyPolicyForDatabricks — wildcards in Resource stay in their ARN segment', () => {
  const denyOn = (Resource: string) => judged(deny({ Resource }));

  it('lets a * that ends a segment reach past colons, as IAM documents', () => {
    // Act & Assess: the key is arn:aws:kms:us-east-1:111122223333:key/<id>
    expect(denyOn('arn:aws:kms:*')).toEqual([[['kms:Decrypt'], []]]);
    expect(denyOn('arn:aws:kms:us-east-1:*:key/*')).toEqual([[['kms:Decrypt'], []]]);
    expect(denyOn('*')).toEqual([[['kms:Decrypt'], []]]);
  });

  it('keeps a * or ? inside a segment within it', () => {
    // Act & Assess
    expect(denyOn('arn:aws:kms:us-*-1:111122223333:key/*')).toEqual([[['kms:Decrypt'], []]]);
    expect(denyOn('arn:aws:kms:us*3:key/*')).toEqual([]);
    expect(denyOn('arn:aws:kms:us-east-?:111122223333:key/*')).toEqual([[['kms:Decrypt'], []]]);
    expect(denyOn('arn:aws:kms:us-east-1?111122223333:key/*')).toEqual([]);
  });

  it('does not take an Allow whose Resource only matches across a segment as a grant', () => {
    // Prepare: the Databricks statements, each narrowed to such a Resource
    const statements = databricksStatements({
      useCases: ['MANAGED_SERVICES'],
      databricksPrincipalArn: DATABRICKS,
      accountIds: [ACCOUNT],
      reuseKeyForClusterVolumes: false,
    }).map((s) => ({ ...s, Resource: 'arn:aws:kms:us*3:key/*' }));
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [ADMIN, ...statements] });
    // Act
    const verdict = evaluateKeyPolicyForDatabricks(policy, request({ useCases: ['MANAGED_SERVICES'] }));
    // Assess
    expect(verdict.usable).toBe(false);
  });
});
