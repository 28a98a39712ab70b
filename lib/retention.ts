import { z } from 'zod';
import { RotatorError } from './errors.ts';
import { PlanSchema } from './rotation.ts';

/** One Map iteration's result, as the state machine's Pass states shape it. */
export const RotationResultSchema = z.looseObject({
  workspaceId: z.number(),
  status: z.enum(['ROTATED', 'FAILED']),
  keyChanged: z.boolean().optional(),
  computeRestored: z.boolean().optional(),
  error: z.string().optional(),
  cause: z.string().optional(),
  restoreError: z.string().optional(),
  restoreCause: z.string().optional(),
  update: z.looseObject({ patchedAt: z.number().optional() }).optional(),
});
export type RotationResult = z.infer<typeof RotationResultSchema>;

export const FinishInputSchema = z.object({ plan: PlanSchema, rotations: z.array(RotationResultSchema) });
export type FinishInput = z.infer<typeof FinishInputSchema>;

export interface RetentionNotice {
  /** RFC 3339 time after which the old key(s) may be retired (the Wait state's TimestampPath). */
  retainUntil: string;
  /** The last workspace update (epoch ms) the retention counts from. */
  lastUpdateAt: number;
  oldKeyRetentionHours: number;
  oldKeyArns: string[];
  newKeyArn: string;
  workspaceIds: number[];
}

/**
 * The execution fails with this when a workspace failed. Its `name` is the workspace's own error name when
 * every failed workspace failed the same way (e.g. `WorkspaceUpdateReverted`), so alarms and runbooks can
 * key on it; `RotationFailed` otherwise.
 */
export class RotationFailed extends RotatorError {}

/**
 * Decides how a rotation ends: throws when any workspace failed (naming each workspace, its error, and
 * whether its compute was restored), else returns when the old key(s) may be retired.
 */
export function finishRotation(input: FinishInput, now: number): RetentionNotice {
  const failed = input.rotations.filter((r) => r.status === 'FAILED');
  if (failed.length > 0) throw rotationFailure(input, failed);
  const updates = input.rotations
    .map((r) => r.update?.patchedAt)
    .filter((t): t is number => typeof t === 'number');
  const lastUpdateAt = updates.length > 0 ? Math.max(...updates) : now;
  const hours = input.plan.oldKeyRetentionHours;
  return {
    retainUntil: new Date(lastUpdateAt + hours * 3_600_000).toISOString(),
    lastUpdateAt,
    oldKeyRetentionHours: hours,
    oldKeyArns: input.plan.oldKeyArns,
    newKeyArn: input.plan.target?.keyArn ?? '',
    workspaceIds: input.rotations.map((r) => r.workspaceId),
  };
}

function rotationFailure(input: FinishInput, failed: RotationResult[]): RotationFailed {
  const lines = failed.map((r) => {
    const restored =
      r.computeRestored === false
        ? `compute NOT fully restored (${r.restoreError ?? 'unknown'}: ${r.restoreCause ?? ''})`
        : 'compute restored to its pre-rotation state';
    const key = r.keyChanged ? 'key changed' : 'key change not confirmed';
    return `workspace ${r.workspaceId}: ${r.error ?? 'Error'}: ${r.cause ?? ''} [${key}; ${restored}]`;
  });
  const succeeded = input.rotations.filter((r) => r.status === 'ROTATED').map((r) => r.workspaceId);
  if (succeeded.length > 0) {
    lines.push(
      `workspaces ${succeeded.join(', ')} were rotated: keep the old key(s) usable for ${input.plan.oldKeyRetentionHours} h`,
    );
  }
  const names = new Set(failed.map((r) => r.error ?? 'RotationFailed'));
  const error = new RotationFailed(
    `${failed.length} of ${input.rotations.length} workspace(s) failed. ${lines.join('; ')}`,
    {
      details: { failed: failed.map((r) => r.workspaceId) },
    },
  );
  if (names.size === 1) error.name = [...names][0] as string;
  return error;
}

export const RetentionNoticeSchema = z.object({
  retainUntil: z.string(),
  lastUpdateAt: z.number(),
  oldKeyRetentionHours: z.number(),
  oldKeyArns: z.array(z.string()),
  newKeyArn: z.string(),
  workspaceIds: z.array(z.number()),
});
