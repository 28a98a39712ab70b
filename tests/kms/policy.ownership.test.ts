import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyUseCase } from '../../lib/databricks/types.ts';
import { InvalidInput } from '../../lib/errors.ts';
import { KeyPolicyRejected } from '../../lib/kms/errors.ts';
import {
  assertEbsPrincipal,
  type DatabricksGrant,
  DBFS_SID,
  databricksStatements,
  EBS_SID,
  MANAGED_SERVICES_SID,
  mergeDatabricksStatements,
  missingDatabricksGrants,
  ownsStatement,
  type PolicyStatement,
} from '../../lib/kms/policy.ts';

/**
 * DESIGN §6.3: the key-policy merge never widens a statement it does not own. Only statements with the
 * product's own Sids (and their numbered variants) are ever changed, and only by gaining Databricks account
 * ids; the EBS principal is always an IAM role of the workspace's own AWS account.
 */

const DATABRICKS = 'arn:aws:iam::414351767826:root';
const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/databricks-cross-account`;
const TAG = 'aws:PrincipalTag/DatabricksAccountId';
const ROOT: PolicyStatement = {
  Sid: 'Enable IAM User Permissions',
  Effect: 'Allow',
  Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
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
const statementsOf = (text: string): PolicyStatement[] => {
  const s = (JSON.parse(text) as { Statement: PolicyStatement[] | PolicyStatement }).Statement;
  return Array.isArray(s) ? s : [s];
};
const managed = (over: Partial<PolicyStatement> = {}, ids: string[] = ['acc-1']): PolicyStatement => ({
  ...(databricksStatements(grant({ accountIds: ids }))[0] as PolicyStatement),
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

describe('ownsStatement', () => {
  it.each([MANAGED_SERVICES_SID, DBFS_SID, EBS_SID, `${DBFS_SID} 2`, `${EBS_SID} 17`])(
    'owns a statement with Sid "%s"',
    (sid) => {
      expect(ownsStatement({ Sid: sid })).toBe(true);
    },
  );

  it.each([
    ['no Sid', undefined],
    ['another Sid', 'Databricks (Terraform)'],
    ['a numbered variant 1', `${MANAGED_SERVICES_SID} 1`],
    ['a numbered variant with a leading zero', `${MANAGED_SERVICES_SID} 02`],
    ['a suffix that is not a number', `${MANAGED_SERVICES_SID} copy`],
    ['a prefix of our Sid', 'Allow Databricks to use KMS key for managed services'],
    ['our Sid in other letter case', MANAGED_SERVICES_SID.toUpperCase()],
    ['our Sid with a trailing space', `${DBFS_SID} `],
  ])('does not own a statement with %s', (_, sid) => {
    expect(ownsStatement(sid === undefined ? {} : { Sid: sid })).toBe(false);
  });
});

describe('mergeDatabricksStatements: statements it does not own', () => {
  it('counts a foreign statement that grants every account id as granted, and changes nothing', () => {
    // Prepare
    const theirs = managed({ Sid: 'Databricks (Terraform)', Action: 'kms:*' }, ['acc-1', 'acc-2']);
    const text = policyOf([ROOT, theirs]);
    // Act
    const result = mergeDatabricksStatements(text, grant({ accountIds: ['acc-2', 'acc-1'] }));
    // Assess
    expect(result).toMatchObject({ policy: text, changed: false, added: [], merged: [] });
    expect(missingDatabricksGrants(text, grant({ accountIds: ['acc-2', 'acc-1'] }))).toEqual([]);
  });

  it.each<[string, Partial<PolicyStatement>]>([
    ['without a Sid', { Sid: undefined }],
    ['under a look-alike Sid', { Sid: `${MANAGED_SERVICES_SID} copy` }],
    ['under a Terraform Sid', { Sid: 'Databricks (Terraform)' }],
  ])('adds its own statement next to a partial Databricks statement %s, never extending it', (_, over) => {
    // Prepare
    const theirs = JSON.parse(JSON.stringify(managed(over, ['acc-1']))) as PolicyStatement;
    const text = policyOf([ROOT, theirs]);
    const wide = grant({ accountIds: ['acc-1', 'acc-2'] });
    // Act
    const result = mergeDatabricksStatements(text, wide);
    // Assess
    expect(result).toMatchObject({ changed: true, added: [MANAGED_SERVICES_SID], merged: [] });
    expect(statementsOf(result.policy)).toStrictEqual([ROOT, theirs, databricksStatements(wide)[0]]);
  });

  it('adds a numbered statement when its documented Sid is taken by a Deny, leaving the Deny as it is', () => {
    // Prepare
    const deny = managed({ Effect: 'Deny' });
    const text = policyOf([ROOT, deny]);
    // Act
    const result = mergeDatabricksStatements(text, grant());
    // Assess
    expect(result.added).toEqual([`${MANAGED_SERVICES_SID} 2`]);
    expect(statementsOf(result.policy).slice(0, 2)).toStrictEqual([ROOT, deny]);
  });
});

describe('mergeDatabricksStatements: statements it owns', () => {
  it('appends only the missing account ids to its own statement, keeping their order', () => {
    // Prepare
    const ours = managed({}, ['acc-3', 'acc-1']);
    const text = policyOf([ROOT, ours]);
    // Act
    const result = mergeDatabricksStatements(text, grant({ accountIds: ['acc-1', 'acc-2', 'acc-3'] }));
    // Assess
    expect(result).toMatchObject({ added: [], merged: [MANAGED_SERVICES_SID] });
    expect(statementsOf(result.policy)[1]).toStrictEqual({
      ...ours,
      Condition: { StringEquals: { [TAG]: ['acc-3', 'acc-1', 'acc-2'] } },
    });
  });

  it.each<[string, Partial<PolicyStatement>]>([
    ['more actions than it needs', { Action: 'kms:*' }],
    ['a wildcard action that covers what it needs', { Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:Re*'] }],
    ['another principal too', { Principal: { AWS: [DATABRICKS, ROLE] } }],
    [
      'an extra condition',
      { Condition: { StringEquals: { [TAG]: ['acc-1'] }, Bool: { 'aws:SecureTransport': 'true' } } },
    ],
    ['a Deny effect', { Effect: 'Deny' }],
    ['the "*" principal', { Principal: '*' }],
  ])('does not extend its own statement with %s: it adds another', (_, over) => {
    // Prepare
    const odd = managed(over, ['acc-1']);
    const text = policyOf([ROOT, odd]);
    // Act
    const result = mergeDatabricksStatements(text, grant({ accountIds: ['acc-1', 'acc-2'] }));
    // Assess
    expect(result.merged).toEqual([]);
    expect(result.added).toEqual([`${MANAGED_SERVICES_SID} 2`]);
    expect(statementsOf(result.policy).slice(0, 2)).toStrictEqual(JSON.parse(JSON.stringify([ROOT, odd])));
  });

  it('does not extend the statement of another use case (a DBFS statement for managed services)', () => {
    // Prepare
    const [dbfs] = databricksStatements(grant({ useCases: ['STORAGE'] }));
    const text = policyOf([ROOT, dbfs]);
    const wide = grant({ accountIds: ['acc-1', 'acc-2'] });
    // Act
    const result = mergeDatabricksStatements(text, wide);
    // Assess
    expect(result).toMatchObject({ added: [MANAGED_SERVICES_SID], merged: [] });
    expect(statementsOf(result.policy)[1]).toStrictEqual(dbfs);
  });

  it('describes exactly what the merge adds and extends', () => {
    // Prepare
    const ours = managed({ Sid: `${MANAGED_SERVICES_SID} 2` }, ['acc-1']);
    const theirs = managed({ Sid: 'Databricks DBFS (hand-written)', Action: 'kms:*' }, ['acc-1']);
    const text = policyOf([ROOT, ours, theirs]);
    const g = grant({ useCases: ['MANAGED_SERVICES', 'STORAGE'], accountIds: ['acc-1', 'acc-2'] });
    // Act
    const missing = missingDatabricksGrants(text, g);
    const result = mergeDatabricksStatements(text, g);
    // Assess
    expect(missing).toEqual([
      `Databricks account id(s) acc-2 in the ${TAG} condition of "${MANAGED_SERVICES_SID} 2"`,
      `"${DBFS_SID}" (kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey for ${DATABRICKS})`,
    ]);
    expect(result).toMatchObject({ added: [DBFS_SID], merged: [`${MANAGED_SERVICES_SID} 2`] });
    expect(statementsOf(result.policy)[2]).toStrictEqual(theirs);
  });
});

describe('the EBS principal', () => {
  const storage = (over: Partial<DatabricksGrant> = {}) =>
    grant({ useCases: ['STORAGE'], ebsRoleArn: ROLE, awsAccountId: ACCOUNT, ...over });

  it('accepts a role of the workspace account, with a path, in any partition', () => {
    expect(databricksStatements(storage()).map((s) => s.Sid)).toEqual([DBFS_SID, EBS_SID]);
    expect(() =>
      databricksStatements(storage({ ebsRoleArn: `arn:aws:iam::${ACCOUNT}:role/service/dbx+ws=1,a.b@c-d` })),
    ).not.toThrow();
    expect(() =>
      databricksStatements(storage({ ebsRoleArn: `arn:aws-us-gov:iam::${ACCOUNT}:role/dbx` })),
    ).not.toThrow();
  });

  it.each([
    ['a user', `arn:aws:iam::${ACCOUNT}:user/alice`],
    ['an account root', `arn:aws:iam::${ACCOUNT}:root`],
    ['an assumed-role session', `arn:aws:sts::${ACCOUNT}:assumed-role/dbx/session`],
    ['a bare account id', ACCOUNT],
    ['a role with an empty name', `arn:aws:iam::${ACCOUNT}:role/`],
    ['a role of a malformed account', 'arn:aws:iam::1111:role/dbx'],
    ['a service principal ARN', 'arn:aws:iam::aws:policy/x'],
  ])('refuses %s with KeyPolicyRejected naming it', (_, principal) => {
    // Act
    const error = thrown(() => databricksStatements(storage({ ebsRoleArn: principal })));
    // Assess
    if (!principal.startsWith('arn:')) {
      // Not an ARN at all: refused as bad input before its kind is looked at.
      expect(error).toBeInstanceOf(InvalidInput);
      return;
    }
    expect(error).toBeInstanceOf(KeyPolicyRejected);
    expect(error.name).toBe('KeyPolicyRejected');
    expect(error.message).toContain(`"${principal}"`);
    expect(error.message).toContain('is not an IAM role ARN');
  });

  it('refuses a role of another AWS account, naming both accounts', () => {
    // Act
    const other = 'arn:aws:iam::999988887777:role/databricks-cross-account';
    const error = thrown(() => databricksStatements(storage({ ebsRoleArn: other }))) as KeyPolicyRejected;
    // Assess
    expect(error).toBeInstanceOf(KeyPolicyRejected);
    expect(error.message).toContain(`"${other}"`);
    expect(error.message).toContain('AWS account 999988887777');
    expect(error.message).toContain(`workspace's AWS account ${ACCOUNT}`);
    expect(error.details).toMatchObject({
      principal: other,
      awsAccountId: ACCOUNT,
      roleAccountId: '999988887777',
    });
  });

  it('refuses before anything is merged, and in the drift report too', () => {
    // Prepare
    const bad = storage({ ebsRoleArn: 'arn:aws:iam::999988887777:role/x' });
    const text = policyOf([ROOT]);
    // Act & Assess
    expect(() => mergeDatabricksStatements(text, bad)).toThrow(KeyPolicyRejected);
    expect(() => missingDatabricksGrants(text, bad)).toThrow(KeyPolicyRejected);
  });

  it('checks only the shape when the workspace account is not known', () => {
    expect(() =>
      databricksStatements(
        storage({ awsAccountId: undefined, ebsRoleArn: 'arn:aws:iam::999988887777:role/x' }),
      ),
    ).not.toThrow();
    expect(() =>
      databricksStatements(
        storage({ awsAccountId: undefined, ebsRoleArn: `arn:aws:iam::${ACCOUNT}:user/x` }),
      ),
    ).toThrow(KeyPolicyRejected);
  });

  it('is not checked when no EBS statement is written', () => {
    expect(() =>
      databricksStatements(
        storage({ reuseKeyForClusterVolumes: false, ebsRoleArn: 'arn:aws:iam::1:user/x' }),
      ),
    ).not.toThrow();
  });

  it('names the context in the message', () => {
    const error = thrown(() =>
      assertEbsPrincipal('arn:aws:iam::999988887777:role/x', ACCOUNT, 'credential configuration c-1'),
    );
    expect(error.message).toContain('(credential configuration c-1)');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties: for random policies, with random foreign statements (look-alike Databricks statements under
// other Sids, "*" principals, Deny statements, NotPrincipal, extra conditions) and random statements of our
// own (exact, partial, or changed by hand), the merge never widens a statement it does not own.
// ---------------------------------------------------------------------------------------------------------

const ACCOUNT_IDS = ['acc-1', 'acc-2', 'acc-3'];
const ACTIONS = [
  'kms:Encrypt',
  'kms:Decrypt',
  'kms:ReEncrypt*',
  'kms:GenerateDataKey*',
  'kms:DescribeKey',
  'kms:CreateGrant',
  'kms:*',
  'KMS:encrypt',
];
const OWN = [MANAGED_SERVICES_SID, DBFS_SID, EBS_SID];
const FOREIGN_SIDS = [
  'Enable IAM User Permissions',
  'Databricks (Terraform)',
  `${MANAGED_SERVICES_SID} copy`,
  `${DBFS_SID} 1`,
  `${EBS_SID} 02`,
  MANAGED_SERVICES_SID.toLowerCase(),
  'Allow Databricks to use KMS key for DBFS root',
];

const oneOrMany = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof(
    arb,
    fc.array(arb, { minLength: 1, maxLength: 3 }).map((xs) => [...new Set(xs)]),
  );
const principal = fc.oneof(
  fc.constant('*'),
  fc.constant({ AWS: '*' }),
  fc.constant({ AWS: DATABRICKS }),
  fc.constant({ AWS: '414351767826' }),
  fc.constant({ AWS: ROLE }),
  oneOrMany(fc.constantFrom(DATABRICKS, ROLE, `arn:aws:iam::${ACCOUNT}:root`, '*')).map((aws) => ({
    AWS: aws,
  })),
  fc.constant({ AWS: DATABRICKS, Service: 'ec2.amazonaws.com' }),
);
const ids = fc.subarray(ACCOUNT_IDS).map((xs) => (xs.length === 1 ? xs[0] : xs));
const condition = fc.oneof(
  fc.constant(undefined),
  ids.map((v) => ({ StringEquals: { [TAG]: v } })),
  ids.map((v) => ({ StringEquals: { [TAG]: v }, Bool: { 'aws:SecureTransport': 'true' } })),
  ids.map((v) => ({ StringLike: { [TAG]: v } })),
  fc.constant({ 'ForAnyValue:StringLike': { 'kms:ViaService': 'ec2.*.amazonaws.com' } }),
);

/** A statement of any shape, under `sid`. */
const shaped = (sid: fc.Arbitrary<string | undefined>) =>
  fc
    .record({
      Sid: sid,
      Effect: fc.constantFrom('Allow', 'Allow', 'Deny'),
      Principal: principal,
      NotPrincipal: fc.option(fc.constant({ AWS: ROLE }), { nil: undefined }),
      Action: oneOrMany(fc.constantFrom(...ACTIONS)),
      Resource: fc.constantFrom('*', ['*'], 'arn:aws:kms:us-east-1:111122223333:key/x'),
      Condition: condition,
    })
    .map((s) => Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as PolicyStatement);

/** Exactly what the product writes for one use case, with a random subset of account ids, under `sid`. */
const databricksLike = (sid: fc.Arbitrary<string | undefined>) =>
  fc
    .record({
      sid,
      kind: fc.constantFrom(0, 1, 2),
      ids: fc.subarray(ACCOUNT_IDS, { minLength: 1 }),
      asString: fc.boolean(),
      bareAccount: fc.boolean(),
    })
    .map(({ sid: s, kind, ids: accountIds, asString, bareAccount }) => {
      const all = databricksStatements(
        grant({
          useCases: ['MANAGED_SERVICES', 'STORAGE'],
          accountIds,
          ebsRoleArn: ROLE,
          awsAccountId: ACCOUNT,
        }),
      );
      const statement = structuredClone(all[kind]) as PolicyStatement;
      if (s === undefined) delete statement.Sid;
      else statement.Sid = s;
      if (asString && accountIds.length === 1 && kind < 2) {
        statement.Condition = { StringEquals: { [TAG]: accountIds[0] } };
      }
      if (bareAccount && kind < 2) statement.Principal = { AWS: '414351767826' };
      return statement;
    });

const foreignSid = fc.option(fc.constantFrom(...FOREIGN_SIDS), { nil: undefined });
const ownSid = fc.oneof(
  fc.constantFrom(...OWN),
  fc.tuple(fc.constantFrom(...OWN), fc.integer({ min: 2, max: 4 })).map(([s, n]) => `${s} ${n}`),
);

const statementArb = fc.oneof(
  shaped(foreignSid),
  databricksLike(foreignSid),
  shaped(ownSid),
  databricksLike(ownSid),
);

const policyArb = fc
  .record({
    statements: fc.array(statementArb, { maxLength: 8 }),
    single: fc.boolean(),
  })
  .map(({ statements, single }) => {
    // KMS refuses a policy whose Sids repeat: keep the first of each Sid.
    const seen = new Set<string>();
    const unique = statements.filter((s) => {
      if (s.Sid === undefined) return true;
      if (seen.has(s.Sid)) return false;
      seen.add(s.Sid);
      return true;
    });
    const doc = {
      Version: '2012-10-17',
      Statement: single && unique.length === 1 ? unique[0] : [ROOT, ...unique],
    };
    return JSON.stringify(doc, null, 2);
  });

const grantArb: fc.Arbitrary<DatabricksGrant> = fc.record({
  useCases: fc.constantFrom<KeyUseCase[]>(['MANAGED_SERVICES'], ['STORAGE'], ['MANAGED_SERVICES', 'STORAGE']),
  databricksPrincipalArn: fc.constant(DATABRICKS),
  accountIds: fc.subarray(ACCOUNT_IDS, { minLength: 1 }),
  ebsRoleArn: fc.option(fc.constant(ROLE), { nil: undefined }),
  awsAccountId: fc.option(fc.constant(ACCOUNT), { nil: undefined }),
  reuseKeyForClusterVolumes: fc.boolean(),
});

const tagValues = (s: PolicyStatement): string[] | undefined => {
  const v = (s.Condition?.StringEquals as Record<string, unknown> | undefined)?.[TAG];
  return typeof v === 'string' ? [v] : Array.isArray(v) ? (v as string[]) : undefined;
};
const withoutTag = (s: PolicyStatement): PolicyStatement => {
  const copy = structuredClone(s);
  const block = copy.Condition?.StringEquals as Record<string, unknown> | undefined;
  if (block) delete block[TAG];
  return copy;
};

const runs = { numRuns: 500 };

describe('mergeDatabricksStatements never widens a statement it does not own (properties)', () => {
  it('keeps every statement it does not own deep-equal to what it was', () => {
    fc.assert(
      fc.property(policyArb, grantArb, (text, g) => {
        const before = statementsOf(text);
        const after = statementsOf(mergeDatabricksStatements(text, g).policy);
        for (const [i, statement] of before.entries()) {
          if (!ownsStatement(statement)) expect(after[i]).toStrictEqual(statement);
        }
      }),
      runs,
    );
  });

  it('changes a statement it owns only by appending Databricks account ids to its condition', () => {
    fc.assert(
      fc.property(policyArb, grantArb, (text, g) => {
        const before = statementsOf(text);
        const result = mergeDatabricksStatements(text, g);
        const after = statementsOf(result.policy);
        for (const [i, statement] of before.entries()) {
          const now = after[i] as PolicyStatement;
          if (JSON.stringify(now) === JSON.stringify(statement)) continue;
          expect(ownsStatement(statement)).toBe(true);
          expect(result.merged).toContain(statement.Sid);
          // Same effect, principal, actions, resources and every other condition.
          expect(withoutTag(now)).toStrictEqual(withoutTag(statement));
          const had = tagValues(statement) ?? [];
          const has = tagValues(now) ?? [];
          expect(has.slice(0, had.length)).toStrictEqual(had);
          for (const id of has.slice(had.length)) {
            expect(g.accountIds).toContain(id);
            expect(had).not.toContain(id);
          }
        }
      }),
      runs,
    );
  });

  it('only appends statements of its own, exactly as databricksStatements writes them', () => {
    fc.assert(
      fc.property(policyArb, grantArb, (text, g) => {
        const before = statementsOf(text);
        const result = mergeDatabricksStatements(text, g);
        const appended = statementsOf(result.policy).slice(before.length);
        expect(appended.map((s) => s.Sid)).toStrictEqual(result.added);
        const written = databricksStatements(g);
        for (const statement of appended) {
          expect(ownsStatement(statement)).toBe(true);
          const base = written.find((w) => statement.Sid === w.Sid || statement.Sid?.startsWith(`${w.Sid} `));
          expect(base).toBeDefined();
          expect({ ...statement, Sid: base?.Sid }).toStrictEqual(base);
        }
      }),
      runs,
    );
  });

  it('never gives a "*" principal anything new', () => {
    const wildcard = (s: PolicyStatement) => {
      const p = s.Principal;
      if (p === '*') return true;
      const aws = typeof p === 'object' ? p.AWS : undefined;
      return aws === '*' || (Array.isArray(aws) && aws.includes('*'));
    };
    fc.assert(
      fc.property(policyArb, grantArb, (text, g) => {
        const before = statementsOf(text).filter(wildcard);
        const after = statementsOf(mergeDatabricksStatements(text, g).policy).filter(wildcard);
        expect(after).toStrictEqual(before);
      }),
      runs,
    );
  });

  it('reports as missing exactly what it adds or extends, and nothing once merged', () => {
    fc.assert(
      fc.property(policyArb, grantArb, (text, g) => {
        const missing = missingDatabricksGrants(text, g);
        const result = mergeDatabricksStatements(text, g);
        expect(missing).toHaveLength(result.added.length + result.merged.length);
        for (const sid of result.merged) {
          expect(missing.some((m) => m.endsWith(`condition of "${sid}"`))).toBe(true);
        }
        expect(result.changed).toBe(missing.length > 0);
        if (!result.changed) expect(result.policy).toBe(text);
        expect(missingDatabricksGrants(result.policy, g)).toEqual([]);
        expect(mergeDatabricksStatements(result.policy, g)).toMatchObject({ changed: false });
      }),
      runs,
    );
  });

  it('refuses any EBS principal that is not a role of the workspace account, whatever the policy', () => {
    const principals = fc.constantFrom(
      ROLE,
      `arn:aws:iam::${ACCOUNT}:role/path/to/dbx`,
      'arn:aws:iam::999988887777:role/databricks-cross-account',
      `arn:aws:iam::${ACCOUNT}:user/alice`,
      `arn:aws:iam::${ACCOUNT}:root`,
      `arn:aws:sts::${ACCOUNT}:assumed-role/dbx/s`,
      `arn:aws:iam::${ACCOUNT}:group/admins`,
    );
    fc.assert(
      fc.property(policyArb, principals, (text, ebsRoleArn) => {
        const g = grant({ useCases: ['STORAGE'], ebsRoleArn, awsAccountId: ACCOUNT });
        const ok = ebsRoleArn.startsWith(`arn:aws:iam::${ACCOUNT}:role/`);
        let error: unknown;
        let result: ReturnType<typeof mergeDatabricksStatements> | undefined;
        try {
          result = mergeDatabricksStatements(text, g);
        } catch (e) {
          error = e;
        }
        if (ok) {
          expect(error).toBeUndefined();
        } else {
          expect(error).toBeInstanceOf(KeyPolicyRejected);
          expect((error as Error).message).toContain(ebsRoleArn);
          expect(result).toBeUndefined();
        }
      }),
      { numRuns: 200 },
    );
  });
});
