import type { SdkClient } from '../aws/clients.ts';
import { dynamodbClient } from '../aws/dynamodb.ts';
import { logger } from '../log.ts';
import { requireLockTable, type Settings } from '../settings.ts';
import { parseInput } from '../validate.ts';
import * as z from '../zod.ts';
import { WorkspaceBusy, WorkspaceLockLost } from './errors.ts';
import { acquireWorkspaceLock, type HeldLock, lockLostTo, renewWorkspaceLock } from './lease.ts';

/** An execution ARN (`$$.Execution.Id`): the holder of a lock. */
export const ExecutionArnSchema = z.string().check(z.minLength(1), z.maxLength(2048));

/** What the state machine stores under `item.lock` once the lock is taken (acquire's result). */
export const HeldLockSchema = z.object({ holder: ExecutionArnSchema, expiresAt: z.number() });

/** What a step needs to use the lock: the DynamoDB client, the settings, and the time (epoch ms). */
export interface LockEnv {
  client: SdkClient;
  settings: Pick<Settings, 'lockTable' | 'lockLeaseMinutes'>;
  now: number;
}

/** The lease of a lock taken or renewed now (LOCK_LEASE_MINUTES). */
export function leaseSeconds(settings: Pick<Settings, 'lockLeaseMinutes'>): number {
  return settings.lockLeaseMinutes * 60;
}

/**
 * Renews the workspace lock the item holds (`item.lock`, acquire's result) for another lease: what every
 * poll step calls so that a long rotation keeps its lock. A no-op (`undefined`) when the item carries no
 * held lock (an execution that never locked, or one still waiting with `lock.busy`). The lock taken over by
 * another execution, or gone: `WorkspaceLockLost`.
 */
export async function renewIfHeld(
  item: { workspace: { workspaceId: number }; lock?: unknown },
  env: LockEnv,
): Promise<HeldLock | undefined> {
  if (item.lock === undefined || item.lock === null) return undefined;
  if ((item.lock as { busy?: unknown }).busy === true) return undefined;
  const held = parseInput(HeldLockSchema, item.lock, 'the lock the item carries (lock)');
  return renewWorkspaceLock(env.client, requireLockTable(env.settings, 'renew the workspace lock'), {
    workspaceId: item.workspace.workspaceId,
    holder: held.holder,
    leaseSeconds: leaseSeconds(env.settings),
    now: env.now,
  });
}

/** The lock environment of a step (`defineStep`'s `env`). */
export function lockEnv(env: { settings: LockEnv['settings']; clock: { now(): number } }): LockEnv {
  return { client: dynamodbClient(), settings: env.settings, now: env.clock.now() };
}

/**
 * The polls' renewal (check-compute-stopped, check-workspace, check-workspace-settled,
 * check-compute-restored): best effort. A renewal that fails is logged, never thrown: failing a poll would
 * send the rotation down its compensation path, restarting compute in the middle of a key change — worse
 * than a lease that runs out (the lease outlasts any gap between polls many times over).
 */
export async function keepLease(
  item: { workspace: { workspaceId: number }; lock?: unknown },
  env: Parameters<typeof lockEnv>[0],
): Promise<void> {
  if (item.lock === undefined || item.lock === null) return;
  try {
    await renewIfHeld(item, lockEnv(env));
  } catch (error) {
    logger.error('the workspace lock could not be renewed; the rotation goes on', {
      workspaceId: item.workspace.workspaceId,
      errorName: (error as Error).name,
      error: (error as Error).message,
    });
  }
}

/**
 * Before a step that changes the workspace or its key (patch the policy, register the key, stop compute,
 * PATCH the workspace): renew the lease, so that no chain of Task retries outlasts it (each attempt renews),
 * and refuse to change anything once another execution holds the workspace (`WorkspaceLockLost`: the
 * compensation path follows). A lock that is simply gone (released by the abort rule, or expired and
 * deleted) while nobody else took it is taken again. Any other lock-table failure is logged and the step
 * goes on: DynamoDB unavailable to this execution is unavailable to any other that would take the lock.
 */
export async function holdLease(
  item: { workspace: { workspaceId: number }; lock?: unknown; rootExecution?: unknown },
  env: Parameters<typeof lockEnv>[0],
): Promise<void> {
  if (item.lock === undefined || item.lock === null) return;
  const lock = lockEnv(env);
  try {
    await renewIfHeld(item, lock);
  } catch (error) {
    if (error instanceof WorkspaceLockLost) {
      const heldBy = (error.details as { heldBy?: unknown } | undefined)?.heldBy;
      if (heldBy !== undefined) throw error;
      const held = parseInput(HeldLockSchema, item.lock, 'the lock the item carries (lock)');
      try {
        await acquireWorkspaceLock(
          lock.client,
          requireLockTable(lock.settings, 'take the workspace lock again'),
          {
            workspaceId: item.workspace.workspaceId,
            holder: held.holder,
            ...(typeof item.rootExecution === 'string' ? { rootExecution: item.rootExecution } : {}),
            leaseSeconds: leaseSeconds(lock.settings),
            now: lock.now,
          },
        );
      } catch (retake) {
        // Another execution took the lapsed lock first: lost, not "busy" (this one is mid-rotation).
        if (retake instanceof WorkspaceBusy)
          throw lockLostTo(item.workspace.workspaceId, held.holder, retake);
        throw retake;
      }
      logger.warn('the workspace lock had lapsed and nobody took it: taken again', {
        workspaceId: item.workspace.workspaceId,
      });
      return;
    }
    logger.error('the workspace lock could not be renewed; the step goes on', {
      workspaceId: item.workspace.workspaceId,
      errorName: (error as Error).name,
      error: (error as Error).message,
    });
  }
}
