import { RotatorError } from '../errors.ts';

/**
 * Named lock errors (DESIGN §6.6). The class name is the stable error name the state machine's Retry/Catch
 * match on; messages name the workspace and the execution that holds it, and say what to do next.
 */

/** Another execution holds the workspace's lock: this one touched nothing. */
export class WorkspaceBusy extends RotatorError {}

/**
 * This execution no longer holds the workspace's lock (another execution took it after the lease ran out,
 * or it was released): it must stop changing the workspace and compensate.
 */
export class WorkspaceLockLost extends RotatorError {}

/** DynamoDB refused a lock-table call for a reason retrying will not fix (access denied, bad request). */
export class LockTableError extends RotatorError {}
