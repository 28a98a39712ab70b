import { RotatorError } from '../errors.ts';

/** The plan step received an event it does not handle (only the KMS events of DESIGN §3 trigger it). */
export class UnsupportedEvent extends RotatorError {}

/** No workspace is in scope (none named, none configured, or the account has none that applies). */
export class NoWorkspacesInScope extends RotatorError {}

/** A key in use is being disabled or deleted and the watched alias names no usable successor. */
export class KeyInUseWithoutSuccessor extends RotatorError {}

/** A key that recently protected a workspace is being retired before its retention window ended. */
export class OldKeyRetiredTooEarly extends RotatorError {}

/** A key used for STORAGE is being disabled or deleted: storage keys can never be replaced. */
export class StorageKeyCannotBeRotated extends RotatorError {}

/** At these settings one workspace's rotation could outgrow Step Functions' execution history (§6.10). */
export class HistoryBudgetExceeded extends RotatorError {}
