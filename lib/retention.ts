import { fitStillStopped, STILL_STOPPED_CHARS, snapshotLocationIn } from './compute/errors.ts';
import {
  causeMessage,
  clip,
  isRetriedErrorName,
  listSome,
  MAX_ERROR_MESSAGE_CHARS,
  MAX_ROTATION_ERROR_CHARS,
  RotatorError,
} from './errors.ts';
import { PlanSchema } from './rotation.ts';
import * as z from './zod.ts';

/** One Map iteration's result, as the state machine's Pass states shape it. */
export const RotationResultSchema = z.looseObject({
  workspaceId: z.number(),
  status: z.enum(['ROTATED', 'FAILED']),
  keyChanged: z.optional(z.boolean()),
  computeRestored: z.optional(z.boolean()),
  /** `false`: the workspace was not touched at all (its lock or its plan entry was not to be had). */
  touched: z.optional(z.boolean()),
  error: z.optional(z.string()),
  cause: z.optional(z.string()),
  restoreError: z.optional(z.string()),
  restoreCause: z.optional(z.string()),
  /** What is still stopped or paused, by id, and where the snapshot is (report-compute-not-restored). */
  stillStopped: z.optional(z.string()),
  update: z.optional(z.looseObject({ patchedAt: z.optional(z.number()) })),
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
  if (failed.length > 0) throw rotationFailure(input, failed, now);
  const lastUpdateAt = lastUpdateOf(input.rotations, now);
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

/** The latest workspace update (epoch ms) among `rotations`, `now` when none recorded one. */
function lastUpdateOf(rotations: readonly RotationResult[], now: number): number {
  const updates = rotations.map((r) => r.update?.patchedAt).filter((t): t is number => typeof t === 'number');
  return updates.length > 0 ? Math.max(...updates) : now;
}

/** Characters kept of a workspace's own cause in its shortest line. */
const SHORT_CAUSE_CHARS = 40;

/**
 * The execution's error, in order of importance: every failed workspace id in one compact list, marked `*`
 * when its compute was NOT fully restored (so none goes unnamed even with hundreds), the rotated ones; then a
 * line for each workspace whose compute is NOT fully restored — its error, what is still stopped (counts and
 * first ids per kind, paused schedules first) and where its snapshot is — before anything else is detailed;
 * then the other failures while room is left. It stays within `MAX_ERROR_MESSAGE_CHARS` unless the shortest
 * lines of what is still stopped need more, and within `MAX_ROTATION_ERROR_CHARS` always.
 */
function rotationFailure(input: FinishInput, failed: RotationResult[], now: number): RotationFailed {
  const budget = MAX_ERROR_MESSAGE_CHARS - 200;
  const hardBudget = MAX_ROTATION_ERROR_CHARS - 200;
  const marked = failed.map((r) => `${r.workspaceId}${r.computeRestored === false ? '*' : ''}`);
  const unrestored = failed.filter((r) => r.computeRestored === false);
  let text = `${failed.length} of ${input.rotations.length} workspace(s) failed. Workspaces failed${unrestored.length > 0 ? ' (* = compute NOT fully restored: its line says what to restart, and when)' : ''}: `;
  // The failed ids come first and take what they need, leaving 1,000 characters for the rest.
  text += `${listWithin(marked, budget - text.length - 1_000)}.`;
  // Every workspace whose key changed, rotated or failed after it, needs the old key for the retention
  // time: an operator reading "failed" must not retire it.
  const succeeded = input.rotations.filter((r) => r.status === 'ROTATED').map((r) => r.workspaceId);
  const changedThenFailed = failed.filter((r) => r.keyChanged === true).map((r) => r.workspaceId);
  const hours = input.plan.oldKeyRetentionHours;
  const changed = input.rotations.filter((r) => r.status === 'ROTATED' || r.keyChanged === true);
  const until = `until ${new Date(lastUpdateOf(changed, now) + hours * 3_600_000).toISOString()} (${hours} h after the last update)`;
  if (succeeded.length > 0) {
    text += ` workspaces ${listWithin(succeeded, (budget - text.length) / 3)} were rotated: keep the old key(s) usable ${until}.`;
  }
  // Short: the failed ids are listed already, and the room is for what is still stopped.
  const which =
    changedThenFailed.length === failed.length
      ? 'every failed workspace changed before it failed'
      : `workspace(s) ${listWithin(changedThenFailed, 300)} changed before they failed`;
  if (changedThenFailed.length > 0) {
    text += ` The key of ${which}: keep the old key(s) usable ${until}${succeeded.length > 0 ? ' too' : ''}; Databricks still needs them.`;
  }
  const lines = unrestoredLines(unrestored, budget - text.length, hardBudget - text.length);
  text += lines.text;
  let described = lines.described;
  for (const r of failed.filter((f) => f.computeRestored !== false)) {
    const line = failureLine(r, { cause: CAUSE_CHARS, restoreCause: CAUSE_CHARS });
    if (text.length + line.length > budget) break;
    text += line;
    described += 1;
  }
  if (described < failed.length) text += ` (${failed.length - described} more failure(s) not detailed here)`;
  const names = new Set(failed.map((r) => r.error ?? 'RotationFailed'));
  // Past the usual cap on purpose: every workspace still stopped keeps its line (MAX_ROTATION_ERROR_CHARS).
  const error = new RotationFailed(text, {
    details: { failed: failed.map((r) => r.workspaceId) },
    maxMessageChars: MAX_ROTATION_ERROR_CHARS,
  });
  const shared = names.size === 1 ? ([...names][0] as string) : undefined;
  if (shared && !isRetriedErrorName(shared)) error.name = shared;
  return error;
}

/** How much of a failure's causes its line shows (characters), and what it says is still stopped. */
interface LineTexts {
  cause: number;
  restoreCause: number;
  stillStopped?: string;
}

/** ` workspace <id>: <error>: <cause> [key …; compute …];`: the entry `parseRotationFailure` reads back. */
function failureLine(r: RotationResult, texts: LineTexts): string {
  let restored =
    r.touched === false
      ? 'nothing touched: no compute was stopped'
      : 'compute restored to its pre-rotation state';
  if (r.computeRestored === false) {
    const restoreCause =
      texts.restoreCause > 0 ? `: ${clip(causeMessage(r.restoreCause), texts.restoreCause)}` : '';
    const restoreError = r.restoreError ? ` (${clip(r.restoreError, 100)}${restoreCause})` : '';
    const stillStopped = texts.stillStopped === undefined ? '' : `; ${texts.stillStopped}`;
    restored = `compute NOT fully restored${restoreError}${stillStopped}`;
  }
  const key = r.keyChanged ? 'key changed' : 'key change not confirmed';
  return ` workspace ${r.workspaceId}: ${clip(r.error ?? 'Error', 100)}: ${clip(causeMessage(r.cause), texts.cause)} [${key}; ${restored}];`;
}

/** A workspace still stopped, with what is still stopped at its shortest (`least`) and longest (`most`). */
interface Unrestored {
  r: RotationResult;
  least?: string;
  most?: string;
  /** Its line at its shortest: the start of its cause, counts and first ids of what is still stopped. */
  min: string;
}

/**
 * A line for each workspace whose compute is NOT fully restored. All of them at their shortest first (id,
 * error, counts and first ids of what is still stopped, snapshot location); what is left of `room` then goes,
 * shared evenly, to more of what is still stopped and to the causes. When even the shortest lines do not fit
 * in `room`, `tersestLines` says what it can.
 */
function unrestoredLines(
  unrestored: RotationResult[],
  room: number,
  hardRoom: number,
): { text: string; described: number } {
  const lines = unrestored.map((r) => {
    const least = r.stillStopped === undefined ? undefined : fitStillStopped(r.stillStopped, 0);
    const most =
      r.stillStopped === undefined ? undefined : fitStillStopped(r.stillStopped, STILL_STOPPED_CHARS);
    const min = failureLine(r, { cause: SHORT_CAUSE_CHARS, restoreCause: 0, stillStopped: least });
    // What each text adds to the shortest line when shown in full (causes to CAUSE_CHARS).
    const message = causeMessage(r.cause);
    const restoreCause = causeMessage(r.restoreCause);
    const more = {
      stillStopped: (most?.length ?? 0) - (least?.length ?? 0),
      cause: clippedLength(message, CAUSE_CHARS) - clippedLength(message, SHORT_CAUSE_CHARS),
      restore: r.restoreError && restoreCause !== '' ? 2 + clippedLength(restoreCause, CAUSE_CHARS) : 0,
    };
    return { r, least, most, min, more, extra: 0 };
  });
  const need = (l: (typeof lines)[number]) => l.more.stillStopped + l.more.cause + l.more.restore;
  const minimum = lines.reduce((sum, l) => sum + l.min.length, 0);
  if (minimum > room) return tersestLines(lines, room, hardRoom);
  // Water-filling: the least needy first, each taking at most an even share of what is left.
  let left = room - minimum;
  const byNeed = [...lines].sort((a, b) => need(a) - need(b));
  for (const [i, l] of byNeed.entries()) {
    l.extra = Math.min(need(l), Math.floor(left / (byNeed.length - i)));
    left -= l.extra;
  }
  let text = '';
  for (const { r, least, most, more, extra: share } of lines) {
    // More of what is still stopped first, then the workspace's cause, then the restore's cause.
    let extra = share;
    const stillStopped = Math.min(extra, more.stillStopped);
    extra -= stillStopped;
    const cause = Math.min(extra, more.cause);
    extra -= cause;
    text += failureLine(r, {
      stillStopped:
        stillStopped === more.stillStopped || r.stillStopped === undefined
          ? most
          : fitStillStopped(r.stillStopped, (least?.length ?? 0) + stillStopped),
      cause: cause === more.cause ? CAUSE_CHARS : SHORT_CAUSE_CHARS + cause,
      // `: ` and the ellipsis of a cut cause come out of the same room.
      restoreCause: extra >= more.restore ? CAUSE_CHARS : Math.max(0, extra - 3),
    });
  }
  return { text, described: lines.length };
}

/**
 * Too many workspaces still stopped for even their shortest lines within the usual cap. Those with a record
 * of what is still stopped get the shortest lines that all fit in `hardRoom`: with the start of their cause,
 * else without it, else — where their snapshots are said once when they share a pattern
 * (`s3://…/<workspace id>/compute-snapshot.json`) — with the error name and the counts of what is still
 * stopped (and the first paused schedule), as many as fit. Those without a record get a line only while
 * `room` lasts: the list of failed ids names them anyway.
 */
function tersestLines(
  lines: Unrestored[],
  room: number,
  hardRoom: number,
): { text: string; described: number } {
  const recorded = lines.filter((l) => l.r.stillStopped !== undefined);
  const pattern = sharedSnapshotPattern(recorded.map((l) => l.r));
  const tiers: Array<(l: Unrestored) => string> = [
    (l) => l.min,
    (l) => failureLine(l.r, { cause: 0, restoreCause: 0, stillStopped: l.least }),
  ];
  let tier = tiers.find((line) => recorded.reduce((sum, l) => sum + line(l).length, 0) <= hardRoom);
  let text = '';
  if (!tier) {
    tier = ({ r, least }) => {
      const shared = pattern !== undefined && snapshotPattern(r) === pattern && r.stillStopped !== undefined;
      const stillStopped = shared ? fitStillStopped(r.stillStopped ?? '', 0, { snapshot: false }) : least;
      return failureLine(r, { cause: 0, restoreCause: 0, stillStopped });
    };
    if (pattern !== undefined) text = ` Compute snapshots: ${pattern}.`;
  }
  let described = 0;
  for (const l of recorded) {
    const line = tier(l);
    if (text.length + line.length > hardRoom) continue;
    text += line;
    described += 1;
  }
  for (const l of lines.filter((u) => u.r.stillStopped === undefined)) {
    if (text.length + l.min.length > room) continue;
    text += l.min;
    described += 1;
  }
  return { text, described };
}

/** `s3://…/<workspace id>/compute-snapshot.json` from where the workspace's snapshot is (if it has its id). */
function snapshotPattern(r: RotationResult): string | undefined {
  const location = r.stillStopped === undefined ? undefined : snapshotLocationIn(r.stillStopped);
  const id = `/${r.workspaceId}/`;
  return location?.includes(id) ? location.replace(id, '/<workspace id>/') : undefined;
}

/** The snapshot pattern most of `rotations` share (two at least), if any. */
function sharedSnapshotPattern(rotations: RotationResult[]): string | undefined {
  const counts = new Map<string, number>();
  for (const r of rotations) {
    const pattern = snapshotPattern(r);
    if (pattern !== undefined) counts.set(pattern, (counts.get(pattern) ?? 0) + 1);
  }
  const [best] = [...counts].sort((a, b) => b[1] - a[1]);
  return best && best[1] >= 2 ? best[0] : undefined;
}

/** The length of `clip(text, max)`. */
function clippedLength(text: string, max: number): number {
  return text.length <= max ? text.length : max + 1;
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

/**
 * `announce-retention`'s input, the rotation's last step: the retention notice, and the plan and the
 * workspaces' results it hands back unchanged, so that its result is the rotation's output.
 */
export const AnnounceInputSchema = z.object({
  retention: RetentionNoticeSchema,
  plan: z.unknown(),
  rotations: z.unknown(),
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
  if (r.stillStopped !== undefined) out.stillStopped = fitStillStopped(r.stillStopped, COMPACT.stillStopped);
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
 * Cuts the texts of a compact result until it fits `budgetBytes` (what is still stopped first — down to its
 * counts per kind and its snapshot location, never inside an id — then the causes, then what came back),
 * then drops them, what is still stopped last; the id, status, error names and whether compute was restored
 * always stay.
 */
function fitBudget(out: Record<string, unknown>, budgetBytes: number): Record<string, unknown> {
  const size = () => Buffer.byteLength(JSON.stringify(out));
  for (const field of ['stillStopped', 'restoreCause', 'cause'] as const) {
    const text = out[field];
    if (size() <= budgetBytes || typeof text !== 'string') continue;
    const room = text.length - (size() - budgetBytes);
    out[field] =
      field === 'stillStopped' ? fitStillStopped(text, Math.max(0, room)) : clip(text, Math.max(40, room));
  }
  if (size() > budgetBytes && out.cameBackDuringWindow) {
    const back = out.cameBackDuringWindow as { count: number };
    out.cameBackDuringWindow = { count: back.count, events: [] };
  }
  // Still too long (a rotation of hundreds of workspaces): the texts go; the workspace's own execution keeps
  // them, and its id, status, error name and whether compute was restored stay here.
  for (const field of ['restoreCause', 'cause', 'stillStopped'] as const) {
    if (size() > budgetBytes) delete out[field];
  }
  return out;
}
