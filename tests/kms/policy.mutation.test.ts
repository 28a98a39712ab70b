import { describe, expect, it } from 'vitest';
import { InvalidInput } from '../../lib/errors.ts';
import { KeyPolicyTooLarge, KeyPolicyUnparseable } from '../../lib/kms/errors.ts';
import {
  type DatabricksGrant,
  databricksStatements,
  EBS_SID,
  KEY_POLICY_MAX_BYTES,
  MANAGED_SERVICES_SID,
  mergeDatabricksStatements,
  missingDatabricksGrants,
  type PolicyStatement,
} from '../../lib/kms/policy.ts';

/**
 * Key policy behaviour found by mutation testing (`npm run mutation`): which existing statements count as
 * granting Databricks, which one receives a merged account id, and the exact 32 KB boundary.
 */

const DATABRICKS = 'arn:aws:iam::414351767826:root';
const ROLE = 'arn:aws:iam::111122223333:role/databricks-cross-account';
const TAG = 'aws:PrincipalTag/DatabricksAccountId';
const ROOT: PolicyStatement = {
  Sid: 'Enable IAM User Permissions',
  Effect: 'Allow',
  Principal: { AWS: 'arn:aws:iam::111122223333:root' },
  Action: 'kms:*',
  Resource: '*',
};

const grant = (over: Partial<DatabricksGrant> = {}): DatabricksGrant => ({
  useCases: ['MANAGED_SERVICES'],
  databricksPrincipalArn: DATABRICKS,
  accountIds: ['acc-1'],
  reuseKeyForClusterVolumes: true,
  ...over,
});
const storageGrant = () => grant({ useCases: ['STORAGE'], ebsRoleArn: ROLE });
const policyOf = (statement: unknown) =>
  JSON.stringify({ Version: '2012-10-17', Statement: statement }, null, 2);
const statementsOf = (text: string) => JSON.parse(text).Statement as PolicyStatement[];

/** The managed-services statement Databricks documents, for the given account ids, with overrides. */
const managed = (over: Partial<PolicyStatement> = {}, ids: string[] = ['acc-1']): PolicyStatement => ({
  Sid: MANAGED_SERVICES_SID,
  Effect: 'Allow',
  Principal: { AWS: DATABRICKS },
  Action: ['kms:Encrypt', 'kms:Decrypt'],
  Resource: '*',
  Condition: { StringEquals: { [TAG]: ids } },
  ...over,
});

/** The EBS statement Databricks documents, with overrides. */
const ebs = (over: Partial<PolicyStatement> = {}): PolicyStatement => ({
  Sid: EBS_SID,
  Effect: 'Allow',
  Principal: { AWS: ROLE },
  Action: ['kms:Decrypt', 'kms:GenerateDataKey*', 'kms:CreateGrant', 'kms:DescribeKey'],
  Resource: '*',
  Condition: { 'ForAnyValue:StringLike': { 'kms:ViaService': 'ec2.*.amazonaws.com' } },
  ...over,
});

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('databricksStatements: what Databricks documents', () => {
  it('uses the Sids of Databricks’ documentation, so statements written by hand or by Terraform are found', () => {
    // Act
    const sids = databricksStatements(
      grant({ useCases: ['MANAGED_SERVICES', 'STORAGE'], ebsRoleArn: ROLE }),
    ).map((s) => s.Sid);
    // Assess
    expect(sids).toEqual([
      'Allow Databricks to use KMS key for managed services in the control plane',
      'Allow Databricks to use KMS key for DBFS',
      'Allow Databricks to use KMS key for EBS',
    ]);
  });

  it('names the field of a wildcard Databricks principal in the refusal', () => {
    // Act
    const error = thrown(() =>
      databricksStatements(grant({ databricksPrincipalArn: 'arn:aws:iam::*:root' })),
    );
    // Assess
    expect(error).toBeInstanceOf(InvalidInput);
    expect(error.message).toBe(
      'the Databricks key policy grant\'s databricksPrincipalArn "arn:aws:iam::*:root" is not a principal ARN without wildcards; the product never grants "*"',
    );
    expect((error as InvalidInput).details).toEqual({ field: 'databricksPrincipalArn' });
  });

  it('refuses a Databricks principal that is not an ARN', () => {
    // Act & Assess
    expect(() => databricksStatements(grant({ databricksPrincipalArn: '414351767826' }))).toThrow(
      InvalidInput,
    );
  });

  it('names the field of a wildcard EBS role in the refusal', () => {
    // Act
    const error = thrown(() =>
      databricksStatements(grant({ useCases: ['STORAGE'], ebsRoleArn: 'arn:aws:iam::111122223333:role/*' })),
    );
    // Assess
    expect(error).toBeInstanceOf(InvalidInput);
    expect(error.message).toContain('ebsRoleArn "arn:aws:iam::111122223333:role/*"');
    expect((error as InvalidInput).details).toEqual({ field: 'ebsRoleArn' });
  });

  it('names the accountIds field when the grant has no account id', () => {
    // Act
    const error = thrown(() => databricksStatements(grant({ accountIds: [] })));
    // Assess
    expect((error as InvalidInput).details).toEqual({ field: 'accountIds' });
  });
});

