import * as z from 'zod';
import {
  causeMessage,
  clip,
  isRetriedErrorName,
  listSome,
  MAX_ERROR_MESSAGE_CHARS,
  RotatorError,
} from './errors.ts';
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
  /** What is still stopped or paused, by id, and where the snapshot is (report-compute-not-restored). */
  stillStopped: z.string().optional(),
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
 * key on it; `RotationFailed` otherwise, and also when that shared name is one the state machine retries
 * (`TransientError`, `DatabricksUnavailable`, `Lambda.*`, …): "Finish rotation" would otherwise retry the
 * final failure five times.
 */
export class RotationFailed extends RotatorError {}

/** Characters kept of each workspace's own error cause and restore cause in the execution's error. */
const CAUSE_CHARS = 300;

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

/** Room for the ids of what is still stopped: an operator restarts these by hand. */
const STILL_STOPPED_CHARS = 3_000;

/**
 * The execution's error, in order of importance and within the error cap (`MAX_ERROR_MESSAGE_CHARS`): every
 * failed workspace id in one compact list, marked `*` when its compute was NOT fully restored (so none goes
 * unnamed even with hundreds), the rotated ones, then each failure's own error while room is left.
 */
function rotationFailure(input: FinishInput, failed: RotationResult[]): RotationFailed {
  const budget = MAX_ERROR_MESSAGE_CHARS - 200;
  const marked = failed.map((r) => `${r.workspaceId}${r.computeRestored === false ? '*' : ''}`);
  const unrestored = failed.filter((r) => r.computeRestored === false).length;
  let text = `${failed.length} of ${input.rotations.length} workspace(s) failed. Workspaces failed${unrestored > 0 ? ' (* = compute NOT fully restored: restart what its compute snapshot lists)' : ''}: `;
  // The failed ids come first and take what they need, leaving 1,000 characters for the rest.
  text += `${listWithin(marked, budget - text.length - 1_000)}.`;
  const succeeded = input.rotations.filter((r) => r.status === 'ROTATED').map((r) => r.workspaceId);
  if (succeeded.length > 0) {
    text += ` workspaces ${listWithin(succeeded, (budget - text.length) / 2)} were rotated: keep the old key(s) usable for ${input.plan.oldKeyRetentionHours} h.`;
  }
  let described = 0;
  // Workspaces whose compute is still stopped are detailed first: they need an operator now.
  const byUrgency = [...failed].sort(
    (a, b) => Number(b.computeRestored === false) - Number(a.computeRestored === false),
  );
  for (const r of byUrgency) {
    const restored =
      r.computeRestored === false
        ? `compute NOT fully restored${r.restoreError ? ` (${clip(r.restoreError, 100)}: ${clip(causeMessage(r.restoreCause), CAUSE_CHARS)})` : ''}${r.stillStopped ? `; ${clip(r.stillStopped, STILL_STOPPED_CHARS)}` : ''}`
        : 'compute restored to its pre-rotation state';
    const key = r.keyChanged ? 'key changed' : 'key change not confirmed';
    const line = ` workspace ${r.workspaceId}: ${clip(r.error ?? 'Error', 100)}: ${clip(causeMessage(r.cause), CAUSE_CHARS)} [${key}; ${restored}];`;
    if (text.length + line.length > budget) break;
    text += line;
    described += 1;
  }
  if (described < failed.length) text += ` (${failed.length - described} more failure(s) not detailed here)`;
  const names = new Set(failed.map((r) => r.error ?? 'RotationFailed'));
  const error = new RotationFailed(text, { details: { failed: failed.map((r) => r.workspaceId) } });
  const shared = names.size === 1 ? ([...names][0] as string) : undefined;
  if (shared && !isRetriedErrorName(shared)) error.name = shared;
  return error;
}

