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

/**
 * A key that workspaces use is disabled (after the grace delay it still was): their data is unreadable once
 * Databricks' key cache expires. Undone by `aws kms enable-key`.
 */
export class KeyInUseDisabled extends RotatorError {}

/** A key that workspaces use is pending deletion: undone by `aws kms cancel-key-deletion` then `enable-key`. */
export class KeyInUsePendingDeletion extends RotatorError {}

/** The imported key material of a key that workspaces use expired: undone by importing the same material. */
export class KeyMaterialExpired extends RotatorError {}

/** A key that workspaces use no longer exists (deleted): nothing undoes it. */
export class KeyInUseDeleted extends RotatorError {}
