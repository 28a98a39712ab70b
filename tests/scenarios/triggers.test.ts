import { describe, expect, it } from 'vitest';
import type { Report } from '../../local/runner/report.ts';
import { runScenario } from '../../local/runner/run.ts';
import { loadScenario, parseScenario } from '../../local/scenario.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

/**
 * DESIGN §3 (revised), through the runner: every event is checked before anything is acted on, a key in use
 * that stops working alarms instead of rotating (unless opted in), a KMS rotation never silently re-grants,
 * and a manual start names its workspaces. Each case asserts the call logs: no mutating call where none is
 * allowed.
 */

type Json = Record<string, unknown>;
const WS = 1234567890123456;
const OLD_KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const OLD_KEY = `arn:aws:kms:us-east-1:111122223333:key/${OLD_KEY_ID}`;
const NEW_KEY = 'arn:aws:kms:us-east-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef';

/** A shipped scenario, changed by `edit` (a deep copy of its JSON), then run. */
async function run(name: string, edit: (raw: Json & { settings: Json; input: Json }) => void = () => {}) {
  const file = new URL(`../../local/scenarios/${name}.json`, import.meta.url).pathname;
  const raw = JSON.parse(JSON.stringify(await loadScenario(file))) as Json & { settings: Json; input: Json };
  edit(raw);
  return runScenario(parseScenario(raw, name));
}

const keyOf = (raw: Json, keyId: string) =>
  ((raw.aws as Json).keys as Json[]).find((k) => k.keyId === keyId) as Json;
/** Databricks calls that change something (not reads, not the OAuth token). */
const databricksWrites = (r: Report) =>
  r.callLog.filter((e) => e.method !== 'GET' && !e.path.includes('/oidc/'));
const kmsWrites = (r: Report) => (r.kmsCalls ?? []).filter((c) => c.operation === 'PutKeyPolicy');
const output = (r: Report) => r.output as Json;
const entered = (r: Report, state: string) => r.states.filter((s) => s.name === state);

describe('Triggers: an event of another account or region is a no-op saying why', () => {
  it.each([
    ['another account', { account: '999999999999' }, 'comes from AWS account 999999999999'],
    ['another region', { region: 'eu-west-1' }, 'comes from region eu-west-1'],
    ['no account', { account: undefined }, 'carries no account'],
  ])(
    'does nothing for a DisableKey event of %s, and never looks its key id up here',
    async (_, change, why) => {
      // Act: the key id in the event exists in this account too, disabled and in use
      const report = await run('key-disabled-alarm', (raw) => Object.assign(raw.input, change));
      // Assess
      expect(report.status).toBe('SUCCEEDED');
      expect(output(report)).toMatchObject({ mode: 'noop' });
      expect(String(output(report).reason)).toContain(why);
      expect(report.kmsCalls).toEqual([]);
      expect(databricksWrites(report)).toEqual([]);
    },
  );

  it('does nothing for an event naming a key ARN of another account', async () => {
    // Act
    const report = await run('kms-rotation-event', (raw) => {
      raw.input.resources = [OLD_KEY.replace('111122223333', '444455556666')];
    });
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(String(output(report).reason)).toContain('is not a key of this deployment');
    expect(report.kmsCalls).toEqual([]);
  });

  it('does nothing when a bare key id does not resolve to a key of this account', async () => {
    // Act: the event names the key by id only (no resources), and no key of ours has it
    const report = await run('key-disabled-alarm', (raw) => {
      const detail = raw.input.detail as Json;
      detail.resources = [];
      detail.requestParameters = { keyId: '0000aaaa-0000-0000-0000-000000000000' };
    });
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(String(output(report).reason)).toContain('does not resolve to a key of this deployment');
    expect(kmsWrites(report)).toEqual([]);
    expect(databricksWrites(report)).toEqual([]);
  });
});

