import { fileURLToPath } from 'node:url';
import type { Target } from '../../cli/context.ts';
import { capturingIo } from '../../cli/io.ts';
import { main } from '../../cli/main.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const scenarioPath = (name: string) => `${ROOT}local/scenarios/${name}.json`;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The target the command built (scenario commands: the emulator and the KMS stand-in it used). */
  target: Target | undefined;
  /** The emulator's and the KMS stand-in's state when the command had built its target, before it worked. */
  before: { databricks: unknown; keys: unknown } | undefined;
}

/** Runs `cmk-rotator <argv>` in process, capturing its output. */
export async function cli(argv: string[]): Promise<CliRun> {
  const io = capturingIo();
  let target: Target | undefined;
  let before: CliRun['before'];
  const code = await main(argv, io, {
    onTarget: (t) => {
      target = t;
      if (t.scenario) before = { databricks: t.scenario.emulator.state(), keys: t.scenario.kms.keys() };
    },
  });
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n'), target, before };
}

/** Every request the emulator saw, as `METHOD path` (query dropped). */
export function requests(run: CliRun): string[] {
  return (run.target?.scenario?.emulator.callLog() ?? []).map((e) => `${e.method} ${e.path.split('?')[0]}`);
}

/** A request that changes something: anything but a GET and the OAuth token requests. */
export function mutating(run: CliRun): string[] {
  return requests(run).filter(
    (r) => !r.startsWith('GET ') && !/^POST \/oidc\/(accounts\/[^/]+\/)?v1\/token$/.test(r),
  );
}

/**
 * What only a mutating call changes in the emulator's state (a cluster's or a run's state also moves with
 * time alone): key configurations, each workspace's key fields, job settings and pool idle settings.
 */
export function settled(state: unknown): unknown {
  const s = state as { keyConfigs: unknown[]; workspaces: Array<Record<string, unknown>> };
  return {
    keyConfigs: s.keyConfigs,
    workspaces: s.workspaces.map((w) => ({
      id: w.workspace_id,
      managedServices: w.managed_services_customer_managed_key_id,
      storage: w.storage_customer_managed_key_id,
      jobs: ((w.jobs as Array<Record<string, unknown>> | undefined) ?? []).map((j) => j.settings),
      pools: ((w.instancePools as Array<Record<string, unknown>> | undefined) ?? []).map((p) => [
        p.instance_pool_id,
        p.min_idle_instances,
        p.idle_instance_autotermination_minutes,
      ]),
    })),
  };
}
