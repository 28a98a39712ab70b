import { dynamodbClient } from '../lib/aws/dynamodb.ts';
import { kmsClient } from '../lib/aws/kms.ts';
import { openPointerOf, snapshotStoreFor } from '../lib/compute/snapshot-store.ts';
import { databricksFor } from '../lib/databricks/index.ts';
import {
  EVENT_RECORD_TTL_SECONDS,
  ExecutionArnSchema,
  readLock,
  recordEventOnce,
} from '../lib/lock/index.ts';
import { logger } from '../lib/log.ts';
import { planRotation } from '../lib/plan/plan.ts';
import { storeLongPlan } from '../lib/plan/stored.ts';
import { requireLockTable } from '../lib/settings.ts';
import * as z from '../lib/zod.ts';
import { defineStep } from './commons/handler.ts';

/**
 * The plan step's input: the execution input (manual input or EventBridge event) as it came, the
 * execution's ARN (`$$.Execution.Id`), which records the event as handled by this execution, and when it
 * started (`$$.Execution.StartTime`), which bounds a `waitForLock` wait.
 */
export const PlanStepInputSchema = z.object({
  input: z.unknown(),
  executionArn: ExecutionArnSchema,
  startedAt: z.optional(z.iso.datetime({ offset: true })),
  /** Set by "Re-check the key": the second look at a key in use that stopped working (plan mode `recheck`). */
  recheck: z.optional(z.boolean()),
});

/** Plan the rotation: the execution input or an EventBridge event becomes an explicit Plan (DESIGN §3). */
export const handler = defineStep(
  'plan',
  PlanStepInputSchema,
  async ({ input, executionArn, startedAt, recheck }, env) => {
    const plan = await planRotation(input, {
      settings: env.settings,
      kms: kmsClient(),
      account: databricksFor(env.settings).account,
      now: env.clock.now(),
      ...(startedAt === undefined ? {} : { startedAt: Date.parse(startedAt) }),
      ...(recheck === undefined ? {} : { recheck }),
      lockHolder: async (workspaceId) => {
        const table = requireLockTable(env.settings, 'see whether a workspace is locked (waitForLock)');
        const lock = await readLock(dynamodbClient(), table, workspaceId);
        const holder = lock?.holder?.S;
        const expiresAt = Number(lock?.expiresAt?.N ?? 0);
        // An expired lease holds nothing, whether or not DynamoDB's TTL has deleted it yet.
        return holder !== undefined && expiresAt * 1000 > env.clock.now() ? holder : undefined;
      },
      openSnapshot: (workspaceId) => openPointerOf(workspaceId, snapshotStoreFor(env.settings)),
      recordEvent: (eventId) =>
        recordEventOnce(
          dynamodbClient(),
          requireLockTable(env.settings, 'recognise a second delivery of the same EventBridge event'),
          { eventId, holder: executionArn, ttlSeconds: EVENT_RECORD_TTL_SECONDS, now: env.clock.now() },
        ),
    });
    logger.info('plan', {
      mode: plan.mode,
      dryRun: plan.dryRun,
      reason: plan.reason,
      trigger: plan.trigger,
      targetKeyArn: plan.target?.keyArn,
      workspaceIds: plan.workspaces.map((w) => w.workspaceId),
      emergency: plan.emergency,
    });
    // A long plan is kept in the snapshot store; the state carries only the workspace ids (256 KB per state).
    return storeLongPlan(plan, snapshotStoreFor(env.settings), executionArn);
  },
);
