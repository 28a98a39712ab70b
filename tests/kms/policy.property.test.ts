import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyUseCase } from '../../lib/databricks/types.ts';
import { KeyPolicyTooLarge } from '../../lib/kms/errors.ts';
import {
  type DatabricksGrant,
  DBFS_SID,
  databricksStatements,
  EBS_SID,
  KEY_POLICY_MAX_BYTES,
  MANAGED_SERVICES_SID,
  mergeDatabricksStatements,
  missingDatabricksGrants,
  type PolicyStatement,
} from '../../lib/kms/policy.ts';

const DATABRICKS = 'arn:aws:iam::414351767826:root';
const ROLE = 'arn:aws:iam::111122223333:role/databricks-cross-account';
const TAG = 'aws:PrincipalTag/DatabricksAccountId';
const ACCOUNT_IDS = ['acc-1', 'acc-2', 'acc-3'];
const ACTIONS = [
  'kms:Encrypt',
  'kms:Decrypt',
  'kms:ReEncrypt*',
  'kms:GenerateDataKey*',
  'kms:DescribeKey',
  'kms:CreateGrant',
  'kms:ListGrants',
  'kms:*',
];
const SIDS = [MANAGED_SERVICES_SID, DBFS_SID, EBS_SID, 'Enable IAM User Permissions', 'Allow admins'];

type Json = Record<string, unknown>;

const oneOrMany = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof(
    arb,
    fc.array(arb, { minLength: 1, maxLength: 3 }).map((xs) => [...new Set(xs)]),
  );

const arn = fc.constantFrom(
  DATABRICKS,
  ROLE,
  'arn:aws:iam::111122223333:root',
  'arn:aws:iam::111122223333:role/admin',
  '414351767826',
);
const principal = fc.oneof(
  fc.constant('*' as const),
  oneOrMany(arn).map((aws) => ({ AWS: aws })),
  fc.constant({ Service: 'ec2.amazonaws.com' }),
  fc.constant({ AWS: DATABRICKS }),
);
const idList = fc.subarray(ACCOUNT_IDS).map((ids) => (ids.length === 1 ? ids[0] : ids));
const condition = fc.oneof(
  fc.constant(undefined),
  idList.map((ids) => ({ StringEquals: { [TAG]: ids } })),
  fc.constant({ 'ForAnyValue:StringLike': { 'kms:ViaService': 'ec2.*.amazonaws.com' } }),
  fc.constant({ Bool: { 'aws:SecureTransport': 'true' } }),
);

const randomStatement: fc.Arbitrary<Json> = fc
  .record(
    {
      Sid: fc.constantFrom(...SIDS),
      Effect: fc.constantFrom('Allow', 'Deny'),
      Principal: principal,
      Action: oneOrMany(fc.constantFrom(...ACTIONS)),
      Resource: fc.constantFrom('*', ['*']),
      Condition: condition,
    },
    { requiredKeys: ['Effect', 'Principal', 'Action', 'Resource'] },
  )
  .map((s) => Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)));

/** A Databricks statement as a customer may already have it: possibly another Sid, some account ids. */
const existingDatabricksStatement: fc.Arbitrary<Json> = fc
  .record({
    Sid: fc.constantFrom(MANAGED_SERVICES_SID, DBFS_SID, 'Databricks (custom name)'),
    kind: fc.constantFrom('ms', 'dbfs'),
    ids: fc.subarray(ACCOUNT_IDS, { minLength: 1 }),
    asString: fc.boolean(),
  })
  .map(({ Sid, kind, ids, asString }) => ({
    Sid,
    Effect: 'Allow',
    Principal: { AWS: DATABRICKS },
    Action:
      kind === 'ms'
        ? ['kms:Decrypt', 'kms:Encrypt']
        : ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
    Resource: '*',
    Condition: { StringEquals: { [TAG]: asString && ids.length === 1 ? ids[0] : ids } },
  }));

