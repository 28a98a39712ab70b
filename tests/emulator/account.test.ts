import { afterEach, describe, expect, it } from 'vitest';
import { emulatorFor, type Json, scenarioWith, WS_ID, workspace } from './helpers.ts';

type Emu = Awaited<ReturnType<typeof emulatorFor>>;
let env: Emu | undefined;
afterEach(async () => {
  await env?.emu.close();
  env = undefined;
});

const OLD = '11111111-aaaa-4bbb-8ccc-000000000001';
const NEW = '33333333-cccc-4ddd-8eee-000000000003';
const STORAGE = '22222222-bbbb-4ccc-8ddd-000000000002';
const keyConfig = (id: string, useCases: string[], key = 'k-1') => ({
  customer_managed_key_id: id,
  use_cases: useCases,
  aws_key_info: { key_arn: `arn:aws:kms:us-east-1:111122223333:key/${key}` },
});
const configs = [
  keyConfig(OLD, ['MANAGED_SERVICES']),
  keyConfig(NEW, ['MANAGED_SERVICES', 'STORAGE'], 'k-2'),
  keyConfig(STORAGE, ['STORAGE'], 'k-3'),
];

async function start(ws: Json = {}, databricks: Json = {}) {
  env = await emulatorFor(
    scenarioWith({
      keyConfigs: configs,
      workspaces: [workspace({ managed_services_customer_managed_key_id: OLD, ...ws })],
      ...databricks,
    }),
  );
  return env;
}

const patchMs = (id = NEW) =>
  [
    'PATCH',
    `/workspaces/${WS_ID}?update_mask=managed_services_customer_managed_key_id`,
    { managed_services_customer_managed_key_id: id },
  ] as const;

