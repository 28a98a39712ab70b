import { describe, expect, it } from 'vitest';
import { InvalidInput } from '../../lib/errors.ts';
import { KeyPolicyTooLarge, KeyPolicyUnparseable } from '../../lib/kms/errors.ts';
import {
  type DatabricksGrant,
  DBFS_SID,
  databricksStatements,
  EBS_SID,
  MANAGED_SERVICES_SID,
  mergeDatabricksStatements,
  missingDatabricksGrants,
} from '../../lib/kms/policy.ts';

const DATABRICKS = 'arn:aws:iam::414351767826:root';
const ROLE = 'arn:aws:iam::111122223333:role/databricks-cross-account';
const TAG = 'aws:PrincipalTag/DatabricksAccountId';
const ROOT = {
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
const policyOf = (statement: unknown) =>
  JSON.stringify({ Version: '2012-10-17', Statement: statement }, null, 2);
const statements = (text: string) => JSON.parse(text).Statement as Array<Record<string, unknown>>;

describe('databricksStatements', () => {
  it('grants managed services kms:Encrypt and kms:Decrypt to Databricks for the account ids', () => {
    // Act
    const [statement] = databricksStatements(grant({ accountIds: ['acc-1', 'acc-2'] }));
    // Assess
    expect(statement).toEqual({
      Sid: MANAGED_SERVICES_SID,
      Effect: 'Allow',
      Principal: { AWS: DATABRICKS },
      Action: ['kms:Encrypt', 'kms:Decrypt'],
      Resource: '*',
      Condition: { StringEquals: { [TAG]: ['acc-1', 'acc-2'] } },
    });
  });

  it('adds the DBFS and EBS statements for a storage key that also encrypts cluster volumes', () => {
    // Act
    const out = databricksStatements(grant({ useCases: ['STORAGE'], ebsRoleArn: ROLE }));
    // Assess
    expect(out.map((s) => s.Sid)).toEqual([DBFS_SID, EBS_SID]);
    expect(out[0]?.Action).toEqual([
      'kms:Encrypt',
      'kms:Decrypt',
      'kms:ReEncrypt*',
      'kms:GenerateDataKey*',
      'kms:DescribeKey',
    ]);
    expect(out[1]).toMatchObject({
      Principal: { AWS: ROLE },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*', 'kms:CreateGrant', 'kms:DescribeKey'],
      Condition: { 'ForAnyValue:StringLike': { 'kms:ViaService': 'ec2.*.amazonaws.com' } },
    });
  });

  it('leaves out the EBS statement when the key does not encrypt cluster volumes', () => {
    // Act
    const out = databricksStatements(
      grant({ useCases: ['STORAGE'], ebsRoleArn: ROLE, reuseKeyForClusterVolumes: false }),
    );
    // Assess
    expect(out.map((s) => s.Sid)).toEqual([DBFS_SID]);
  });

  it('refuses a wildcard principal', () => {
    // Act & Assess
    expect(() => databricksStatements(grant({ databricksPrincipalArn: 'arn:aws:iam::*:root' }))).toThrow(
      InvalidInput,
    );
    expect(() => databricksStatements(grant({ useCases: ['STORAGE'], ebsRoleArn: '*' }))).toThrow(
      InvalidInput,
    );
  });

  it('refuses a grant without account ids', () => {
    // Act & Assess
    expect(() => databricksStatements(grant({ accountIds: [] }))).toThrow(/DatabricksAccountId/);
  });
});

describe('mergeDatabricksStatements', () => {
  it.each([
    ['not JSON', '{"Version": "2012-10-17", '],
    ['a JSON array', '[]'],
    ['a JSON string', '"policy"'],
    ['an object without Statement', '{"Version": "2012-10-17"}'],
    ['a Statement list holding a string', '{"Statement": ["allow everything"]}'],
    ['a null Statement', '{"Statement": null}'],
  ])('refuses a policy that is %s', (_, text) => {
    // Act & Assess
    expect(() => mergeDatabricksStatements(text, grant())).toThrow(KeyPolicyUnparseable);
    expect(() => missingDatabricksGrants(text, grant())).toThrow(KeyPolicyUnparseable);
  });

  it('turns a single Statement object into a list only when it must add to it', () => {
    // Prepare
    const text = JSON.stringify({ Version: '2012-10-17', Statement: ROOT });
    // Act
    const result = mergeDatabricksStatements(text, grant());
    // Assess
    expect(result.changed).toBe(true);
    expect(statements(result.policy)).toEqual([ROOT, databricksStatements(grant())[0]]);
  });

  it('keeps a single Statement object as it is when it already grants Databricks', () => {
    // Prepare
    const text = JSON.stringify({ Version: '2012-10-17', Statement: databricksStatements(grant())[0] });
    // Act
    const result = mergeDatabricksStatements(text, grant());
    // Assess
    expect(result).toEqual({
      policy: text,
      changed: false,
      added: [],
      merged: [],
      bytes: Buffer.byteLength(text),
    });
  });

  it('merges a missing account id into its own statement', () => {
    // Prepare
    const ours = {
      Sid: MANAGED_SERVICES_SID,
      Effect: 'Allow',
      Principal: { AWS: ['414351767826'] },
      Action: ['kms:Decrypt', 'kms:Encrypt'],
      Resource: ['*'],
      Condition: { StringEquals: { [TAG]: 'acc-1' } },
    };
    const text = policyOf([ROOT, ours]);
    // Act
    const result = mergeDatabricksStatements(text, grant({ accountIds: ['acc-1', 'acc-2'] }));
    // Assess
    expect(result).toMatchObject({ changed: true, added: [], merged: [MANAGED_SERVICES_SID] });
    expect(statements(result.policy)).toEqual([
      ROOT,
      { ...ours, Condition: { StringEquals: { [TAG]: ['acc-1', 'acc-2'] } } },
    ]);
  });

  it('never widens a Databricks statement under another Sid: it adds its own next to it', () => {
    // Prepare
    const theirs = {
      Sid: 'DatabricksControlPlane',
      Effect: 'Allow',
      Principal: { AWS: ['414351767826'] },
      Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:DescribeKey'],
      Resource: ['*'],
      Condition: { StringEquals: { [TAG]: 'acc-1' } },
    };
    const text = policyOf([ROOT, theirs]);
    const wide = grant({ accountIds: ['acc-1', 'acc-2'] });
    // Act
    const result = mergeDatabricksStatements(text, wide);
    // Assess
    expect(result).toMatchObject({ changed: true, added: [MANAGED_SERVICES_SID], merged: [] });
    expect(statements(result.policy)).toEqual([ROOT, theirs, databricksStatements(wide)[0]]);
    expect(missingDatabricksGrants(text, wide)).toEqual([
      `"${MANAGED_SERVICES_SID}" (kms:Encrypt, kms:Decrypt for ${DATABRICKS})`,
    ]);
  });

  it('does not count a statement with extra conditions as granting Databricks', () => {
    // Prepare
    const restricted = {
      ...databricksStatements(grant())[0],
      Condition: { StringEquals: { [TAG]: ['acc-1'] }, Bool: { 'aws:SecureTransport': 'true' } },
    };
    const text = policyOf([ROOT, restricted]);
    // Act
    const result = mergeDatabricksStatements(text, grant());
    // Assess
    expect(result.added).toEqual([`${MANAGED_SERVICES_SID} 2`]);
    expect(statements(result.policy).slice(0, 2)).toEqual([ROOT, restricted]);
  });

  it('adds its own statement next to a "*" statement without touching it', () => {
    // Prepare
    const open = { Sid: 'Open', Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' };
    const text = policyOf([open]);
    // Act
    const result = mergeDatabricksStatements(text, grant());
    // Assess
    expect(statements(result.policy)).toEqual([open, databricksStatements(grant())[0]]);
  });

  it('treats a DBFS statement as granting managed services too', () => {
    // Prepare
    const [dbfs] = databricksStatements(grant({ useCases: ['STORAGE'] }));
    const text = policyOf([ROOT, dbfs]);
    // Act
    const missing = missingDatabricksGrants(text, grant({ useCases: ['MANAGED_SERVICES', 'STORAGE'] }));
    // Assess
    expect(missing).toEqual([]);
  });

  it('keeps the top-level fields and their order', () => {
    // Prepare
    const text = JSON.stringify({ Id: 'key-consolepolicy-3', Version: '2012-10-17', Statement: [ROOT] });
    // Act
    const result = mergeDatabricksStatements(text, grant());
    // Assess
    expect(Object.keys(JSON.parse(result.policy))).toEqual(['Id', 'Version', 'Statement']);
  });

  it('writes the compact form when only the indentation would exceed 32 KB', () => {
    // Prepare: a policy that fits compact with our statement but not indented
    const padding = Array.from({ length: 200 }, (_, i) => ({
      Sid: `S${i}`,
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::111122223333:role/r${i}` },
      Action: ['kms:DescribeKey', 'kms:GetKeyPolicy'],
      Resource: '*',
    }));
    const text = JSON.stringify({ Version: '2012-10-17', Statement: padding });
    // Act
    const result = mergeDatabricksStatements(text, grant());
    // Assess
    expect(Buffer.byteLength(JSON.stringify(JSON.parse(result.policy), null, 2))).toBeGreaterThan(32768);
    expect(result.bytes).toBeLessThanOrEqual(32768);
    expect(result.policy).toBe(JSON.stringify(JSON.parse(result.policy)));
  });

  it('raises KeyPolicyTooLarge naming the size when even the compact form is too large', () => {
    // Prepare
    const padding = Array.from({ length: 200 }, (_, i) => ({
      Sid: `S${i}`,
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::111122223333:role/${'x'.repeat(120)}${i}` },
      Action: 'kms:DescribeKey',
      Resource: '*',
    }));
    // Act & Assess
    expect(() => mergeDatabricksStatements(JSON.stringify({ Statement: padding }), grant())).toThrow(
      expect.objectContaining({
        name: 'KeyPolicyTooLarge',
        message: expect.stringMatching(/\d+ bytes, over KMS' limit of 32768/),
      }),
    );
    expect(() => mergeDatabricksStatements(JSON.stringify({ Statement: padding }), grant())).toThrow(
      KeyPolicyTooLarge,
    );
  });
});

describe('missingDatabricksGrants', () => {
  it('names the missing statement and the missing account ids', () => {
    // Prepare
    const text = policyOf([ROOT, databricksStatements(grant())[0]]);
    // Act
    const missing = missingDatabricksGrants(
      text,
      grant({ useCases: ['MANAGED_SERVICES', 'STORAGE'], accountIds: ['acc-1', 'acc-9'] }),
    );
    // Assess
    expect(missing).toEqual([
      `Databricks account id(s) acc-9 in the ${TAG} condition of "${MANAGED_SERVICES_SID}"`,
      `"${DBFS_SID}" (kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey for ${DATABRICKS})`,
    ]);
  });
});
