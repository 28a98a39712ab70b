/**
 * Compute quiesce and restore around a workspace key change: snapshot, stop (pause schedules, handle active
 * runs, stop pipelines and warehouses, terminate clusters, release pool idle instances), keep it stopped,
 * and bring back exactly what ran.
 */
export { type ComputeDeps, computeDeps } from './deps.ts';
export {
  ActiveRunsPresent,
  ComputeDidNotStop,
  ComputeNotKeptStopped,
  ComputeNotRestored,
  DrainTimeout,
  SnapshotMismatch,
  SnapshotMissing,
  SnapshotUnreadable,
} from './errors.ts';
export * from './model.ts';
export { checkComputeRestored, describeNotRestored, restoreCompute } from './restore.ts';
export {
  FileSnapshotStore,
  loadSnapshot,
  MemorySnapshotStore,
  S3SnapshotStore,
  type SnapshotStore,
  setSnapshotS3Client,
  snapshotStoreFor,
} from './snapshot-store.ts';
export { checkComputeStopped, keepComputeStopped, notKeptStopped, stopCompute } from './stop.ts';
