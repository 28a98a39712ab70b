import { describe, expect, it } from 'vitest';
import type { KeyUseCase } from '../../lib/databricks/types.ts';
import { databricksStatements, type PolicyStatement } from '../../lib/kms/policy.ts';
import {
  type DatabricksRequest,
  databricksDenials,
  describeDenials,
  evaluateKeyPolicyForDatabricks,
} from '../../lib/kms/policy-eval.ts';

/**
 * Who KMS sees calling: policies name Databricks by its account principal (arn:aws:iam::414351767826:root),
 * but the requests come from an IAM role (an assumed-role session) of that account whose name is not known.
 * `aws:PrincipalArn` is that role's ARN, never the root, and NotPrincipal listing the account does not exempt
 * its roles. For cluster volumes (EBS), the workspace's cross-account role calls KMS through EC2.
 */

const DATABRICKS = 'arn:aws:iam::414351767826:root';
const KEY = 'arn:aws:kms:us-east-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef';
const ACCOUNT = 'acc-0d6c9a2e';
const CROSS_ACCOUNT_ROLE = 'arn:aws:iam::111122223333:role/databricks-cross-account';

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

const granting = (useCases: KeyUseCase[] = ['MANAGED_SERVICES', 'STORAGE']): PolicyStatement[] => [
  ADMIN,
  ...databricksStatements({
    useCases,
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

const onPrincipalArn = (Condition: PolicyStatement['Condition']) => deny({ Condition });

describe('Function: evaluateKeyPolicyForDatabricks — Databricks calls from a role of its account', () => {
  it.each([
    [
      'ArnNotEquals aws:PrincipalArn [admin, Databricks root]',
      {
        ArnNotEquals: {
          'aws:PrincipalArn': ['arn:aws:iam::111122223333:role/Admin', DATABRICKS],
        },
      },
    ],
    [
      'StringNotEquals aws:PrincipalArn Databricks root',
      { StringNotEquals: { 'aws:PrincipalArn': DATABRICKS } },
    ],
    [
      'StringNotLike aws:PrincipalArn [Databricks root, admins]',
      { StringNotLike: { 'aws:PrincipalArn': [DATABRICKS, 'arn:aws:iam::111122223333:role/*'] } },
    ],
    [
      'StringLike aws:PrincipalArn Databricks’ roles',
      { StringLike: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:role/*' } },
    ],
    [
      'ArnLike aws:PrincipalArn any role of any account',
      { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/*' } },
    ],
    [
      'StringLike aws:PrincipalArn role/?* (one character and more)',
      { StringLike: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:role/?*' } },
    ],
    [
      'ForAnyValue:StringNotEquals aws:PrincipalArn Databricks root',
      { 'ForAnyValue:StringNotEquals': { 'aws:PrincipalArn': DATABRICKS } },
    ],
    ['Null aws:PrincipalArn false (it is present)', { Null: { 'aws:PrincipalArn': 'false' } }],
  ])('certainly applies a Deny whose condition holds for every role of Databricks’ account: %s', (_, c) => {
    const [denial, ...more] = databricksDenials(policyWith(onPrincipalArn(c)), request());
    expect(more).toEqual([]);
    expect(denial?.actions).toEqual(['kms:Decrypt']);
    expect(denial?.unevaluated).toEqual([]);
  });

  it.each([
    [
      'ArnNotLike aws:PrincipalArn Databricks’ roles',
      { ArnNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:role/*' } },
    ],
    [
      'StringNotLike aws:PrincipalArn Databricks’ account',
      { StringNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:*' } },
    ],
    [
      'StringEquals aws:PrincipalArn Databricks root (the root never calls)',
      { StringEquals: { 'aws:PrincipalArn': DATABRICKS } },
    ],
    ['ArnEquals aws:PrincipalArn Databricks root', { ArnEquals: { 'aws:PrincipalArn': DATABRICKS } }],
    [
      'ArnLike aws:PrincipalArn users of Databricks’ account',
      { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:user/*' } },
    ],
    [
      'ArnLike aws:PrincipalArn roles of another account',
      { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::999988887777:role/*' } },
    ],
    [
      'StringLike aws:PrincipalArn exactly the role/ prefix (a role has a name)',
      { StringLike: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:role/' } },
    ],
    ['Null aws:PrincipalArn true', { Null: { 'aws:PrincipalArn': 'true' } }],
  ])('ignores a Deny whose condition holds for no role of Databricks’ account: %s', (_, c) => {
    expect(databricksDenials(policyWith(onPrincipalArn(c)), request())).toEqual([]);
  });

  it.each([
    [
      'StringEquals aws:PrincipalArn a named Databricks role',
      { StringEquals: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:role/some-role' } },
    ],
    [
      'StringNotEquals aws:PrincipalArn a named Databricks role',
      { StringNotEquals: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:role/some-role' } },
    ],
    [
      'ArnLike aws:PrincipalArn some Databricks roles',
      { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:role/prod-*' } },
    ],
    [
      'ArnNotLike aws:PrincipalArn some Databricks roles',
      { ArnNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:role/??*' } },
    ],
    [
      'StringEqualsIgnoreCase aws:PrincipalArn a named Databricks role',
      { StringEqualsIgnoreCase: { 'aws:PrincipalArn': 'ARN:AWS:IAM::414351767826:ROLE/X' } },
    ],
  ])('takes a Deny that may hold for the calling role as applying, and says why: %s', (_, c) => {
    const [denial] = databricksDenials(policyWith(onPrincipalArn(c)), request());
    expect(denial?.actions).toEqual(['kms:Decrypt']);
    expect(denial?.unevaluated).toEqual([
      'condition not evaluated: aws:PrincipalArn (Databricks calls from a role of account 414351767826 whose name is not known)',
    ]);
  });

  it.each([
    ['a star that must match an account', { StringLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/*' } }],
    ['a `?` inside the account', { StringLike: { 'aws:PrincipalArn': 'arn:aws:iam::41435176782?:role/*' } }],
    ['an empty-matching star', { StringLike: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:*role/*' } }],
    [
      'ForAllValues:ArnLike',
      { 'ForAllValues:ArnLike': { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:*' } },
    ],
  ])('matches a glob against every role of the account: %s', (_, c) => {
    expect(databricksDenials(policyWith(onPrincipalArn(c)), request())[0]?.unevaluated).toEqual([]);
  });

  it.each([
    [
      'StringEquals the bare role/ prefix',
      { StringEquals: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:role/' } },
    ],
    [
      'StringEquals a role of another account',
      { StringEquals: { 'aws:PrincipalArn': 'arn:aws:iam::999988887777:role/r' } },
    ],
    [
      'ArnLike with another partition’s case',
      { ArnLike: { 'aws:PrincipalArn': 'arn:AWS:iam::414351767826:role/*' } },
    ],
    ['ArnLike a malformed ARN', { ArnLike: { 'aws:PrincipalArn': 'role/*' } }],
    [
      'ForAllValues:StringEquals a named role of another account',
      { 'ForAllValues:StringEquals': { 'aws:PrincipalArn': 'arn:aws:iam::999988887777:role/x' } },
    ],
  ])('knows a condition holds for no role of the account: %s', (_, c) => {
    expect(databricksDenials(policyWith(onPrincipalArn(c)), request())).toEqual([]);
  });

  it('takes ForAllValues over the unknown role as maybe, as the plain operator', () => {
    const [denial] = databricksDenials(
      policyWith(
        onPrincipalArn({
          'ForAllValues:StringEquals': { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:role/x' },
        }),
      ),
      request(),
    );
    expect(denial?.unevaluated[0]).toContain('aws:PrincipalArn (Databricks calls from a role');
  });

  it('knows nothing of a principal setting whose account cannot be read: only `*` surely names it', () => {
    const odd = request({ databricksPrincipalArn: 'arn:aws:iam::databricks' });
    expect(databricksDenials(policyWith(deny()), odd)[0]?.unevaluated).toEqual([]);
    expect(
      databricksDenials(policyWith(deny({ Principal: { AWS: '414351767826' } })), odd)[0]?.unevaluated,
    ).toEqual(['principal 414351767826: the account of Databricks is not known']);
    expect(
      databricksDenials(
        policyWith(onPrincipalArn({ ArnNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/*' } })),
        odd,
      )[0]?.unevaluated,
    ).toEqual(['condition not evaluated: aws:PrincipalArn']);
    expect(
      databricksDenials(
        policyWith(onPrincipalArn({ StringEquals: { 'aws:PrincipalAccount': '414351767826' } })),
        odd,
      )[0]?.unevaluated,
    ).toEqual(['condition not evaluated: aws:PrincipalAccount']);
  });

  it('counts an Allow conditioned on aws:PrincipalArn as a grant only when every role of the account meets it', () => {
    const allow = (Condition: PolicyStatement['Condition']) =>
      evaluateKeyPolicyForDatabricks(
        JSON.stringify({
          Statement: [
            ADMIN,
            { Effect: 'Allow', Principal: { AWS: DATABRICKS }, Action: 'kms:*', Resource: '*', Condition },
          ],
        }),
        request(),
      ).ungranted;
    expect(allow({ ArnEquals: { 'aws:PrincipalArn': DATABRICKS } })).toEqual(['kms:Decrypt', 'kms:Encrypt']);
    expect(
      allow({ StringEquals: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:role/some-role' } }),
    ).toEqual(['kms:Decrypt', 'kms:Encrypt']);
    expect(allow({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:role/*' } })).toEqual([]);
    expect(allow({ ArnNotEquals: { 'aws:PrincipalArn': DATABRICKS } })).toEqual([]);
  });

  it('applies a NotPrincipal Deny listing the account and a role, and may apply one that also lists a session', () => {
    const role = 'arn:aws:iam::414351767826:role/databricks';
    const session = 'arn:aws:sts::414351767826:assumed-role/databricks/s1';
    const withoutSession = databricksDenials(
      policyWith(deny({ Principal: undefined, NotPrincipal: { AWS: [DATABRICKS, role] } })),
      request(),
    );
    expect(withoutSession.map((d) => [d.actions, d.unevaluated])).toEqual([[['kms:Decrypt'], []]]);
    const [withSession] = databricksDenials(
      policyWith(deny({ Principal: undefined, NotPrincipal: { AWS: ['414351767826', role, session] } })),
      request(),
    );
    expect(withSession?.actions).toEqual(['kms:Decrypt']);
    expect(withSession?.unevaluated[0]).toContain('whether the calling session is among them is not known');
  });

  it.each([
    ['the account and a role, no session', [DATABRICKS, 'arn:aws:iam::414351767826:role/databricks']],
    [
      'a role and a session, not the account',
      ['arn:aws:iam::414351767826:role/d', 'arn:aws:sts::414351767826:assumed-role/d/s'],
    ],
    ['the account and a session, no role', ['414351767826', 'arn:aws:sts::414351767826:assumed-role/d/s']],
    [
      'the account, and a role and session of another account',
      [DATABRICKS, 'arn:aws:iam::999988887777:role/d', 'arn:aws:sts::999988887777:assumed-role/d/s'],
    ],
    [
      'the account, a role and a session of another partition',
      [DATABRICKS, 'arn:aws-cn:iam::414351767826:role/d', 'arn:aws-cn:sts::414351767826:assumed-role/d/s'],
    ],
  ])('certainly applies a NotPrincipal Deny that cannot exempt the calling session: %s', (_, AWS) => {
    const [denial] = databricksDenials(
      policyWith(deny({ Principal: undefined, NotPrincipal: { AWS } })),
      request(),
    );
    expect(denial?.actions).toEqual(['kms:Decrypt']);
    expect(denial?.unevaluated).toEqual([]);
  });

  it('judges NotPrincipal for a known role: only its own sessions may exempt it', () => {
    const role = 'arn:aws:iam::414351767826:role/databricks';
    const asRole = request({ databricksPrincipalArn: role });
    const notes = (AWS: string[]) =>
      databricksDenials(policyWith(deny({ Principal: undefined, NotPrincipal: { AWS } })), asRole)[0]
        ?.unevaluated;
    expect(notes([DATABRICKS, role, 'arn:aws:sts::414351767826:assumed-role/databricks/s'])).toHaveLength(1);
    expect(notes([DATABRICKS, role, 'arn:aws:sts::414351767826:assumed-role/other/s'])).toEqual([]);
    expect(
      notes([
        DATABRICKS,
        'arn:aws:iam::414351767826:role/other',
        'arn:aws:sts::414351767826:assumed-role/databricks/s',
      ]),
    ).toEqual([]);
    expect(notes(['arn:aws:iam::414351767826:role/x/databricks', role])).toEqual([]);
    expect(
      databricksDenials(policyWith(deny({ Principal: undefined, NotPrincipal: '*' as never })), asRole),
    ).toEqual([]);
  });

  it('compares a known role’s ARN part by part', () => {
    const asRole = request({ databricksPrincipalArn: 'arn:aws:iam::414351767826:role/databricks' });
    const denied = (Condition: PolicyStatement['Condition']) =>
      databricksDenials(policyWith(onPrincipalArn(Condition)), asRole).length;
    expect(denied({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::999988887777:role/databricks' } })).toBe(0);
    expect(denied({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/databricks' } })).toBe(1);
    expect(denied({ ArnLike: { 'aws:PrincipalArn': 'not-an-arn' } })).toBe(0);
  });

  it('compares aws:PrincipalArn exactly when the Databricks principal setting is a role', () => {
    const role = 'arn:aws:iam::414351767826:role/databricks';
    const asRole = request({ databricksPrincipalArn: role });
    expect(
      databricksDenials(policyWith(onPrincipalArn({ ArnNotEquals: { 'aws:PrincipalArn': role } })), asRole),
    ).toEqual([]);
    expect(
      databricksDenials(policyWith(onPrincipalArn({ StringEquals: { 'aws:PrincipalArn': role } })), asRole)[0]
        ?.unevaluated,
    ).toEqual([]);
    expect(
      databricksDenials(
        policyWith(deny({ Principal: { AWS: 'arn:aws:iam::414351767826:role/other' } })),
        asRole,
      ),
    ).toEqual([]);
    expect(
      databricksDenials(
        policyWith(deny({ Principal: { AWS: 'arn:aws:sts::414351767826:assumed-role/databricks/s' } })),
        asRole,
      )[0]?.unevaluated,
    ).toEqual([
      `principal arn:aws:sts::414351767826:assumed-role/databricks/s is a session of ${role}; which session calls is not known`,
    ]);
  });
});

describe('Function: evaluateKeyPolicyForDatabricks — cluster volumes (EBS)', () => {
  const storage = (clusterVolumes: DatabricksRequest['clusterVolumes'] = { roleArn: CROSS_ACCOUNT_ROLE }) =>
    request({ useCases: ['STORAGE'], clusterVolumes });
  const ebsDenied = (statement: PolicyStatement, req = storage()) =>
    databricksDenials(policyWith(statement), req).map((d) => d.clusterVolumeActions ?? []);

  it('accepts the documented policy with the EBS statement', () => {
    expect(evaluateKeyPolicyForDatabricks(policyWith(), storage()).usable).toBe(true);
  });

  it('refuses a key whose policy denies kms:CreateGrant to every principal, naming the role’s path', () => {
    const denials = databricksDenials(
      policyWith(deny({ Sid: 'No grants', Action: 'kms:CreateGrant' })),
      storage(),
    );
    expect(denials).toEqual([
      {
        sid: 'No grants',
        index: 4,
        statement: '"No grants"',
        actions: [],
        clusterVolumeActions: ['kms:CreateGrant'],
        unevaluated: [],
      },
    ]);
    expect(describeDenials(denials)).toBe(
      `"No grants" denies the workspace's cross-account role kms:CreateGrant for cluster volumes (EBS)`,
    );
  });

  it('names both paths when one Deny breaks both', () => {
    const [denial] = databricksDenials(policyWith(deny({ Action: ['kms:Decrypt'] })), storage());
    expect(denial?.actions).toEqual(['kms:Decrypt']);
    expect(denial?.clusterVolumeActions).toEqual(['kms:Decrypt']);
    expect(describeDenials(denial ? [denial] : [])).toBe(
      `"Deny under test" denies kms:Decrypt and the workspace's cross-account role kms:Decrypt for cluster volumes (EBS)`,
    );
  });

  it('evaluates the EBS path only for STORAGE with clusterVolumes', () => {
    const statement = deny({ Action: 'kms:CreateGrant' });
    expect(ebsDenied(statement, request({ useCases: ['STORAGE'] }))).toEqual([]);
    expect(ebsDenied(statement, request({ clusterVolumes: { roleArn: CROSS_ACCOUNT_ROLE } }))).toEqual([]);
    expect(ebsDenied(statement)).toEqual([['kms:CreateGrant']]);
  });

  it.each([
    ['the role itself', { Principal: { AWS: CROSS_ACCOUNT_ROLE } }],
    ['the key’s account', { Principal: { AWS: 'arn:aws:iam::111122223333:root' } }],
    [
      'NotPrincipal naming only the key’s account',
      { Principal: undefined, NotPrincipal: { AWS: '111122223333' } },
    ],
    [
      'kms:ViaService of another region',
      { Condition: { StringNotEquals: { 'kms:ViaService': 'ec2.eu-west-1.amazonaws.com' } } },
    ],
    [
      'kms:ViaService EC2 of this region',
      { Condition: { StringEquals: { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' } } },
    ],
    ['a grant for an AWS resource', { Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } }],
    [
      'aws:PrincipalAccount the key’s account',
      { Condition: { StringEquals: { 'aws:PrincipalAccount': '111122223333' } } },
    ],
  ])('applies a Deny on kms:CreateGrant for the cross-account role: %s', (_, overrides) => {
    expect(ebsDenied(deny({ Action: 'kms:CreateGrant', ...overrides }))).toEqual([['kms:CreateGrant']]);
  });

  it.each([
    ['another role of the key’s account', { Principal: { AWS: 'arn:aws:iam::111122223333:role/Intern' } }],
    ['Databricks’ account', { Principal: { AWS: DATABRICKS } }],
    ['not through EC2', { Condition: { StringNotLike: { 'kms:ViaService': 'ec2.*.amazonaws.com' } } }],
    ['grants not for an AWS resource', { Condition: { Bool: { 'kms:GrantIsForAWSResource': 'false' } } }],
    ['another account', { Condition: { StringNotEquals: { 'aws:PrincipalAccount': '111122223333' } } }],
    [
      'other principals than the role',
      { Condition: { ArnNotEquals: { 'aws:PrincipalArn': CROSS_ACCOUNT_ROLE } } },
    ],
  ])('ignores a Deny that does not apply to the cross-account role through EC2: %s', (_, overrides) => {
    expect(ebsDenied(deny({ Action: 'kms:CreateGrant', ...overrides }))).toEqual([]);
  });

  it('knows kms:GrantIsForAWSResource only for kms:CreateGrant: absent for the other EBS actions', () => {
    const statement = deny({
      Action: ['kms:Decrypt', 'kms:CreateGrant'],
      Principal: { AWS: CROSS_ACCOUNT_ROLE },
      Condition: { Null: { 'kms:GrantIsForAWSResource': 'true' } },
    });
    expect(ebsDenied(statement)).toEqual([['kms:Decrypt']]);
  });

  it('evaluates only the EBS statement’s actions for the role', () => {
    const statement = deny({ Action: ['kms:Encrypt', 'kms:ReEncrypt*', 'kms:DescribeKey'] });
    expect(ebsDenied(statement)).toEqual([['kms:DescribeKey']]);
    const [denial] = databricksDenials(policyWith(deny({ Action: 'kms:GenerateDataKey*' })), storage());
    expect(describeDenials(denial ? [denial] : [])).toContain(
      "the workspace's cross-account role kms:GenerateDataKey, kms:GenerateDataKeyPair, kms:GenerateDataKeyPairWithoutPlaintext, kms:GenerateDataKeyWithoutPlaintext for cluster volumes (EBS)",
    );
  });

  it('knows the EBS request is made through an AWS service, and that only CreateGrant is for an AWS resource', () => {
    const only = (Condition: PolicyStatement['Condition']) =>
      databricksDenials(
        policyWith(
          deny({
            Principal: { AWS: CROSS_ACCOUNT_ROLE },
            Action: ['kms:Decrypt', 'kms:CreateGrant'],
            Condition,
          }),
        ),
        storage(),
      ).map((d) => [d.clusterVolumeActions, d.unevaluated]);
    expect(only({ Bool: { 'aws:ViaAWSService': 'false' } })).toEqual([]);
    expect(only({ Bool: { 'aws:ViaAWSService': 'true' } })).toEqual([
      [['kms:CreateGrant', 'kms:Decrypt'], []],
    ]);
    expect(only({ Null: { 'kms:GrantIsForAWSResource': 'true' } })).toEqual([[['kms:Decrypt'], []]]);
    expect(only({ Bool: { 'kms:GrantIsForAWSResource': 'true' } })).toEqual([[['kms:CreateGrant'], []]]);
  });

  it('without the role, takes a Deny naming a role of the key’s account as applying and says why', () => {
    const [denial] = databricksDenials(
      policyWith(
        deny({ Action: 'kms:CreateGrant', Principal: { AWS: 'arn:aws:iam::111122223333:role/Intern' } }),
      ),
      storage({}),
    );
    expect(denial?.clusterVolumeActions).toEqual(['kms:CreateGrant']);
    expect(denial?.unevaluated[0]).toContain("the workspace's cross-account role's AWS account 111122223333");
    expect(
      ebsDenied(deny({ Action: 'kms:CreateGrant', Principal: { AWS: DATABRICKS } }), storage({})),
    ).toEqual([]);
  });
});