const policy = fc
  .record({
    statements: fc.array(fc.oneof(randomStatement, existingDatabricksStatement), { maxLength: 8 }),
    single: fc.boolean(),
    id: fc.option(fc.constant('key-default-1'), { nil: undefined }),
  })
  .map(({ statements: generated, single, id }) => {
    // KMS rejects a policy whose Sids repeat: keep the first statement's Sid only.
    const seen = new Set<unknown>();
    const statements = generated.map((s) => {
      if (s.Sid === undefined || !seen.has(s.Sid)) {
        seen.add(s.Sid);
        return s;
      }
      const { Sid: _, ...rest } = s;
      return rest;
    });
    const doc: Json = { Version: '2012-10-17' };
    if (id) doc.Id = id;
    doc.Statement = single && statements.length === 1 ? statements[0] : statements;
    return { text: JSON.stringify(doc, null, 2), statements };
  });

const grant: fc.Arbitrary<DatabricksGrant> = fc.record({
  useCases: fc.constantFrom<KeyUseCase[]>(['MANAGED_SERVICES'], ['STORAGE'], ['MANAGED_SERVICES', 'STORAGE']),
  databricksPrincipalArn: fc.constant(DATABRICKS),
  accountIds: fc.subarray(ACCOUNT_IDS, { minLength: 1 }),
  ebsRoleArn: fc.option(fc.constant(ROLE), { nil: undefined }),
  reuseKeyForClusterVolumes: fc.boolean(),
});

const statementsOf = (text: string): Json[] => {
  const s = (JSON.parse(text) as Json).Statement;
  return (Array.isArray(s) ? s : [s]) as Json[];
};

const accountIdsOf = (s: Json): string[] | undefined => {
  const v = ((s.Condition as Json | undefined)?.StringEquals as Json | undefined)?.[TAG];
  return typeof v === 'string' ? [v] : Array.isArray(v) ? (v as string[]) : undefined;
};

const withoutAccountIds = (s: Json): Json => {
  const copy = structuredClone(s);
  const block = (copy.Condition as Json | undefined)?.StringEquals as Json | undefined;
  if (block) delete block[TAG];
  return copy;
};

const isWildcard = (s: Json): boolean => {
  const p = s.Principal as Json | string | undefined;
  if (p === '*') return true;
  const aws = typeof p === 'object' ? p.AWS : undefined;
  return aws === '*' || (Array.isArray(aws) && aws.includes('*'));
};

const runs = { numRuns: 400 };

