import type { Clock } from '../clock.ts';
import type { WorkspaceApi } from '../databricks/api.ts';
import { databricksFor } from '../databricks/index.ts';
import type { Settings } from '../settings.ts';
import { type SnapshotStore, snapshotStoreFor } from './snapshot-store.ts';

/** What the compute steps need: one workspace's API, the snapshot store, limits and the run's clock. */
export interface ComputeDeps {
  api: WorkspaceApi;
  store: SnapshotStore;
  settings: Pick<Settings, 'apiConcurrency' | 'computeStopTimeoutMinutes' | 'computeRestoreTimeoutMinutes'>;
  /** Epoch ms on the run's clock (the scaled clock in local mode). */
  now(): number;
}

/** Builds the deps of a compute step from the step environment (`defineStep`'s `env`). */
export function computeDeps(
  item: { workspace: { deploymentName: string } },
  env: { settings: Settings; clock: Clock },
): ComputeDeps {
  return {
    api: databricksFor(env.settings).workspace(item.workspace.deploymentName),
    store: snapshotStoreFor(env.settings),
    settings: env.settings,
    now: () => env.clock.now(),
  };
}