describe('mergeDatabricksStatements: what counts as an existing grant', () => {
  it.each<[string, Partial<PolicyStatement>]>([
    ['a Deny for Databricks', { Effect: 'Deny' }],
    ['a statement with NotPrincipal', { NotPrincipal: { AWS: ROLE } }],
    ['a statement with NotAction', { NotAction: 'kms:Sign' }],
    ['a statement with NotResource', { NotResource: 'arn:aws:kms:us-east-1:111122223333:key/other' }],
    ['a statement for another principal', { Principal: { AWS: 'arn:aws:iam::999999999999:root' } }],
    [
      'a statement for Databricks and a service',
      { Principal: { AWS: DATABRICKS, Service: 'ec2.amazonaws.com' } },
    ],
    ['a statement for the "*" principal', { Principal: '*' }],
    ['a statement with an empty principal list', { Principal: { AWS: [] } }],
    ['a statement that allows only kms:Encrypt', { Action: 'kms:Encrypt' }],
    ['a statement on another resource only', { Resource: 'arn:aws:kms:us-east-1:111122223333:key/other' }],
    ['a statement whose actions hold regex characters', { Action: ['kms:(Encrypt)', 'kms:(Decrypt)'] }],
    [
      'a statement conditioned on another key',
      { Condition: { StringEquals: { 'aws:SourceAccount': ['acc-1'] } } },
    ],
    ['a statement whose condition block is null', { Condition: { StringEquals: null as never } }],
    [
      'a statement whose StringEquals also restricts another key',
      { Condition: { StringEquals: { [TAG]: ['acc-1'], 'aws:SourceAccount': '111122223333' } } },
    ],
  ])('adds its own statement next to %s, leaving it untouched', (_, over) => {
    // Prepare
    const existing = managed({ Sid: 'Existing', ...over });
    const text = policyOf([ROOT, existing]);
    // Act
    const result = mergeDatabricksStatements(text, grant());
    // Assess
    expect(result).toMatchObject({ changed: true, added: [MANAGED_SERVICES_SID], merged: [] });
    expect(statementsOf(result.policy)).toEqual([ROOT, existing, databricksStatements(grant())[0]]);
    expect(missingDatabricksGrants(text, grant())).toHaveLength(1);
  });

  it.each<[string, Partial<PolicyStatement>]>([
    ['the ? wildcard', { Action: ['kms:?ncrypt', 'kms:?ecrypt'] }],
    ['other letter case', { Action: ['KMS:encrypt', 'KMS:DECRYPT'] }],
    ['a bare account id for Databricks', { Principal: { AWS: '414351767826' } }],
    ['non-string entries it ignores', { Action: [42, 'kms:Encrypt', 'kms:Decrypt'] as never }],
  ])('recognises a grant written with %s', (_, over) => {
    // Prepare
    const text = policyOf([ROOT, managed(over)]);
    // Act
    const result = mergeDatabricksStatements(text, grant());
    // Assess
    expect(result).toMatchObject({ policy: text, changed: false });
    expect(missingDatabricksGrants(text, grant())).toEqual([]);
  });

  it('recognises a bare Databricks account id in the partition of the Databricks principal', () => {
    // Prepare
    const gov = 'arn:aws-us-gov:iam::414351767826:root';
    const text = policyOf([ROOT, managed({ Principal: { AWS: ['414351767826'] } })]);
    // Act
    const result = mergeDatabricksStatements(text, grant({ databricksPrincipalArn: gov }));
    // Assess
    expect(result.changed).toBe(false);
  });

  it('adds its own statement when the Databricks principal has no partition', () => {
    // Prepare
    const odd = grant({ databricksPrincipalArn: 'arn:databricks' });
    // Act
    const result = mergeDatabricksStatements(policyOf([ROOT]), odd);
    // Assess
    expect(result.added).toEqual([MANAGED_SERVICES_SID]);
  });

  it('numbers its Sid past every Sid already taken', () => {
    // Prepare
    const text = policyOf([
      managed({ Effect: 'Deny' }),
      managed({ Sid: `${MANAGED_SERVICES_SID} 2`, Effect: 'Deny' }),
    ]);
    // Act
    const result = mergeDatabricksStatements(text, grant());
    // Assess
    expect(result.added).toEqual([`${MANAGED_SERVICES_SID} 3`]);
  });
});

