import type { WorkspaceApi } from '../../lib/databricks/api.ts';

/** A workspace where everything is stopped: every list is empty, and nothing is to stop. */
export const quietWorkspace = {
  deploymentName: 'fake',
  listClusters: async () => [],
  listInstancePools: async () => [],
  listWarehouses: async () => [],
  listJobs: async () => [],
  listRuns: async () => [],
  listPipelines: async () => [],
} as unknown as WorkspaceApi;
