import { afterEach, describe, expect, it } from 'vitest';
import { emulatorFor, type Json, scenarioWith, WS_ID, workspace } from './helpers.ts';

/**
 * The emulator's record of each workspace update (`workspaceUpdates()`): what the local runner ends the
 * "nothing runs while the workspace updates" window with (DESIGN §6.5), instead of what the product saw.
 */

type Emu = Awaited<ReturnType<typeof emulatorFor>>;
let env: Emu | undefined;
afterEach(async () => {
  await env?.emu.close();
  env = undefined;
});

const OLD = '11111111-aaaa-4bbb-8ccc-000000000001';
const NEW = '33333333-cccc-4ddd-8eee-000000000003';
const keyConfig = (id: string, useCases: string[], key: string) => ({
  customer_managed_key_id: id,
  use_cases: useCases,
  aws_key_info: { key_arn: `arn:aws:kms:us-east-1:111122223333:key/${key}` },
});

async function start(ws: Json = {}, databricks: Json = {}) {
  env = await emulatorFor(
    scenarioWith({
      keyConfigs: [
        keyConfig(OLD, ['MANAGED_SERVICES'], 'k-1'),
        keyConfig(NEW, ['MANAGED_SERVICES', 'STORAGE'], 'k-2'),
      ],
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

describe('The record of workspace updates', () => {
  it('records a customer-managed VPC update from the accepted PATCH to when its key id changed', async () => {
    // Prepare: the update takes 1800 s (SLOW_TIMINGS); the workspace stays RUNNING meanwhile
    const { account, emu } = await start({ network: 'customer-managed' });
    // Act
    const patch = await account(...patchMs());
    const acceptedAt = emu.callLog().find((e) => e.method === 'PATCH')?.t ?? Number.NaN;
    emu.clock.advance(900);
    const during = emu.workspaceUpdates();
    const duringAnswer = await account('GET', `/workspaces/${WS_ID}`);
    emu.clock.advance(901);
    const after = emu.workspaceUpdates();
    // Assess: the HTTP answers are as before; the record tells what the answers do not
    expect(patch.status).toBe(200);
    expect(duringAnswer.body).toMatchObject({
      workspace_status: 'RUNNING',
      managed_services_customer_managed_key_id: OLD,
    });
    // (The call log keeps its times to the millisecond; the record keeps them as simulated.)
    const startedAt = during[0]?.startedAt ?? Number.NaN;
    expect(startedAt).toBeCloseTo(acceptedAt, 3);
    expect(during).toEqual([
      { workspaceId: WS_ID, startedAt, changes: { managed_services_customer_managed_key_id: NEW } },
    ]);
    expect(after).toEqual([
      {
        workspaceId: WS_ID,
        startedAt,
        changes: { managed_services_customer_managed_key_id: NEW },
        endedAt: startedAt + 1800,
        outcome: 'applied',
      },
    ]);
  });

  it.each([
    ['reverted', { kind: 'silentRevert', workspace_id: WS_ID }],
    ['failed', { kind: 'failUpdate', workspace_id: WS_ID }],
  ])('records an update that ended %s, with when it ended', async (outcome, fault) => {
    // Prepare
    const { account, emu } = await start({}, { faults: [fault] });
    // Act
    await account(...patchMs());
    emu.clock.advance(1801);
    const [update] = emu.workspaceUpdates();
    // Assess
    expect(update?.outcome).toBe(outcome);
    expect(update?.endedAt).toBe((update?.startedAt ?? Number.NaN) + 1800);
  });

  it('records no update for a PATCH that changes nothing or is refused', async () => {
    // Prepare: a running cluster makes Databricks refuse the key change
    const { account, emu } = await start({ clusters: [{ cluster_id: 'c-1', state: 'RUNNING' }] });
    // Act
    const same = await account(...patchMs(OLD));
    const refused = await account(...patchMs());
    // Assess
    expect(same.status).toBe(200);
    expect(refused.status).toBe(400);
    expect(emu.workspaceUpdates()).toEqual([]);
  });

  it('hands out a copy: changing it changes nothing in the emulator', async () => {
    // Prepare
    const { account, emu } = await start();
    await account(...patchMs());
    // Act
    const [copy] = emu.workspaceUpdates();
    if (copy) {
      copy.endedAt = 1;
      copy.changes.managed_services_customer_managed_key_id = 'x';
    }
    // Assess
    expect(emu.workspaceUpdates()[0]).not.toHaveProperty('endedAt');
    expect(emu.workspaceUpdates()[0]?.changes).toEqual({ managed_services_customer_managed_key_id: NEW });
  });
});