describe('mergeDatabricksStatements: which statement receives a missing account id', () => {
  it('changes nothing when a statement under another Sid already lists every account id', () => {
    // Prepare
    const partial = managed({}, ['acc-1']);
    const complete = managed({ Sid: 'Databricks (Terraform)' }, ['acc-1', 'acc-2']);
    const text = policyOf([ROOT, partial, complete]);
    // Act
    const result = mergeDatabricksStatements(text, grant({ accountIds: ['acc-1', 'acc-2'] }));
    // Assess
    expect(result).toMatchObject({ policy: text, changed: false, merged: [] });
  });

  it('merges into the statement with the documented Sid rather than an earlier one found by content', () => {
    // Prepare
    const other = managed({ Sid: 'Databricks (Terraform)' }, ['acc-1']);
    const documented = managed({}, ['acc-1']);
    const text = policyOf([ROOT, other, documented]);
    // Act
    const result = mergeDatabricksStatements(text, grant({ accountIds: ['acc-1', 'acc-2'] }));
    // Assess
    expect(result.merged).toEqual([MANAGED_SERVICES_SID]);
    expect(statementsOf(result.policy)).toEqual([ROOT, other, managed({}, ['acc-1', 'acc-2'])]);
  });

  it('merges into the documented Sid rather than a later statement found by content', () => {
    // Prepare
    const documented = managed({}, ['acc-1']);
    const other = managed({ Sid: 'Databricks (Terraform)' }, ['acc-1']);
    const text = policyOf([ROOT, documented, other]);
    // Act
    const result = mergeDatabricksStatements(text, grant({ accountIds: ['acc-1', 'acc-2'] }));
    // Assess
    expect(result.merged).toEqual([MANAGED_SERVICES_SID]);
  });

  it('merges into the first of two equally good statements of its own', () => {
    // Prepare
    const first = managed({ Sid: `${MANAGED_SERVICES_SID} 2` }, ['acc-1']);
    const second = managed({ Sid: `${MANAGED_SERVICES_SID} 3` }, ['acc-1']);
    const text = policyOf([ROOT, first, second]);
    // Act
    const result = mergeDatabricksStatements(text, grant({ accountIds: ['acc-1', 'acc-2'] }));
    // Assess
    expect(result.merged).toEqual([`${MANAGED_SERVICES_SID} 2`]);
    expect(statementsOf(result.policy)[2]).toEqual(second);
  });

  it('names every missing account id of a statement', () => {
    // Prepare
    const text = policyOf([ROOT, managed()]);
    // Act
    const missing = missingDatabricksGrants(text, grant({ accountIds: ['acc-1', 'acc-2', 'acc-3'] }));
    // Assess
    expect(missing).toEqual([
      `Databricks account id(s) acc-2, acc-3 in the ${TAG} condition of "${MANAGED_SERVICES_SID}"`,
    ]);
  });
});

