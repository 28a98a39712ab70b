import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MalformedPolicyDocumentException, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { ensureDatabricksKeyPolicy } from '../../lib/kms/key-policy.ts';
import type { DatabricksGrant } from '../../lib/kms/policy.ts';
import { knownPrincipals, LocalKms, type ScenarioKey } from '../../local/aws/kms.ts';
import { loadScenario, parseScenario } from '../../local/scenario.ts';

/**
 * KMS refuses a key policy naming an IAM principal that does not exist: "The principals in the key policy
 * must exist and be visible to KMS" (KMS API reference, PutKeyPolicy `Policy`), answered with
 * `MalformedPolicyDocumentException: Policy contains a statement with one or more invalid principals`.
 * moto 5.2.1 does not check this (it stored a policy naming `role/DoesNotExist`).
 */

const ACCOUNT = '111122223333';
const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const ADMINS = `arn:aws:iam::${ACCOUNT}:role/KeyAdmins`;
const POLICY = {
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'Enable IAM User Permissions',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
    {
      Sid: 'Allow key administrators',
      Effect: 'Allow',
      Principal: { AWS: ADMINS },
      Action: ['kms:Describe*', 'kms:Put*'],
      Resource: '*',
    },
  ],
};

const localKms = (principals: readonly string[] | undefined, keys: ScenarioKey[] = [{ keyId: KEY_ID }]) =>
  new LocalKms(
    keys.map((k) => ({ policy: POLICY, ...k })),
    { accountId: ACCOUNT, region: 'us-east-1', clock: { now: () => 0, sleep: async () => {} }, principals },
  );

/** PutKeyPolicy of POLICY plus one statement for `principal`; the error, if any. */
async function putNaming(kms: LocalKms, principal: unknown, element = 'Principal'): Promise<unknown> {
  const policy = {
    ...POLICY,
    Statement: [
      ...POLICY.Statement,
      { Sid: 'Probe', Effect: 'Deny', [element]: principal, Action: 'kms:Decrypt', Resource: '*' },
    ],
  };
  return kms
    .send(new PutKeyPolicyCommand({ KeyId: KEY_ID, PolicyName: 'default', Policy: JSON.stringify(policy) }))
    .then(() => undefined)
    .catch((e: unknown) => e);
}

