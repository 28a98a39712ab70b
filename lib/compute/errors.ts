import { RotatorError } from '../errors.ts';
import type { ResourceRef } from './model.ts';

/** Named ids shown in a message; beyond this many per kind the message says how many more. */
const IDS_PER_KIND = 100;

/**
 * `activeRuns: 'fail'` and job runs are active: the rotation refuses before anything is touched
 * (the snapshot exists, but no schedule was paused and nothing was stopped).
 */
export class ActiveRunsPresent extends RotatorError {}

/** `activeRuns: 'wait'` and job runs were still active at the drain deadline; only schedules were paused. */
export class DrainTimeout extends RotatorError {}

/** Compute was still running (or came back) at the stop deadline; the workspace was not updated. */
export class ComputeDidNotStop extends RotatorError {}

/** Some compute that ran before the rotation is not running again; the message names every one. */
export class ComputeNotRestored extends RotatorError {}

/** The compute snapshot a step needs is not in the store (deleted, expired, or never written). */
export class SnapshotMissing extends RotatorError {}

/** The stored snapshot cannot be read back (corrupt or written by an incompatible version). */
export class SnapshotUnreadable extends RotatorError {}

/**
 * The stored snapshot (or its restore additions) belongs to another workspace or execution than the one it
 * is read for; nothing is restored from it. A kind of `SnapshotUnreadable`, so whatever handles that one
 * handles this one too; its own name says why.
 */
export class SnapshotMismatch extends SnapshotUnreadable {}

/** `clusters: a, b; warehouses: c` (ids grouped by kind, long lists cut with a count of the rest). */
export function describeRefs(refs: ReadonlyArray<ResourceRef & { why?: string }>): string {
  const byKind = new Map<string, string[]>();
  for (const ref of refs) {
    const list = byKind.get(ref.kind) ?? [];
    list.push(ref.why ? `${ref.id} (${ref.why})` : ref.id);
    byKind.set(ref.kind, list);
  }
  return [...byKind]
    .map(([kind, ids]) => {
      const shown = ids.slice(0, IDS_PER_KIND).join(', ');
      const more = ids.length > IDS_PER_KIND ? ` and ${ids.length - IDS_PER_KIND} more` : '';
      return `${kind}s: ${shown}${more}`;
    })
    .join('; ');
}