/** As many of `items` as fit in about `chars` characters, then `and K more`. */
function listWithin(items: readonly unknown[], chars: number): string {
  let length = 0;
  let count = 0;
  for (const item of items) {
    length += String(item).length + 2;
    if (length > chars) break;
    count += 1;
  }
  return listSome(items, count);
}

export const RetentionNoticeSchema = z.object({
  retainUntil: z.string(),
  lastUpdateAt: z.number(),
  oldKeyRetentionHours: z.number(),
  oldKeyArns: z.array(z.string()),
  newKeyArn: z.string(),
  workspaceIds: z.array(z.number()),
});

/** Characters kept of a workspace's cause and what is still stopped in its compact result. */
const COMPACT = { cause: 1_000, stillStopped: 3_000, cameBack: 20 } as const;

/**
 * A workspace's result as its own execution hands it to the rotation: only what `finishRotation` and an
 * operator reading the output need, each text bounded (a Lambda Cause is reduced to its message), so a
 * rotation of hundreds of workspaces keeps its Map output far below Step Functions' 256 KB. The workspace's
 * execution keeps the full detail in its own history.
 */
export function compactRotationResult(result: unknown, budgetBytes = 5_000): unknown {
  const parsed = RotationResultSchema.safeParse(result);
  if (!parsed.success) return result;
  const r = parsed.data as RotationResult & {
    keyConfig?: unknown;
    restored?: unknown;
    cameBackDuringWindow?: { count?: number; events?: unknown[] } | null;
  };
  const text = (value: string | undefined, chars: number) =>
    value === undefined ? {} : { value: clip(causeMessage(value), chars) };
  const out: Record<string, unknown> = { workspaceId: r.workspaceId, status: r.status };
  for (const field of ['keyChanged', 'computeRestored', 'error', 'restoreError'] as const) {
    if (r[field] !== undefined) out[field] = r[field];
  }
  const cause = text(r.cause, COMPACT.cause).value;
  if (cause !== undefined) out.cause = cause;
  const restoreCause = text(r.restoreCause, COMPACT.cause).value;
  if (restoreCause !== undefined) out.restoreCause = restoreCause;
  if (r.stillStopped !== undefined) out.stillStopped = clip(r.stillStopped, COMPACT.stillStopped);
  if (typeof r.update?.patchedAt === 'number') out.update = { patchedAt: r.update.patchedAt };
  if (r.cameBackDuringWindow && typeof r.cameBackDuringWindow === 'object' && r.cameBackDuringWindow.count) {
    const { count, events } = r.cameBackDuringWindow;
    out.cameBackDuringWindow = {
      count: count ?? 0,
      events: Array.isArray(events) ? events.slice(0, COMPACT.cameBack) : [],
    };
  }
  return fitBudget(out, budgetBytes);
}

/**
 * Cuts the texts of a compact result until it fits `budgetBytes` (what is still stopped first, then the
 * causes, then what came back), then drops them; the id, status, error names and whether compute was
 * restored always stay.
 */
function fitBudget(out: Record<string, unknown>, budgetBytes: number): Record<string, unknown> {
  const size = () => Buffer.byteLength(JSON.stringify(out));
  for (const field of ['stillStopped', 'restoreCause', 'cause'] as const) {
    const text = out[field];
    if (size() <= budgetBytes || typeof text !== 'string') continue;
    const room = Math.max(40, text.length - (size() - budgetBytes));
    out[field] = clip(text, room);
  }
  if (size() > budgetBytes && out.cameBackDuringWindow) {
    const back = out.cameBackDuringWindow as { count: number };
    out.cameBackDuringWindow = { count: back.count, events: [] };
  }
  // Still too long (a rotation of hundreds of workspaces): the texts go; the workspace's own execution keeps
  // them, and its id, status, error name and whether compute was restored stay here.
  for (const field of ['stillStopped', 'restoreCause', 'cause'] as const) {
    if (size() > budgetBytes) delete out[field];
  }
  return out;
}