describe('Triggers: a key in use that stops working alarms, it does not rotate by default', () => {
  it('succeeds with a notice, at once, for a stale DisableKey of a key enabled again', async () => {
    // Act
    const report = await run('key-disabled-alarm', (raw) => {
      keyOf(raw, OLD_KEY_ID).state = 'Enabled';
    });
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(String(output(report).reason)).toMatch(/^notice: DisableKey of .* but the key is Enabled now/);
    expect(entered(report, "Give the key's owners time to undo it")).toEqual([]);
    expect(kmsWrites(report)).toEqual([]);
    expect(databricksWrites(report)).toEqual([]);
  });

  it('re-reads the key after the grace delay and succeeds with a notice when it was enabled again meanwhile', async () => {
    // Act: the security team re-enables the key 4 minutes in
    const report = await run('key-disabled-alarm', (raw) => {
      keyOf(raw, OLD_KEY_ID).stateChanges = [{ afterSeconds: 240, state: 'Enabled' }];
    });
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(String(output(report).reason)).toContain('read again after 10 min');
    const recheck = entered(report, 'Re-check the key');
    expect(recheck).toHaveLength(1);
    expect(recheck[0]?.enteredAt).toBeGreaterThanOrEqual(600);
    expect(kmsWrites(report)).toEqual([]);
    expect(databricksWrites(report)).toEqual([]);
  });

  it('fails with KeyInUseDisabled, naming the workspace and the command that undoes it, touching no compute', async () => {
    // Act
    const report = await run('key-disabled-alarm');
    // Assess
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('KeyInUseDisabled');
    expect(report.error?.cause).toContain(`${WS} (prod) (MANAGED_SERVICES)`);
    expect(report.error?.cause).toContain(`aws kms enable-key --key-id ${OLD_KEY} --region us-east-1`);
    expect(report.error?.cause).toContain('still was 10 min later');
    expect(kmsWrites(report)).toEqual([]);
    expect(databricksWrites(report)).toEqual([]);
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
  });

  it('fails with KeyInUsePendingDeletion for a scheduled deletion, saying to cancel it and enable the key', async () => {
    // Act
    const report = await run('key-disabled-alarm', (raw) => {
      keyOf(raw, OLD_KEY_ID).state = 'PendingDeletion';
      const detail = raw.input.detail as Json;
      detail.eventName = 'ScheduleKeyDeletion';
      detail.requestParameters = { keyId: OLD_KEY_ID, pendingWindowInDays: 7 };
    });
    // Assess
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('KeyInUsePendingDeletion');
    expect(report.error?.cause).toContain(`aws kms cancel-key-deletion --key-id ${OLD_KEY}`);
    expect(databricksWrites(report)).toEqual([]);
  });

  it('with emergencyRotation, rotates to the watched alias target only after the same re-check', async () => {
    // Act
    const report = await run('key-disabled-emergency');
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(entered(report, 'Re-check the key')).toHaveLength(1);
    const firstStop = report.callLog.find((e) => e.method === 'POST' && /clusters\/delete/.test(e.path));
    expect(firstStop?.t).toBeGreaterThanOrEqual(600);
    const ws = (report.final.databricks.workspaces as Json[]).find((w) => w.workspace_id === WS) as Json;
    const config = (report.final.databricks.keyConfigs as Json[]).find(
      (c) => c.customer_managed_key_id === ws.managed_services_customer_managed_key_id,
    );
    expect((config?.aws_key_info as Json | undefined)?.key_arn).toBe(NEW_KEY);
  });
});

describe('Triggers: a KMS rotation never silently re-grants', () => {
  it('fails with KeyPolicyDrift naming the missing statement, and writes nothing, by default', async () => {
    // Act: the scenario's key policy no longer grants Databricks
    const report = await run('kms-rotation-event');
    // Assess
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('KeyPolicyDrift');
    expect(report.error?.cause).toContain('Allow Databricks to use KMS key for managed services');
    expect(kmsWrites(report)).toEqual([]);
    expect(databricksWrites(report)).toEqual([]);
  });

  it('re-patches when the deployment sets repairPolicyOnRotation, touching no compute', async () => {
    // Act
    const report = await run('kms-rotation-event', (raw) => {
      raw.settings.repairPolicyOnRotation = true;
    });
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(kmsWrites(report)).toHaveLength(1);
    expect(databricksWrites(report)).toEqual([]);
  });

  it('re-patches when a manual verification asks for repair', async () => {
    // Act
    const report = await run('kms-rotation-event', (raw) => {
      raw.input = { verify: true, keyArn: OLD_KEY, workspaceIds: [WS], repairPolicy: true };
    });
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(kmsWrites(report)).toHaveLength(1);
    expect(databricksWrites(report)).toEqual([]);
  });
});

describe('Triggers: a manual start names its workspaces', () => {
  it('refuses a start without workspaceIds or WORKSPACE_IDS with InvalidInput, touching nothing', async () => {
    // Act
    const report = await run('rotate-managed-services', (raw) => {
      delete raw.settings.workspaceIds;
      delete raw.input.workspaceIds;
    });
    // Assess
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('InvalidInput');
    expect(report.error?.cause).toContain('"allWorkspaces": true');
    expect(report.kmsCalls).toEqual([]);
    expect(report.callLog).toEqual([]);
  });

  it('with "allWorkspaces": true, a dry run says how many workspaces it would touch', async () => {
    // Act
    const report = await run('rotate-managed-services', (raw) => {
      delete raw.settings.workspaceIds;
      delete raw.input.workspaceIds;
      Object.assign(raw.input, { allWorkspaces: true, dryRun: true });
    });
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(output(report)).toMatchObject({ dryRun: true, workspaceCount: 1 });
    expect(String(output(report).reason)).toMatch(/^dry run, nothing changed: .*would rotate 1 workspace/);
    expect(kmsWrites(report)).toEqual([]);
    expect(databricksWrites(report)).toEqual([]);
  });
});