describe('mergeDatabricksStatements (properties)', () => {
  it('keeps every existing statement, changing only account ids of the statements it merged into', () => {
    fc.assert(
      fc.property(policy, grant, ({ text, statements }, g) => {
        const result = mergeDatabricksStatements(text, g);
        const after = statementsOf(result.policy);
        for (const [i, before] of statements.entries()) {
          const now = after[i] as Json;
          if (isDeepStrictEqual(now, before)) continue;
          expect(result.merged).toContain(before.Sid ?? `statement ${i}`);
          expect(withoutAccountIds(now)).toEqual(withoutAccountIds(before));
          expect(accountIdsOf(now)).toEqual(expect.arrayContaining(accountIdsOf(before) ?? []));
        }
        expect(after.length).toBe(statements.length + result.added.length);
      }),
      runs,
    );
  });

  it('is idempotent: merging again changes nothing and returns the same text', () => {
    fc.assert(
      fc.property(policy, grant, ({ text }, g) => {
        const once = mergeDatabricksStatements(text, g);
        const twice = mergeDatabricksStatements(once.policy, g);
        expect(twice).toMatchObject({ changed: false, added: [], merged: [] });
        expect(twice.policy).toBe(once.policy);
      }),
      runs,
    );
  });

  it('returns the input byte for byte when nothing is missing', () => {
    fc.assert(
      fc.property(policy, grant, ({ text }, g) => {
        const result = mergeDatabricksStatements(text, g);
        expect(result.changed).toBe(missingDatabricksGrants(text, g).length > 0);
        if (!result.changed) expect(result.policy).toBe(text);
      }),
      runs,
    );
  });

  it('never adds a "*" principal', () => {
    fc.assert(
      fc.property(policy, grant, ({ text, statements }, g) => {
        const after = statementsOf(mergeDatabricksStatements(text, g).policy);
        expect(after.filter(isWildcard).length).toBe(statements.filter(isWildcard).length);
      }),
      runs,
    );
  });

  it('leaves every Databricks account id exactly once in each statement it wrote', () => {
    fc.assert(
      fc.property(policy, grant, ({ text }, g) => {
        const result = mergeDatabricksStatements(text, g);
        const after = statementsOf(result.policy);
        for (const sid of [...result.added, ...result.merged]) {
          const index = /^statement (\d+)$/.exec(sid)?.[1];
          const written = index === undefined ? after.filter((s) => s.Sid === sid) : [after[Number(index)]];
          expect(written).toHaveLength(1);
          const ids = accountIdsOf(written[0] as Json);
          if (sid.startsWith(EBS_SID)) continue;
          for (const id of g.accountIds) expect(ids?.filter((x) => x === id)).toHaveLength(1);
        }
      }),
      runs,
    );
  });

  it('adds no duplicate Databricks statement', () => {
    fc.assert(
      fc.property(policy, grant, ({ text }, g) => {
        const result = mergeDatabricksStatements(text, g);
        const wanted =
          g.useCases.length +
          (g.useCases.includes('STORAGE') && g.reuseKeyForClusterVolumes && g.ebsRoleArn ? 1 : 0);
        expect(result.added.length).toBeLessThanOrEqual(wanted);
        const sids = statementsOf(result.policy).map((s) => s.Sid);
        for (const sid of result.added) expect(sids.filter((s) => s === sid)).toHaveLength(1);
      }),
      runs,
    );
  });

  it('leaves nothing missing for Databricks', () => {
    fc.assert(
      fc.property(policy, grant, ({ text }, g) => {
        expect(missingDatabricksGrants(mergeDatabricksStatements(text, g).policy, g)).toEqual([]);
      }),
      runs,
    );
  });

  it('never returns a changed policy over 32 KB: it raises KeyPolicyTooLarge instead', () => {
    const padded = fc.record({
      count: fc.integer({ min: 0, max: 60 }),
      width: fc.integer({ min: 100, max: 700 }),
    });
    fc.assert(
      fc.property(padded, grant, ({ count, width }, g) => {
        const statements = Array.from({ length: count }, (_, i) => ({
          Sid: `Padding ${i}`,
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::111122223333:role/${'r'.repeat(width)}-${i}` },
          Action: 'kms:DescribeKey',
          Resource: '*',
        }));
        const text = JSON.stringify({ Version: '2012-10-17', Statement: statements });
        let result: ReturnType<typeof mergeDatabricksStatements>;
        try {
          result = mergeDatabricksStatements(text, g);
        } catch (error) {
          expect(error).toBeInstanceOf(KeyPolicyTooLarge);
          const compact = JSON.stringify({
            Version: '2012-10-17',
            Statement: [...statements, ...databricksStatements(g)],
          });
          expect(Buffer.byteLength(compact)).toBeGreaterThan(KEY_POLICY_MAX_BYTES);
          return;
        }
        expect(result.changed).toBe(true);
        expect(result.bytes).toBe(Buffer.byteLength(result.policy));
        expect(result.bytes).toBeLessThanOrEqual(KEY_POLICY_MAX_BYTES);
      }),
      { numRuns: 200 },
    );
  });
});

describe('mergeDatabricksStatements (statement shapes)', () => {
  it('keeps statements it does not understand exactly as they were', () => {
    fc.assert(
      fc.property(fc.array(randomStatement, { maxLength: 5 }), grant, (statements, g) => {
        const text = JSON.stringify({ Version: '2012-10-17', Statement: statements });
        const after = statementsOf(mergeDatabricksStatements(text, g).policy) as PolicyStatement[];
        const untouched = statements.filter((s) => !accountIdsOf(s));
        for (const s of untouched) expect(after).toContainEqual(s);
      }),
      runs,
    );
  });
});