describe('mergeDatabricksStatements: the EBS statement', () => {
  it.each<[string, Partial<PolicyStatement>]>([
    ['no condition at all', { Condition: undefined }],
    [
      'a plain StringLike condition',
      { Condition: { StringLike: { 'kms:ViaService': 'ec2.*.amazonaws.com' } } },
    ],
    [
      'the condition key in other letter case',
      { Condition: { 'ForAnyValue:StringLike': { 'KMS:ViaService': ['ec2.*.amazonaws.com'] } } },
    ],
  ])('recognises an existing EBS grant with %s', (_, over) => {
    // Prepare
    const [dbfs] = databricksStatements(storageGrant());
    const text = policyOf([ROOT, dbfs, ebs(over)]);
    // Act
    const result = mergeDatabricksStatements(text, storageGrant());
    // Assess
    expect(result).toMatchObject({ policy: text, changed: false });
  });

  it.each<[string, PolicyStatement['Condition']]>([
    ['a StringEquals condition', { StringEquals: { 'kms:ViaService': 'ec2.*.amazonaws.com' } }],
    [
      'a ForAllValues:StringLike condition',
      { 'ForAllValues:StringLike': { 'kms:ViaService': 'ec2.*.amazonaws.com' } },
    ],
    ['a StringLikeIfExists condition', { StringLikeIfExists: { 'kms:ViaService': 'ec2.*.amazonaws.com' } }],
    ['a condition on another key', { StringLike: { 'kms:CallerAccount': 'ec2.*.amazonaws.com' } }],
    [
      'a second condition key',
      { StringLike: { 'kms:ViaService': 'ec2.*.amazonaws.com', 'kms:CallerAccount': '111122223333' } },
    ],
    [
      'a second condition operator',
      {
        StringLike: { 'kms:ViaService': 'ec2.*.amazonaws.com' },
        Bool: { 'kms:GrantIsForAWSResource': 'true' },
      },
    ],
    ['another service', { StringLike: { 'kms:ViaService': 's3.*.amazonaws.com' } }],
    ['a condition block that is not an object', { StringLike: 'ec2.*.amazonaws.com' as never }],
  ])('adds its own EBS statement next to one with %s', (_, condition) => {
    // Prepare
    const [dbfs] = databricksStatements(storageGrant());
    const existing = ebs({ Sid: 'Existing EBS', Condition: condition });
    const text = policyOf([ROOT, dbfs, existing]);
    // Act
    const result = mergeDatabricksStatements(text, storageGrant());
    // Assess
    expect(result.added).toEqual([EBS_SID]);
    expect(statementsOf(result.policy).slice(0, 3)).toEqual([ROOT, dbfs, existing]);
  });
});