describe('customer-managed-keys', () => {
  it('creates a key configuration with id, account, creation time and region from the ARN', async () => {
    // Prepare
    const { account } = await start();
    // Act
    const created = await account('POST', '/customer-managed-keys', {
      use_cases: ['STORAGE'],
      aws_key_info: { key_arn: 'arn:aws:kms:eu-west-1:111122223333:key/abcd', key_alias: 'alias/x' },
    });
    const fetched = await account('GET', `/customer-managed-keys/${created.body.customer_managed_key_id}`);
    // Assess
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      account_id: '0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e',
      use_cases: ['STORAGE'],
      aws_key_info: { key_region: 'eu-west-1', key_alias: 'alias/x', reuse_key_for_cluster_volumes: true },
    });
    expect(String(created.body.customer_managed_key_id)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(fetched.body).toEqual(created.body);
  });

  it('refuses empty use cases and a key ARN that is not one', async () => {
    const { account } = await start();

    const noUseCase = await account('POST', '/customer-managed-keys', {
      use_cases: [],
      aws_key_info: { key_arn: 'arn:aws:kms:us-east-1:111122223333:key/abcd' },
    });
    const badArn = await account('POST', '/customer-managed-keys', {
      use_cases: ['MANAGED_SERVICES'],
      aws_key_info: { key_arn: 'alias/databricks' },
    });

    expect(noUseCase.status).toBe(400);
    expect(noUseCase.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(badArn.status).toBe(400);
  });

  it('lists configurations as a JSON array and answers 404 for an unknown one', async () => {
    const { account } = await start();

    const list = await account('GET', '/customer-managed-keys');
    const unknown = await account('GET', '/customer-managed-keys/nope');

    expect(Array.isArray(list.body)).toBe(true);
    expect((list.body as unknown as Json[]).map((c) => c.customer_managed_key_id)).toEqual([
      OLD,
      NEW,
      STORAGE,
    ]);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('refuses to delete a configuration a running workspace uses, and deletes an unused one', async () => {
    const { account } = await start();

    const used = await account('DELETE', `/customer-managed-keys/${OLD}`);
    const unused = await account('DELETE', `/customer-managed-keys/${STORAGE}`);
    const gone = await account('GET', `/customer-managed-keys/${STORAGE}`);

    expect(used.status).toBe(400);
    expect(used.body.error_code).toBe('INVALID_STATE');
    expect(unused.status).toBe(200);
    expect(gone.status).toBe(404);
  });
});

describe('workspace update (PATCH)', () => {
  it('moves a Databricks-managed VPC workspace through PROVISIONING to RUNNING with the new key', async () => {
    const { account, emu } = await start();

    const patch = await account(...patchMs());
    const during = await account('GET', `/workspaces/${WS_ID}`);
    emu.clock.advance(1801);
    const after = await account('GET', `/workspaces/${WS_ID}`);

    expect(patch.status).toBe(200);
    expect(patch.body).toMatchObject({
      workspace_status: 'PROVISIONING',
      managed_services_customer_managed_key_id: OLD,
    });
    expect(during.body.workspace_status).toBe('PROVISIONING');
    expect(after.body).toMatchObject({
      workspace_status: 'RUNNING',
      managed_services_customer_managed_key_id: NEW,
    });
    expect(after.body).not.toHaveProperty('network');
  });

  it('keeps a customer-managed VPC workspace RUNNING and changes the id when the update ends', async () => {
    const { account, emu } = await start({ network: 'customer-managed' });

    await account(...patchMs());
    const during = await account('GET', `/workspaces/${WS_ID}`);
    emu.clock.advance(1801);
    const after = await account('GET', `/workspaces/${WS_ID}`);

    expect(during.body).toMatchObject({
      workspace_status: 'RUNNING',
      managed_services_customer_managed_key_id: OLD,
    });
    expect(after.body).toMatchObject({
      workspace_status: 'RUNNING',
      managed_services_customer_managed_key_id: NEW,
    });
  });

  it('silently keeps the old key with the silentRevert fault, while answering 200', async () => {
    const { account, emu } = await start(
      { network: 'customer-managed' },
      { faults: [{ kind: 'silentRevert', workspace_id: WS_ID }] },
    );

    const patch = await account(...patchMs());
    emu.clock.advance(1801);
    const after = await account('GET', `/workspaces/${WS_ID}`);

    expect(patch.status).toBe(200);
    expect(after.body).toMatchObject({
      workspace_status: 'RUNNING',
      managed_services_customer_managed_key_id: OLD,
    });
  });

  it('ends the update FAILED with the failUpdate fault', async () => {
    const { account, emu } = await start({}, { faults: [{ kind: 'failUpdate', workspace_id: WS_ID }] });

    await account(...patchMs());
    emu.clock.advance(1801);
    const after = await account('GET', `/workspaces/${WS_ID}`);

    expect(after.body).toMatchObject({
      workspace_status: 'FAILED',
      managed_services_customer_managed_key_id: OLD,
    });
  });

  it('refuses the update while classic compute runs, naming what runs', async () => {
    const { account } = await start({
      clusters: [{ cluster_id: 'c-run', state: 'RUNNING' }],
      warehouses: [
        { id: 'wh-classic', state: 'RUNNING', enable_serverless_compute: false },
        { id: 'wh-serverless', state: 'RUNNING', warehouse_type: 'PRO', enable_serverless_compute: true },
      ],
      instancePools: [{ instance_pool_id: 'p-1', min_idle_instances: 1 }],
    });

    const patch = await account(...patchMs());

    expect(patch.status).toBe(400);
    expect(patch.body.error_code).toBe('INVALID_STATE');
    expect(String(patch.body.message)).toContain('c-run');
    expect(String(patch.body.message)).toContain('wh-classic');
    expect(String(patch.body.message)).toContain('p-1');
    expect(String(patch.body.message)).not.toContain('wh-serverless');
  });

  it('accepts the update once clusters are terminated and serverless warehouses still run', async () => {
    const { account, ws, emu } = await start({
      clusters: [{ cluster_id: 'c-run', state: 'RUNNING' }],
      warehouses: [{ id: 'wh-serverless', state: 'RUNNING', enable_serverless_compute: true }],
    });

    await ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-run' });
    const whileTerminating = await account(...patchMs());
    emu.clock.advance(901);
    const afterTerminated = await account(...patchMs());

    expect(whileTerminating.status).toBe(400);
    expect(afterTerminated.status).toBe(200);
  });

  it('refuses a different storage key once one is set, and treats the same value as a no-op', async () => {
    const { account } = await start({ storage_customer_managed_key_id: STORAGE });

    const different = await account(
      'PATCH',
      `/workspaces/${WS_ID}?update_mask=storage_customer_managed_key_id`,
      {
        storage_customer_managed_key_id: NEW,
      },
    );
    const same = await account('PATCH', `/workspaces/${WS_ID}?update_mask=storage_customer_managed_key_id`, {
      storage_customer_managed_key_id: STORAGE,
    });

    expect(different.status).toBe(400);
    expect(different.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(String(different.body.message)).toContain('cannot be replaced');
    expect(same.status).toBe(200);
    expect(same.body.workspace_status).toBe('RUNNING');
  });

  it('refuses an unknown key configuration and one without the needed use case', async () => {
    const { account } = await start();

    const unknown = await account(...patchMs('99999999-0000-4000-8000-000000000000'));
    const wrongUseCase = await account(...patchMs(STORAGE));

    expect(unknown.status).toBe(400);
    expect(unknown.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(wrongUseCase.status).toBe(400);
    expect(String(wrongUseCase.body.message)).toContain('MANAGED_SERVICES');
  });

  it('refuses a second update while one is in progress', async () => {
    const { account } = await start({ network: 'customer-managed' });

    await account(...patchMs());
    const second = await account('PATCH', `/workspaces/${WS_ID}`, {
      storage_customer_managed_key_id: STORAGE,
    });

    expect(second.status).toBe(400);
    expect(second.body.error_code).toBe('INVALID_STATE');
  });

  it('applies only masked fields and refuses a masked field missing from the body', async () => {
    const { account, emu } = await start({ network: 'customer-managed' });

    const missing = await account(
      'PATCH',
      `/workspaces/${WS_ID}?update_mask=storage_customer_managed_key_id`,
      {
        managed_services_customer_managed_key_id: NEW,
      },
    );
    await account('PATCH', `/workspaces/${WS_ID}?update_mask=managed_services_customer_managed_key_id`, {
      managed_services_customer_managed_key_id: NEW,
      storage_customer_managed_key_id: STORAGE,
    });
    emu.clock.advance(1801);
    const after = await account('GET', `/workspaces/${WS_ID}`);

    expect(missing.status).toBe(400);
    expect(after.body).toMatchObject({ managed_services_customer_managed_key_id: NEW });
    // The workspace has no storage key: the field is left out, never null.
    expect(after.body).not.toHaveProperty('storage_customer_managed_key_id');
  });

  it('accepts the older body-only form', async () => {
    const { account, emu } = await start();

    const patch = await account('PATCH', `/workspaces/${WS_ID}`, {
      managed_services_customer_managed_key_id: NEW,
      storage_customer_managed_key_id: NEW,
    });
    emu.clock.advance(1801);
    const after = await account('GET', `/workspaces/${WS_ID}`);

    expect(patch.status).toBe(200);
    expect(after.body).toMatchObject({
      managed_services_customer_managed_key_id: NEW,
      storage_customer_managed_key_id: NEW,
    });
  });

  it('answers 404 for an unknown workspace and 403 for another account id', async () => {
    const { account, call } = await start();

    const unknown = await account('GET', '/workspaces/42');
    const otherAccount = await call('GET', '/api/2.0/accounts/another-account/workspaces');

    expect(unknown.status).toBe(404);
    expect(otherAccount.status).toBe(403);
  });
});

describe('credentials', () => {
  it('generates a credential configuration with the cross-account role for a workspace without one', async () => {
    const { account } = await start();
    const ws = await account('GET', `/workspaces/${WS_ID}`);

    const credential = await account('GET', `/credentials/${ws.body.credentials_id}`);

    expect(credential.status).toBe(200);
    expect((credential.body.aws_credentials as { sts_role: Json }).sts_role.role_arn).toBe(
      'arn:aws:iam::111122223333:role/databricks-cross-account-acme-prod',
    );
  });
});
