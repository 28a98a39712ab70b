import { RotatorError } from '../errors.ts';

/** A workspace id named by the input or the settings does not exist in the Databricks account. */
export class WorkspaceNotFound extends RotatorError {}

/** The workspace is not `RUNNING` (provisioning, failed, banned…), so its key must not be changed now. */
export class WorkspaceNotRunning extends RotatorError {}

/** Databricks never replaces a storage key once set: the workspace already has a different one. */
export class StorageKeyAlreadySet extends RotatorError {}

/** The target key's policy does not (or no longer) grant Databricks what the use cases need: no PATCH. */
export class KeyPolicyMissingDatabricksGrant extends RotatorError {}

/**
 * An explicit Deny in the target key's policy applies to Databricks for an action it needs (DESIGN §6.9):
 * KMS lets a Deny win over every Allow, so the key is refused and nothing is PATCHed.
 */
export class KeyPolicyDeniesDatabricks extends RotatorError {}

/** The workspace went to `FAILED` or `BANNED` after the key update. */
export class WorkspaceUpdateFailed extends RotatorError {}

/** The workspace is `RUNNING` again but still on the old key configuration: the update silently reverted. */
export class WorkspaceUpdateReverted extends RotatorError {}

/** The workspace did not come back `RUNNING` on the new key before the deadline. */
export class WorkspaceUpdateTimedOut extends RotatorError {}