describe('parsePolicy: what is refused', () => {
  it('refuses text that is not JSON, keeping the parser error as the cause', () => {
    // Act
    const error = thrown(() => mergeDatabricksStatements('{"Statement": [', grant()));
    // Assess
    expect(error).toBeInstanceOf(KeyPolicyUnparseable);
    expect(error.message).toBe(
      'the key policy is not valid JSON; it is left untouched: fix it in the KMS console and re-run',
    );
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it.each([
    ['null', 'null'],
    ['an array', '[{"Statement": []}]'],
  ])('refuses JSON %s as not an object', (_, text) => {
    // Act
    const error = thrown(() => mergeDatabricksStatements(text, grant()));
    // Assess
    expect(error).toBeInstanceOf(KeyPolicyUnparseable);
    expect(error.message).toBe(
      'the key policy is not a JSON object; it is left untouched: fix it and re-run',
    );
  });

  it('refuses a Statement list holding something other than objects', () => {
    // Act
    const error = thrown(() => missingDatabricksGrants('{"Statement": [{}, 7]}', grant()));
    // Assess
    expect(error).toBeInstanceOf(KeyPolicyUnparseable);
    expect(error.message).toBe(
      'the key policy has no Statement list of objects; it is left untouched: fix it and re-run',
    );
  });
});

describe('mergeDatabricksStatements: the 32 KB limit', () => {
  /** A policy whose merge result is exactly `KEY_POLICY_MAX_BYTES` in the chosen form. */
  function policyMergingTo(form: 'indented' | 'compact'): string {
    const make = (n: number) =>
      JSON.stringify({
        Version: '2012-10-17',
        // Many small statements make the indentation weigh: the indented result is far over the limit.
        Statement: [
          ROOT,
          ...Array.from({ length: form === 'compact' ? 200 : 0 }, (_, i) => ({ ...ROOT, Sid: `S${i}` })),
          { ...ROOT, Sid: 'x'.repeat(n) },
        ],
      });
    const size = (n: number) => {
      const next = JSON.parse(mergeDatabricksStatements(make(n), grant()).policy);
      return Buffer.byteLength(form === 'compact' ? JSON.stringify(next) : JSON.stringify(next, null, 2));
    };
    const n = 1 + KEY_POLICY_MAX_BYTES - size(1);
    return make(n);
  }

  it('keeps the indented form of a result of exactly 32768 bytes', () => {
    // Prepare
    const text = policyMergingTo('indented');
    // Act
    const result = mergeDatabricksStatements(text, grant());
    // Assess
    expect(result.bytes).toBe(KEY_POLICY_MAX_BYTES);
    expect(result.policy).toBe(JSON.stringify(JSON.parse(result.policy), null, 2));
  });

  it('accepts a compact result of exactly 32768 bytes', () => {
    // Prepare
    const text = policyMergingTo('compact');
    // Act
    const result = mergeDatabricksStatements(text, grant());
    // Assess
    expect(result.bytes).toBe(KEY_POLICY_MAX_BYTES);
    expect(result.policy).toBe(JSON.stringify(JSON.parse(result.policy)));
  });

  it('names what it would add and the size in KeyPolicyTooLarge', () => {
    // Prepare
    const big = { ...ROOT, Sid: 'x'.repeat(KEY_POLICY_MAX_BYTES) };
    const partial = `${MANAGED_SERVICES_SID} 2`;
    const text = JSON.stringify({ Statement: [big, managed({ Sid: partial }, ['acc-1'])] });
    // Act
    const error = thrown(() =>
      mergeDatabricksStatements(
        text,
        grant({ useCases: ['MANAGED_SERVICES', 'STORAGE'], accountIds: ['acc-1', 'acc-2'] }),
      ),
    ) as KeyPolicyTooLarge;
    // Assess
    expect(error).toBeInstanceOf(KeyPolicyTooLarge);
    const bytes = error.details.bytes as number;
    expect(bytes).toBeGreaterThan(KEY_POLICY_MAX_BYTES);
    expect(error.message).toContain(
      `adding the Databricks statement(s) Allow Databricks to use KMS key for DBFS, ${partial} would make the key policy ${bytes} bytes`,
    );
    expect(error.details).toEqual({
      bytes,
      limit: KEY_POLICY_MAX_BYTES,
      added: ['Allow Databricks to use KMS key for DBFS'],
      merged: [partial],
    });
  });
});
