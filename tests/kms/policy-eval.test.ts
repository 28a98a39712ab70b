import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyUseCase } from '../../lib/databricks/types.ts';
import { KeyPolicyUnparseable } from '../../lib/kms/errors.ts';
import { databricksStatements, type PolicyStatement } from '../../lib/kms/policy.ts';
import {
  type DatabricksRequest,
  databricksActions,
  databricksDenials,
  describeDenials,
  evaluateKeyPolicyForDatabricks,
} from '../../lib/kms/policy-eval.ts';

const DATABRICKS = 'arn:aws:iam::414351767826:root';
const KEY = 'arn:aws:kms:us-east-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef';
const OTHER_KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ACCOUNT = 'acc-0d6c9a2e';
const TAG = 'aws:PrincipalTag/DatabricksAccountId';

const request = (overrides: Partial<DatabricksRequest> = {}): DatabricksRequest => ({
  databricksPrincipalArn: DATABRICKS,
  accountIds: [ACCOUNT],
  keyArn: KEY,
  useCases: ['MANAGED_SERVICES'],
  ...overrides,
});

/** The documented statements, so that only the Deny under test can make the key unusable. */
const granting = (useCases: KeyUseCase[] = ['MANAGED_SERVICES', 'STORAGE']): PolicyStatement[] => [
  {
    Sid: 'Enable IAM User Permissions',
    Effect: 'Allow',
    Principal: { AWS: 'arn:aws:iam::111122223333:root' },
    Action: 'kms:*',
    Resource: '*',
  },
  ...databricksStatements({
    useCases,
    databricksPrincipalArn: DATABRICKS,
    accountIds: [ACCOUNT],
    reuseKeyForClusterVolumes: false,
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

/** The needed actions the Deny under test denies ([] when it does not apply). */
const deniedBy = (statement: PolicyStatement, req: Partial<DatabricksRequest> = {}) =>
  databricksDenials(policyWith(statement), request(req)).flatMap((d) => d.actions);

describe('Function: evaluateKeyPolicyForDatabricks', () => {
  it('accepts the documented policy: every needed action granted, nothing denied', () => {
    const verdict = evaluateKeyPolicyForDatabricks(
      policyWith(),
      request({ useCases: ['MANAGED_SERVICES', 'STORAGE'] }),
    );
    expect(verdict.denials).toEqual([]);
    expect(verdict.ungranted).toEqual([]);
    expect(verdict.usable).toBe(true);
  });

  it('refuses a key whose policy denies kms:Decrypt to every principal', () => {
    const denials = databricksDenials(policyWith(deny()), request());
    expect(denials).toEqual([
      {
        sid: 'Deny under test',
        index: 3,
        statement: '"Deny under test"',
        actions: ['kms:Decrypt'],
        unevaluated: [],
      },
    ]);
  });

  it('lets a Deny override an Allow that grants the same action', () => {
    const verdict = evaluateKeyPolicyForDatabricks(policyWith(deny()), request());
    expect(verdict.grants.find((g) => g.action === 'kms:Decrypt')?.allowedBy).toEqual([
      '"Allow Databricks to use KMS key for managed services in the control plane"',
      '"Allow Databricks to use KMS key for DBFS"',
    ]);
    expect(verdict.ungranted).toEqual([]);
    expect(verdict.usable).toBe(false);
  });

  it('ignores a Deny that names another principal', () => {
    expect(deniedBy(deny({ Principal: { AWS: 'arn:aws:iam::999988887777:root' } }))).toEqual([]);
    expect(
      deniedBy(deny({ Principal: { AWS: ['999988887777', 'arn:aws:iam::111122223333:role/x'] } })),
    ).toEqual([]);
    expect(deniedBy(deny({ Principal: { Service: 'ec2.amazonaws.com' } }))).toEqual([]);
  });

  it('applies a Deny that names Databricks by ARN, by account id, in a list or as {"AWS": "*"}', () => {
    for (const Principal of [
      { AWS: DATABRICKS },
      { AWS: '414351767826' },
      { AWS: ['arn:aws:iam::999988887777:root', DATABRICKS] },
      { AWS: '*' },
      '*' as const,
    ]) {
      expect(deniedBy(deny({ Principal })), JSON.stringify(Principal)).toEqual(['kms:Decrypt']);
    }
  });

  it('takes a Deny naming another principal of Databricks’ account as applying, and says why', () => {
    const [denial] = databricksDenials(
      policyWith(deny({ Principal: { AWS: 'arn:aws:iam::414351767826:role/some-role' } })),
      request(),
    );
    expect(denial?.actions).toEqual(['kms:Decrypt']);
    expect(denial?.unevaluated[0]).toContain('arn:aws:iam::414351767826:role/some-role');
  });

  // IAM: NotPrincipal exempts an assumed-role session only when it lists the account, the role and the
  // session; Databricks calls from a role of its account, so listing its account root exempts nothing.
  it('applies a NotPrincipal Deny even when it lists Databricks’ account principal', () => {
    expect(
      deniedBy(deny({ Principal: undefined, NotPrincipal: { AWS: 'arn:aws:iam::111122223333:root' } })),
    ).toEqual(['kms:Decrypt']);
    expect(
      deniedBy(
        deny({ Principal: undefined, NotPrincipal: { AWS: [DATABRICKS, 'arn:aws:iam::111122223333:root'] } }),
      ),
    ).toEqual(['kms:Decrypt']);
    expect(deniedBy(deny({ Principal: undefined, NotPrincipal: { AWS: '414351767826' } }))).toEqual([
      'kms:Decrypt',
    ]);
    expect(deniedBy(deny({ Principal: undefined, NotPrincipal: { AWS: '*' } }))).toEqual([]);
  });

  it('applies a NotAction Deny to every needed action it does not list', () => {
    const notAction = deny({ Action: undefined, NotAction: ['kms:Encrypt', 'kms:Decrypt'] });
    expect(deniedBy(notAction)).toEqual([]);
    expect(deniedBy(notAction, { useCases: ['STORAGE'] })).toEqual([
      'kms:DescribeKey',
      'kms:GenerateDataKey',
      'kms:GenerateDataKeyPair',
      'kms:GenerateDataKeyPairWithoutPlaintext',
      'kms:GenerateDataKeyWithoutPlaintext',
      'kms:ReEncryptFrom',
      'kms:ReEncryptTo',
    ]);
    expect(deniedBy(deny({ Action: undefined, NotAction: 'kms:Encrypt' }))).toEqual(['kms:Decrypt']);
  });

  it('matches actions with IAM wildcards, case-insensitively', () => {
    expect(deniedBy(deny({ Action: 'kms:*' }))).toEqual(['kms:Decrypt', 'kms:Encrypt']);
    expect(deniedBy(deny({ Action: '*' }))).toEqual(['kms:Decrypt', 'kms:Encrypt']);
    expect(deniedBy(deny({ Action: 'KMS:DECRYPT' }))).toEqual(['kms:Decrypt']);
    expect(deniedBy(deny({ Action: 'kms:?ncrypt' }))).toEqual(['kms:Encrypt']);
    expect(deniedBy(deny({ Action: 'kms:Re*' }))).toEqual([]);
    expect(deniedBy(deny({ Action: 'kms:Re*' }), { useCases: ['STORAGE'] })).toEqual([
      'kms:ReEncryptFrom',
      'kms:ReEncryptTo',
    ]);
    expect(deniedBy(deny({ Action: 's3:*' }))).toEqual([]);
  });

  it('reads Action as a string or as a list', () => {
    expect(deniedBy(deny({ Action: 'kms:Encrypt' }))).toEqual(['kms:Encrypt']);
    expect(deniedBy(deny({ Action: ['kms:Encrypt', 'kms:ScheduleKeyDeletion', 'kms:Decrypt'] }))).toEqual([
      'kms:Decrypt',
      'kms:Encrypt',
    ]);
  });

  it('denies a part of a needed wildcard: kms:GenerateDataKeyWithoutPlaintext breaks STORAGE only', () => {
    const statement = deny({ Action: 'kms:GenerateDataKeyWithoutPlaintext' });
    expect(deniedBy(statement)).toEqual([]);
    expect(deniedBy(statement, { useCases: ['STORAGE'] })).toEqual(['kms:GenerateDataKeyWithoutPlaintext']);
  });

  it('ignores a Deny on another resource and applies one on this key', () => {
    expect(deniedBy(deny({ Resource: OTHER_KEY }))).toEqual([]);
    expect(deniedBy(deny({ Resource: 'arn:aws:s3:::bucket/*' }))).toEqual([]);
    expect(deniedBy(deny({ Resource: KEY }))).toEqual(['kms:Decrypt']);
    expect(deniedBy(deny({ Resource: 'arn:aws:kms:*:111122223333:key/*' }))).toEqual(['kms:Decrypt']);
    expect(
      deniedBy(deny({ Resource: ['arn:aws:s3:::bucket', 'arn:aws:kms:us-east-1:111122223333:key/5678*'] })),
    ).toEqual(['kms:Decrypt']);
  });

  it('applies a NotResource Deny unless it names this key', () => {
    expect(deniedBy(deny({ Resource: undefined, NotResource: OTHER_KEY }))).toEqual(['kms:Decrypt']);
    expect(deniedBy(deny({ Resource: undefined, NotResource: KEY }))).toEqual([]);
  });

  it('reads a policy whose Statement is a single object, as a string or parsed', () => {
    const policy = { Version: '2012-10-17', Statement: deny() };
    expect(databricksDenials(JSON.stringify(policy), request()).map((d) => d.statement)).toEqual([
      '"Deny under test"',
    ]);
    const verdict = evaluateKeyPolicyForDatabricks(policy, request());
    expect(verdict.denials.map((d) => d.index)).toEqual([0]);
    expect(verdict.ungranted).toEqual(['kms:Decrypt', 'kms:Encrypt']);
  });

  it('names a statement without a Sid by its index', () => {
    const [denial] = databricksDenials(policyWith(deny({ Sid: undefined })), request());
    expect(denial?.statement).toBe('statement at index 3');
    expect(denial?.sid).toBeUndefined();
  });

  it('refuses a policy that is not a policy', () => {
    expect(() => databricksDenials('{"Version":"2012-10-17"}', request())).toThrow(KeyPolicyUnparseable);
    expect(() => databricksDenials('not json', request())).toThrow(KeyPolicyUnparseable);
  });
});

describe('Function: evaluateKeyPolicyForDatabricks — conditions', () => {
  const withCondition = (Condition: PolicyStatement['Condition']) => deny({ Action: 'kms:*', Condition });

  it.each([
    [
      'StringNotEquals aws:PrincipalAccount 414351767826',
      { StringNotEquals: { 'aws:PrincipalAccount': '414351767826' } },
    ],
    ['StringEquals on another Databricks account id', { StringEquals: { [TAG]: 'acc-someone-else' } }],
    ['StringNotEquals on our Databricks account id', { StringNotEquals: { [TAG]: [ACCOUNT, 'acc-2'] } }],
    ['Bool aws:SecureTransport false', { Bool: { 'aws:SecureTransport': 'false' } }],
    ['StringEquals aws:SourceAccount (absent)', { StringEquals: { 'aws:SourceAccount': '111122223333' } }],
    [
      'ArnNotLike aws:PrincipalArn in Databricks’ account',
      { ArnNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:*' } },
    ],
    ['ArnEquals aws:SourceArn (absent)', { ArnEquals: { 'aws:SourceArn': 'arn:aws:s3:::b' } }],
    ['StringNotLike kms:CallerAccount 4143*', { StringNotLike: { 'kms:CallerAccount': '4143*' } }],
    ['Null aws:PrincipalArn true', { Null: { 'aws:PrincipalArn': 'true' } }],
    ['ForAnyValue:StringEquals on an absent key', { 'ForAnyValue:StringEquals': { 'aws:SourceArn': 'x' } }],
    ['StringEqualsIgnoreCase on another account id', { StringEqualsIgnoreCase: { [TAG]: 'ACC-OTHER' } }],
    [
      'an evaluable false beside an unknown key',
      { StringEquals: { 'aws:PrincipalAccount': '111122223333', 'aws:SourceIp': 'x' } },
    ],
    ['ForAllValues:StringEquals on another account id', { 'ForAllValues:StringEquals': { [TAG]: 'acc-x' } }],
    ['ForAnyValue:StringNotEquals on our account id', { 'ForAnyValue:StringNotEquals': { [TAG]: ACCOUNT } }],
    [
      'StringNotEqualsIfExists on Databricks’ account',
      { StringNotEqualsIfExists: { 'aws:PrincipalAccount': '414351767826' } },
    ],
    ['Null aws:SourceAccount false', { Null: { 'aws:SourceAccount': 'false' } }],
  ])('ignores a Deny whose condition excludes Databricks: %s', (_, condition) => {
    expect(deniedBy(withCondition(condition as PolicyStatement['Condition']))).toEqual([]);
  });

  it.each([
    [
      'StringEquals aws:PrincipalAccount 414351767826',
      { StringEquals: { 'aws:PrincipalAccount': '414351767826' } },
    ],
    ['StringEquals on our Databricks account id', { StringEquals: { [TAG]: ['acc-2', ACCOUNT] } }],
    [
      'StringNotEquals aws:PrincipalAccount of the customer',
      { StringNotEquals: { 'aws:PrincipalAccount': '111122223333' } },
    ],
    [
      'StringNotEquals aws:SourceAccount (absent)',
      { StringNotEquals: { 'aws:SourceAccount': '111122223333' } },
    ],
    [
      'StringEqualsIfExists aws:SourceAccount (absent)',
      { StringEqualsIfExists: { 'aws:SourceAccount': '1' } },
    ],
    [
      'StringLike aws:PrincipalArn arn:aws:iam::4143*',
      { StringLike: { 'aws:PrincipalArn': 'arn:aws:iam::4143*' } },
    ],
    [
      'ArnLike aws:PrincipalArn in Databricks’ account',
      { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::414351767826:*' } },
    ],
    ['Bool aws:SecureTransport true', { Bool: { 'aws:SecureTransport': true } }],
    ['Bool aws:PrincipalIsAWSService false', { Bool: { 'aws:PrincipalIsAWSService': 'false' } }],
    ['Null aws:SourceArn true', { Null: { 'aws:SourceArn': 'true' } }],
    ['ForAllValues:StringEquals on an absent key', { 'ForAllValues:StringEquals': { 'aws:SourceArn': 'x' } }],
    ['ForAnyValue:StringLike on the account tag', { 'ForAnyValue:StringLike': { [TAG]: 'acc-*' } }],
    [
      'StringEqualsIgnoreCase on the account tag',
      { StringEqualsIgnoreCase: { 'AWS:PRINCIPALTAG/DATABRICKSACCOUNTID': 'ACC-0D6C9A2E' } },
    ],
    [
      'kms:CallerAccount equal to Databricks’ account',
      { StringEquals: { 'kms:CallerAccount': ['414351767826'] } },
    ],
  ])('applies a Deny whose condition holds for Databricks: %s', (_, condition) => {
    const [denial] = databricksDenials(
      policyWith(withCondition(condition as PolicyStatement['Condition'])),
      request(),
    );
    expect(denial?.actions).toEqual(['kms:Decrypt', 'kms:Encrypt']);
    expect(denial?.unevaluated).toEqual([]);
  });

  it.each([
    [
      'an unknown key',
      { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
      'condition not evaluated: aws:SourceIp',
    ],
    [
      'an unknown operator',
      { NumericLessThan: { 'aws:PrincipalAccount': '5' } },
      'condition not evaluated: aws:PrincipalAccount (operator NumericLessThan)',
    ],
    [
      'a policy variable',
      { StringNotEquals: { [TAG]: `\${aws:PrincipalTag/other}` } },
      `condition not evaluated: ${TAG} (policy variable)`,
    ],
    [
      'another principal tag',
      { StringEquals: { 'aws:PrincipalTag/team': 'data' } },
      'condition not evaluated: aws:PrincipalTag/team',
    ],
  ])('takes a Deny whose condition cannot be evaluated as applying and says so: %s', (_, condition, note) => {
    const [denial] = databricksDenials(policyWith(withCondition(condition)), request());
    expect(denial?.actions).toEqual(['kms:Decrypt', 'kms:Encrypt']);
    expect(denial?.unevaluated).toEqual([note]);
    expect(describeDenials(denial ? [denial] : [])).toContain(`${note}; taken as applying`);
  });

  it('applies a Deny that excludes one of the Databricks account ids but not the other', () => {
    const statement = withCondition({ StringNotEquals: { [TAG]: ACCOUNT } });
    expect(deniedBy(statement)).toEqual([]);
    expect(deniedBy(statement, { accountIds: [ACCOUNT, 'acc-2'] })).toEqual(['kms:Decrypt', 'kms:Encrypt']);
  });

  it('counts an Allow as a grant only when its condition surely holds for every account id', () => {
    const allow = (Condition: PolicyStatement['Condition']): string =>
      JSON.stringify({
        Statement: [
          { Effect: 'Allow', Principal: { AWS: DATABRICKS }, Action: 'kms:*', Resource: '*', Condition },
        ],
      });
    const ungranted = (Condition: PolicyStatement['Condition'], accountIds = [ACCOUNT]) =>
      evaluateKeyPolicyForDatabricks(allow(Condition), request({ accountIds })).ungranted;
    expect(ungranted({ StringEquals: { [TAG]: ACCOUNT } })).toEqual([]);
    expect(ungranted({ StringEquals: { [TAG]: ACCOUNT } }, [ACCOUNT, 'acc-2'])).toEqual([
      'kms:Decrypt',
      'kms:Encrypt',
    ]);
    expect(ungranted({ IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } })).toEqual([
      'kms:Decrypt',
      'kms:Encrypt',
    ]);
  });
});

describe('Function: describeDenials', () => {
  it('names each statement and its actions, and how many more there are past the limit', () => {
    const denials = databricksDenials(
      policyWith(deny({ Sid: 'A' }), deny({ Sid: 'B', Action: 'kms:Encrypt' }), deny({ Sid: 'C' })),
      request(),
    );
    expect(describeDenials(denials, 2)).toBe(
      '"A" denies kms:Decrypt; "B" denies kms:Encrypt; and 1 more Deny statement(s)',
    );
  });
});

describe('Function: databricksActions', () => {
  it('takes the actions of the Databricks statements, wildcards expanded', () => {
    expect(databricksActions({ databricksPrincipalArn: DATABRICKS, useCases: ['MANAGED_SERVICES'] })).toEqual(
      ['kms:Decrypt', 'kms:Encrypt'],
    );
    expect(databricksActions({ databricksPrincipalArn: DATABRICKS, useCases: ['STORAGE'] })).toContain(
      'kms:ReEncryptTo',
    );
  });
});

describe('Property: explicit Deny', () => {
  const OTHERS = ['arn:aws:iam::999988887777:root', '111122223333', 'arn:aws:iam::111122223333:role/admin'];
  const oneOrMany = <T>(arb: fc.Arbitrary<T>) =>
    fc.oneof(
      arb,
      fc.array(arb, { minLength: 1, maxLength: 3 }).map((xs) => [...new Set(xs)]),
    );
  const anyPrincipal = fc.oneof(
    fc.constant<PolicyStatement['Principal']>('*'),
    oneOrMany(fc.constantFrom(DATABRICKS, '414351767826', 'arn:aws:iam::414351767826:role/r', ...OTHERS)).map(
      (AWS) => ({ AWS }),
    ),
    fc.constant({ Service: 'ec2.amazonaws.com' }),
  );
  const anyAction = oneOrMany(
    fc.constantFrom(
      'kms:*',
      'kms:Decrypt',
      'kms:Encrypt',
      'kms:ReEncrypt*',
      'kms:GenerateDataKey*',
      'kms:Put*',
      '*',
    ),
  );
  const anyResource = oneOrMany(fc.constantFrom('*', KEY, OTHER_KEY, 'arn:aws:kms:*:111122223333:key/*'));
  const anyCondition = fc.constantFrom<PolicyStatement['Condition']>(
    undefined,
    { StringEquals: { [TAG]: [ACCOUNT] } },
    { StringNotEquals: { 'aws:PrincipalAccount': '414351767826' } },
    { Bool: { 'aws:SecureTransport': 'false' } },
    { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
    { 'ForAnyValue:StringLike': { 'kms:ViaService': 'ec2.*.amazonaws.com' } },
  );
  const anyStatement = fc.record(
    {
      Sid: fc.string({ maxLength: 8 }),
      Effect: fc.constantFrom<'Allow' | 'Deny'>('Allow', 'Deny'),
      Principal: anyPrincipal,
      Action: anyAction,
      Resource: anyResource,
      Condition: anyCondition,
    },
    { requiredKeys: ['Effect', 'Principal', 'Action', 'Resource'] },
  ) as fc.Arbitrary<PolicyStatement>;
  const anyPolicy = fc.array(anyStatement, { maxLength: 6 });
  const anyUseCases = fc.constantFrom<KeyUseCase[]>(
    ['MANAGED_SERVICES'],
    ['STORAGE'],
    ['MANAGED_SERVICES', 'STORAGE'],
  );

  const applyingDeny = fc.record({
    Effect: fc.constant<'Deny'>('Deny'),
    Principal: fc.constantFrom<PolicyStatement['Principal']>(
      '*',
      { AWS: '*' },
      { AWS: DATABRICKS },
      { AWS: '414351767826' },
      { AWS: [OTHERS[0] as string, DATABRICKS] },
    ),
    Action: fc.constantFrom<string | string[]>(
      'kms:Decrypt',
      'kms:*',
      ['kms:Encrypt'],
      'kms:*crypt',
      'KMS:DECRYPT',
    ),
    Resource: fc.constantFrom<string | string[]>('*', KEY, ['arn:aws:kms:us-east-1:*:key/*']),
    Condition: fc.constantFrom<PolicyStatement['Condition']>(
      undefined,
      { StringEquals: { 'aws:PrincipalAccount': '414351767826' } },
      { Bool: { 'aws:SecureTransport': 'true' } },
    ),
  }) as fc.Arbitrary<PolicyStatement>;
  const otherDeny = fc.record({
    Effect: fc.constant<'Deny'>('Deny'),
    Principal: fc.oneof(
      oneOrMany(fc.constantFrom(...OTHERS)).map((AWS) => ({ AWS })),
      fc.constant({ Service: 'logs.amazonaws.com' }),
    ),
    Action: anyAction,
    Resource: anyResource,
    Condition: anyCondition,
  }) as fc.Arbitrary<PolicyStatement>;

  const evaluate = (statements: PolicyStatement[], useCases: KeyUseCase[]) =>
    evaluateKeyPolicyForDatabricks({ Version: '2012-10-17', Statement: statements }, request({ useCases }));

  it('adding an applying Deny to any policy makes it refused', () => {
    fc.assert(
      fc.property(anyPolicy, applyingDeny, anyUseCases, (statements, extra, useCases) => {
        const verdict = evaluate([...statements, extra], useCases);
        expect(verdict.usable).toBe(false);
        expect(verdict.denials.map((d) => d.index)).toContain(statements.length);
      }),
    );
  });

  it('adding a Deny for another principal never changes the verdict', () => {
    fc.assert(
      fc.property(anyPolicy, otherDeny, anyUseCases, (statements, extra, useCases) => {
        expect(evaluate([...statements, extra], useCases)).toEqual(evaluate(statements, useCases));
      }),
    );
  });

  it('a Deny never adds a grant and an Allow never adds a denial', () => {
    fc.assert(
      fc.property(anyPolicy, anyStatement, anyUseCases, (statements, extra, useCases) => {
        const before = evaluate(statements, useCases);
        const after = evaluate([...statements, extra], useCases);
        if (extra.Effect === 'Deny') expect(after.grants).toEqual(before.grants);
        else expect(after.denials).toEqual(before.denials);
      }),
    );
  });
});
