/**
 * The per-workspace lease lock and the record of handled EventBridge events (DESIGN §6.6), in one DynamoDB
 * table (LOCK_TABLE). docs/lock.md explains the lease, its renewal and release, and the abort rule.
 */
export { LockTableError, WorkspaceBusy, WorkspaceLockLost } from './errors.ts';
export { EVENT_RECORD_TTL_SECONDS, type EventRecord, recordEventOnce } from './events.ts';
export {
  ExecutionArnSchema,
  HeldLockSchema,
  holdLease,
  keepLease,
  type LockEnv,
  leaseSeconds,
  lockEnv,
  renewIfHeld,
} from './item.ts';
export {
  type AcquireRequest,
  acquireWorkspaceLock,
  type HeldLock,
  readLock,
  releaseLocksHeldBy,
  releaseWorkspaceLock,
  renewWorkspaceLock,
} from './lease.ts';
export {
  AcquireLockInputSchema,
  ExecutionEndedEventSchema,
  giveUpWorkspaceLock,
  type LockOutcome,
  ReleaseLockInputSchema,
  releaseLocksOfEndedExecution,
  takeWorkspaceLock,
} from './steps.ts';
export { LOCK_TABLE_SCHEMA, LOCK_TABLE_TTL_ATTRIBUTE } from './table.ts';