describe('LocalKms: principals of a key policy must exist', () => {
  it.each([
    ['a role nobody declared', { AWS: `arn:aws:iam::${ACCOUNT}:role/DoesNotExist` }, 'Principal'],
    ['a user nobody declared', { AWS: [ADMINS, `arn:aws:iam::${ACCOUNT}:user/alice`] }, 'Principal'],
    ['a role of another account nobody declared', { AWS: 'arn:aws:iam::444455556666:role/x' }, 'Principal'],
    ['the unique id a deleted role leaves behind', { AWS: 'AROAEXAMPLEID1234567' }, 'Principal'],
    ['an unknown role in NotPrincipal', { AWS: `arn:aws:iam::${ACCOUNT}:role/Gone` }, 'NotPrincipal'],
  ])(
    'refuses a policy naming %s with MalformedPolicyDocumentException and keeps the old one',
    async (_, principal, element) => {
      // Prepare
      const kms = localKms([]);
      // Act
      const error = await putNaming(kms, principal, element);
      // Assess
      expect(error).toBeInstanceOf(MalformedPolicyDocumentException);
      expect(error).toMatchObject({
        $metadata: { httpStatusCode: 400 },
        message: expect.stringContaining('Policy contains a statement with one or more invalid principals'),
      });
      expect(kms.keys()[0]?.policy).toEqual(POLICY);
    },
  );

  it.each([
    ['"*"', '*'],
    ['an account id', { AWS: '444455556666' }],
    ['an account root', { AWS: 'arn:aws:iam::444455556666:root' }],
    ["Databricks' principal", { AWS: 'arn:aws:iam::414351767826:root' }],
    ['a GovCloud account root', { AWS: 'arn:aws-us-gov:iam::444455556666:root' }],
    ['a service principal', { Service: 'ec2.amazonaws.com' }],
    ['a role named by a key policy at the start', { AWS: ADMINS }],
    ['a role declared in aws.principals', { AWS: `arn:aws:iam::${ACCOUNT}:role/Declared` }],
    ['an STS assumed-role session', { AWS: `arn:aws:sts::${ACCOUNT}:assumed-role/KeyAdmins/alice` }],
  ])('accepts a policy naming %s', async (_, principal) => {
    // Prepare
    const kms = localKms([`arn:aws:iam::${ACCOUNT}:role/Declared`]);
    // Act
    const error = await putNaming(kms, principal);
    // Assess
    expect(error).toBeUndefined();
    expect(kms.calls().map((c) => c.error)).toEqual([undefined]);
  });

  it("knows the roles of every key's starting policy, whichever key is patched", async () => {
    // Prepare: the role is named only by the other key's policy
    const other = {
      ...POLICY,
      Statement: [
        ...POLICY.Statement,
        { ...POLICY.Statement[1], Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/Other` } },
      ],
    };
    const kms = localKms([], [{ keyId: KEY_ID }, { keyId: 'key-2', policy: other }]);
    // Act
    const error = await putNaming(kms, { AWS: `arn:aws:iam::${ACCOUNT}:role/Other` });
    // Assess
    expect(error).toBeUndefined();
  });

  it('does not check existence when built without a principal list', async () => {
    // Prepare
    const kms = localKms(undefined);
    // Act
    const error = await putNaming(kms, { AWS: `arn:aws:iam::${ACCOUNT}:role/DoesNotExist` });
    // Assess
    expect(error).toBeUndefined();
  });
});

describe('knownPrincipals', () => {
  it('holds aws.principals, the starting policies, the Databricks principal setting and the cross-account roles', () => {
    // Prepare
    const scenario = parseScenario({
      aws: {
        accountId: ACCOUNT,
        keys: [{ keyId: KEY_ID, policy: POLICY }],
        principals: [`arn:aws:iam::${ACCOUNT}:user/ops`],
      },
      databricks: { workspaces: [{ workspace_id: 1234567890123456, deployment_name: 'acme-prod' }] },
      settings: { databricksPrincipalArn: 'arn:aws:iam::999988887777:role/databricks-gov' },
    });
    // Act
    const known = knownPrincipals(scenario);
    // Assess
    expect(known).toEqual(
      expect.arrayContaining([
        `arn:aws:iam::${ACCOUNT}:user/ops`,
        ADMINS,
        'arn:aws:iam::999988887777:role/databricks-gov',
        `arn:aws:iam::${ACCOUNT}:role/databricks-cross-account-acme-prod`,
      ]),
    );
  });

  it('refuses an aws.principals entry that is not an IAM role or user ARN, naming the field', () => {
    // Act & Assess
    expect(() => parseScenario({ aws: { principals: ['alice'] } })).toThrow(/aws\.principals/);
  });
});

describe('Every shipped scenario', () => {
  const dir = join(import.meta.dirname, '../../local/scenarios');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

  it.each(files)(
    '%s: the Databricks statements the product writes name principals that exist',
    async (file) => {
      // Prepare
      const scenario = await loadScenario(join(dir, file));
      const kms = new LocalKms(scenario.aws.keys, {
        accountId: scenario.aws.accountId,
        region: scenario.aws.region,
        clock: { now: () => 0, sleep: async () => {} },
        principals: knownPrincipals(scenario),
      });
      const roles = scenario.databricks.credentials.map((c) => c.aws_credentials.sts_role.role_arn);
      const settings = scenario.settings as { databricksPrincipalArn?: string; policyAccountIds?: string[] };
      // Act: every key of the region gets every statement the product can write, for each cross-account role
      const failures: unknown[] = [];
      for (const key of scenario.aws.keys.filter((k) => k.region === scenario.aws.region)) {
        for (const ebsRoleArn of roles.length > 0 ? roles : [undefined]) {
          const grant: DatabricksGrant = {
            useCases: ['MANAGED_SERVICES', 'STORAGE'],
            databricksPrincipalArn: settings.databricksPrincipalArn ?? 'arn:aws:iam::414351767826:root',
            accountIds: settings.policyAccountIds ?? [scenario.databricks.accountId],
            reuseKeyForClusterVolumes: true,
            ...(ebsRoleArn ? { ebsRoleArn } : {}),
          };
          await ensureDatabricksKeyPolicy(kms, kms.keyArn(key.keyId), grant).catch((e: unknown) =>
            failures.push(e),
          );
        }
      }
      // Assess
      expect(failures).toEqual([]);
      expect(kms.calls().filter((c) => c.error !== undefined)).toEqual([]);
    },
  );
});
