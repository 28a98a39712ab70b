import { ApiError } from '@databricks/sdk-experimental';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_CONFIG_ID, KEY_CONFIGS, NEW_KEY_ARN, workspaceWithEverything } from './fixtures.ts';
import { ACCOUNT, answerMisfits, scenarioWith, sdkAgainstEmulator, WS_ID } from './harness.ts';

/**
 * The Account API through the SDK's AccountClient: encryption keys (customer-managed key configurations) and
 * workspaces. Every answer is held against the SDK's models at the end.
 */
let env: Awaited<ReturnType<typeof sdkAgainstEmulator>>;

beforeAll(async () => {
  // No compute runs, so the workspace may be updated.
  env = await sdkAgainstEmulator(
    scenarioWith({
      keyConfigs: KEY_CONFIGS,
      workspaces: [
        workspaceWithEverything({
          clusters: [],
          instancePools: [],
          warehouses: [],
          runs: [],
          pipelines: [],
          jobs: [],
        }),
      ],
    }),
  );
});

afterAll(async () => {
  await env?.emu.close();
});

describe('Encryption keys (customer-managed keys) through the SDK', () => {
  it('creates a key configuration, then lists and gets it', async () => {
    const created = await env.account.encryptionKeys.create({
      use_cases: ['MANAGED_SERVICES'],
      aws_key_info: { key_arn: NEW_KEY_ARN, key_alias: 'alias/databricks-ms-2026' },
    });
    const got = await env.account.encryptionKeys.get({
      customer_managed_key_id: created.customer_managed_key_id ?? '',
    });
    const listed = await env.account.encryptionKeys.list();

    expect(created).toMatchObject({
      account_id: ACCOUNT,
      use_cases: ['MANAGED_SERVICES'],
      aws_key_info: { key_arn: NEW_KEY_ARN, key_region: 'us-east-1' },
    });
    expect(got).toEqual(created);
    // The SDK's ApiClient turns a JSON array answer into an object keyed by index (Object.assign({}, array)).
    expect(Object.values(listed).map((k) => k.customer_managed_key_id)).toEqual([
      KEY_CONFIG_ID,
      created.customer_managed_key_id,
    ]);
  });
});

describe('Workspaces through the SDK', () => {
  it('gets a workspace without the fields a scenario set to null', async () => {
    const ws = await env.account.workspaces.get({ workspace_id: WS_ID });

    expect(ws).toMatchObject({ workspace_id: WS_ID, workspace_status: 'RUNNING' });
    expect('storage_customer_managed_key_id' in ws).toBe(false);
  });

  it('refuses the SDK update, whose PATCH goes out without its body (SDK 0.17.0 sends bodies only on POST/PUT)', async () => {
    const newest =
      Object.values(await env.account.encryptionKeys.list()).at(-1)?.customer_managed_key_id ?? '';

    const refused = await env.account.workspaces
      .update({
        workspace_id: WS_ID,
        customer_facing_workspace: { managed_services_customer_managed_key_id: newest },
        update_mask: 'managed_services_customer_managed_key_id',
      })
      .catch((error: unknown) => error);
    const log = env.emu.callLog().filter((e) => e.method === 'PATCH');

    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ statusCode: 400, errorCode: 'INVALID_PARAMETER_VALUE' });
    expect(log.at(-1)?.body).toBeUndefined();
  });

  it('applies the same PATCH sent with its body (SDK auth), and the SDK sees the new key once RUNNING', async () => {
    const keys = Object.values(await env.account.encryptionKeys.list());
    const newest = keys.at(-1)?.customer_managed_key_id ?? '';
    const headers = new Headers({ 'Content-Type': 'application/json' });
    await env.account.config.authenticate(headers);

    const answer = await fetch(
      `${env.emu.url}/api/2.0/accounts/${ACCOUNT}/workspaces/${WS_ID}?update_mask=managed_services_customer_managed_key_id`,
      {
        method: 'PATCH',
        headers,
        body: JSON.stringify({ managed_services_customer_managed_key_id: newest }),
      },
    );
    const patched = await answer.json();
    let ws = await env.account.workspaces.get({ workspace_id: WS_ID });
    for (let i = 0; i < 150 && ws.managed_services_customer_managed_key_id !== newest; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ws = await env.account.workspaces.get({ workspace_id: WS_ID });
    }

    expect(answer.status).toBe(200);
    expect(answerMisfits('PATCH', `/api/2.0/accounts/${ACCOUNT}/workspaces/${WS_ID}`, patched)).toEqual([]);
    expect(ws).toMatchObject({
      workspace_status: 'RUNNING',
      managed_services_customer_managed_key_id: newest,
    });
  });

  it('refuses a PATCH that names no updatable field', async () => {
    const headers = new Headers({ 'Content-Type': 'application/json' });
    await env.account.config.authenticate(headers);

    const answer = await fetch(`${env.emu.url}/api/2.0/accounts/${ACCOUNT}/workspaces/${WS_ID}`, {
      method: 'PATCH',
      headers,
      body: JSON.stringify({ workspace_name: 'renamed' }),
    });

    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE' });
  });
});

describe('Every answer the SDK received', () => {
  it('fits the SDK model of its endpoint: no undeclared field, no value outside an enum, no null', () => {
    const problems = env.seen.flatMap((a) =>
      answerMisfits(a.method, a.path, toArray(a.method, a.path, a.body)).map(
        (m) => `${a.method} ${a.path} ${m.path} ${m.problem}`,
      ),
    );

    expect(env.seen.length).toBeGreaterThan(5);
    expect(problems).toEqual([]);
  });
});

/** Undoes the ApiClient's `Object.assign({}, array)` on the account list answers. */
function toArray(method: string, path: string, body: unknown): unknown {
  const list = method === 'GET' && /\/(workspaces|customer-managed-keys)$/.test(path);
  return list ? Object.values(body as object) : body;
}
