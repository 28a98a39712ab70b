import { clip, RotatorError } from '../errors.ts';
import type { ComputeKind, ResourceRef } from './model.ts';

/**
 * `activeRuns: 'fail'` and job runs are active: the rotation refuses before anything is touched
 * (the snapshot exists, but no schedule was paused and nothing was stopped).
 */
export class ActiveRunsPresent extends RotatorError {}

/** `activeRuns: 'wait'` and job runs were still active at the drain deadline; only schedules were paused. */
export class DrainTimeout extends RotatorError {}

/** Compute was still running (or came back) at the stop deadline; the workspace was not updated. */
export class ComputeDidNotStop extends RotatorError {}

/**
 * Compute someone started while it had to stay stopped (the workspace updating, the storage wait) could not
 * be stopped again: its stop calls kept failing until the window ended. The key change took effect; the
 * execution fails so the alarm fires, naming what ran.
 */
export class ComputeNotKeptStopped extends RotatorError {}

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

/** Named ids shown per kind at most; beyond this many the message says how many more. */
const IDS_PER_KIND = 100;
/**
 * Named ids per kind in what is still stopped. DESIGN §6.4: the error lists by id what is not restored, so
 * the room decides (reasons go first, then ids, and every kind keeps its count); past this many an operator
 * restarts from the snapshot, which lists them all.
 */
const STILL_STOPPED_IDS_PER_KIND = IDS_PER_KIND;
/** Characters kept of the reason shown after an id. */
const WHY_CHARS = 200;
/** What `describeRefs` takes when no budget is given: the message carrying it stays under the error cap. */
const REFS_CHARS = 6_000;
/** What `describeStillStopped` takes when no budget is given: what a workspace's compact result keeps. */
export const STILL_STOPPED_CHARS = 3_000;
/** Characters kept of a sentence that is not a list of ids, when a text must be shortened. */
const NOTE_CHARS = 160;

const KINDS = [
  'cluster',
  'pool',
  'warehouse',
  'pipeline',
  'job',
  'run',
] as const satisfies readonly ComputeKind[];
/** `clusters (62)`, `clusters: a, b (why)`, `clusters (62): a, b and 60 more`. */
const KIND_GROUP = new RegExp(`^(${KINDS.join('|')})s(?: \\((\\d+)\\))?(?:: ([\\s\\S]+))?$`);
/**
 * The part `snapshot <where>` that ends `describeStillStopped`'s text (an s3:// address, a file path or a
 * `memory:` key), maybe with whose it is: `snapshot s3://… (left stopped by execution …)`.
 */
const SNAPSHOT_PART = /^snapshot (\S+(?: \([^()]*\))?)$/;
/** A snapshot location anywhere in a text: `the compute snapshot s3://… could not be read`, `(snapshot s3://…)`. */
const SNAPSHOT_IN_TEXT = /\bsnapshot (?:at )?(\S*[/:]\S*?)[).,;:]*(?=\s|$)/;

type Reason = ResourceRef & { why?: string };

/** One kind's ids; `total` exceeds `items` when a shortened text said `and K more`. */
interface KindGroup {
  kind: string;
  total: number;
  items: Array<{ id: string; why?: string }>;
  /** Text before the kind's name (`still stopped: `), kept as it is. */
  prefix: string;
}

/** A text about compute: parts (lists of ids by kind, or sentences) joined with `; `, then the snapshot. */
interface Listing {
  parts: Array<KindGroup | { note: string }>;
  snapshot?: string;
}

/**
 * `clusters: a (why), b; warehouses: c` — ids grouped by kind, job schedules first. Longer than `maxChars`
 * (6,000 when not given), it is summarised and never cut inside an id: every kind keeps at least its count
 * (`clusters (60)`), the kinds then share the room one id each in turn (`clusters (60): a, b and 58 more`),
 * and the reasons go before any id does. At most 100 ids per kind are named.
 */
export function describeRefs(refs: ReadonlyArray<Reason>, maxChars = REFS_CHARS): string {
  return fitListing({ parts: groupRefs(refs, '') }, maxChars);
}

/**
 * What is still stopped or paused in a workspace and where its snapshot is, within `maxChars`:
 * `schedules still paused: jobs: 7001; still stopped: clusters: a (why), …; snapshot s3://…`. Paused
 * schedules come first and the snapshot location is always kept; each kind names its ids (at most 100, then
 * counts the rest), and a text too long is summarised as `describeRefs` does (`fitStillStopped` shortens it again
 * the same way).
 */
export function describeStillStopped(
  what: { stopped: ReadonlyArray<Reason>; paused: ReadonlyArray<Reason>; snapshot?: string },
  maxChars = STILL_STOPPED_CHARS,
): string {
  const paused = groupRefs(what.paused, 'schedules still paused: ');
  const stopped = groupRefs(what.stopped, 'still stopped: ');
  return fitListing(
    {
      parts: [
        ...(paused.length > 0 ? paused : [{ note: 'no schedule left paused' }]),
        ...(stopped.length > 0 ? stopped : [{ note: 'no compute left stopped' }]),
      ],
      ...(what.snapshot === undefined ? {} : { snapshot: what.snapshot }),
    },
    maxChars,
    STILL_STOPPED_IDS_PER_KIND,
  );
}

/**
 * A text saying what is still stopped (`describeStillStopped`'s or `describeRefs`') shortened to about
 * `maxChars` with the same rules: counts per kind kept, no id cut, paused schedules first, the snapshot
 * location kept (unless `snapshot: false`: the caller says where the snapshots are). A text in another shape
 * is cut between words (its first `NOTE_CHARS` characters always stay), its snapshot location kept. The
 * result is longer than `maxChars` only when the counts, the first paused schedule and the snapshot location
 * alone are, or that start of a text in another shape.
 */
export function fitStillStopped(
  text: string,
  maxChars: number,
  options: { snapshot?: boolean } = {},
): string {
  const keepSnapshot = options.snapshot ?? true;
  if (text.length <= maxChars && keepSnapshot) return text;
  const snapshot = keepSnapshot ? snapshotLocationIn(text) : undefined;
  const tail = snapshot === undefined ? '' : `; snapshot ${snapshot}`;
  const listing = parseListing(text);
  if (listing && !keepSnapshot) delete listing.snapshot;
  const fitted = listing
    ? fitListing(listing, maxChars, STILL_STOPPED_IDS_PER_KIND)
    : cutBetweenWords(text, Math.max(NOTE_CHARS, maxChars - tail.length));
  return snapshot === undefined || fitted.includes(snapshot) ? fitted : `${fitted}${tail}`;
}

/** Where the compute snapshot is, as a text saying what is still stopped names it (`snapshot s3://…`). */
export function snapshotLocationIn(text: string): string | undefined {
  return SNAPSHOT_IN_TEXT.exec(text)?.[1];
}

/** Refs grouped by kind (job schedules first, then in the order met), the first group after `prefix`. */
function groupRefs(refs: ReadonlyArray<Reason>, prefix: string): KindGroup[] {
  const byKind = new Map<string, KindGroup>();
  for (const ref of refs) {
    const group = byKind.get(ref.kind) ?? { kind: ref.kind, total: 0, items: [], prefix: '' };
    group.total += 1;
    group.items.push(ref.why ? { id: ref.id, why: reason(ref.why) } : { id: ref.id });
    byKind.set(ref.kind, group);
  }
  const groups = [...byKind.values()].sort(jobsFirst);
  if (groups[0]) groups[0].prefix = prefix;
  return groups;
}

const jobsFirst = (a: { kind: string }, b: { kind: string }) =>
  Number(b.kind === 'job') - Number(a.kind === 'job');

/** A reason shown in parentheses after an id: one line, bounded, its parentheses balanced (read back). */
function reason(why: string): string {
  const line = clip(why.replace(/\s+/g, ' ').trim(), WHY_CHARS);
  return balanced(line) ? line : line.replace(/[()]/g, '');
}

function balanced(text: string): boolean {
  let depth = 0;
  for (const c of text) {
    if (c === '(') depth += 1;
    else if (c === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

/** How much of a group is shown: its first `n` ids, the first `w` of them with their reason. */
interface Shown extends KindGroup {
  n: number;
  w: number;
  cap: number;
  /** Characters of the first k ids (`idChars[k]`) and of their ` (why)`s (`whyChars[k]`). */
  idChars: number[];
  whyChars: number[];
}

function shownOf(group: KindGroup, idsPerKind: number): Shown {
  const cap = Math.min(group.items.length, idsPerKind);
  const idChars = [0];
  const whyChars = [0];
  for (const item of group.items.slice(0, cap)) {
    idChars.push((idChars.at(-1) ?? 0) + item.id.length);
    whyChars.push((whyChars.at(-1) ?? 0) + (item.why ? item.why.length + 3 : 0));
  }
  return { ...group, n: cap, w: cap, cap, idChars, whyChars };
}

/** Not every id, or not every reason of the ids named, is shown: the kind says its count. */
const summarised = (g: Shown) => g.n < g.total || (g.whyChars[g.w] ?? 0) < (g.whyChars[g.n] ?? 0);

/** The length of `renderGroup(g)`, without rendering it. */
function groupLength(g: Shown): number {
  let length = g.prefix.length + g.kind.length + 1;
  if (summarised(g)) length += ` (${g.total})`.length;
  if (g.n > 0) length += 2 + (g.idChars[g.n] ?? 0) + 2 * (g.n - 1) + (g.whyChars[g.w] ?? 0);
  if (g.n > 0 && g.total > g.n) length += ` and ${g.total - g.n} more`.length;
  return length;
}

function renderGroup(g: Shown): string {
  const ids = g.items
    .slice(0, g.n)
    .map((item, i) => (i < g.w && item.why ? `${item.id} (${item.why})` : item.id));
  const count = summarised(g) ? ` (${g.total})` : '';
  const list = g.n > 0 ? `: ${ids.join(', ')}` : '';
  const more = g.n > 0 && g.total > g.n ? ` and ${g.total - g.n} more` : '';
  return `${g.prefix}${g.kind}s${count}${list}${more}`;
}

/**
 * `listing` in words, within `maxChars` when it can be: whole if it fits; else every kind at its count (job
 * schedules with their first id), then one more id per kind in turn (jobs first) while one fits, then —
 * only when every id is named — the reasons in the same way. Sentences are then cut to `NOTE_CHARS`; the
 * snapshot location always stays.
 */
function fitListing(listing: Listing, maxChars: number, idsPerKind = IDS_PER_KIND): string {
  const parts = listing.parts.map((part) => ('note' in part ? part : shownOf(part, idsPerKind)));
  const groups = parts.filter((p): p is Shown => !('note' in p));
  const fixed = (short: boolean) =>
    2 * (parts.length - 1) +
    (listing.snapshot === undefined
      ? 0
      : `snapshot ${listing.snapshot}`.length + (parts.length > 0 ? 2 : 0)) +
    parts.reduce((sum, p) => sum + ('note' in p ? note(p.note, short).length : 0), 0);
  let total = fixed(false) + groups.reduce((sum, g) => sum + groupLength(g), 0);
  const short = total > maxChars;
  if (short) {
    // Paused schedules always keep their first id; other kinds start at their count.
    for (const g of groups) {
      g.n = g.kind === 'job' ? Math.min(1, g.cap) : 0;
      g.w = 0;
    }
    total = fixed(true) + groups.reduce((sum, g) => sum + groupLength(g), 0);
    const order = [...groups].sort(jobsFirst);
    const grow = (field: 'n' | 'w') => {
      let open = order.filter((g) => g[field] < g.cap);
      while (open.length > 0) {
        open = open.filter((g) => {
          const before = groupLength(g);
          g[field] += 1;
          const after = groupLength(g);
          if (total - before + after > maxChars) {
            g[field] -= 1;
            return false;
          }
          total += after - before;
          return g[field] < g.cap;
        });
      }
    };
    grow('n');
    if (groups.every((g) => g.n === g.cap)) grow('w');
  }
  const words = parts.map((p) => ('note' in p ? note(p.note, short) : renderGroup(p)));
  if (listing.snapshot !== undefined) words.push(`snapshot ${listing.snapshot}`);
  return words.join('; ');
}

const note = (text: string, short: boolean) => (short ? cutBetweenWords(text, NOTE_CHARS) : text);

/** `text` cut to at most `maxChars` characters at a space (an ellipsis says so), or clipped if it has none. */
function cutBetweenWords(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const room = text.slice(0, Math.max(0, maxChars - 1));
  const space = room.lastIndexOf(' ');
  return space > 0 ? `${room.slice(0, space).replace(/[,;:(\s]+$/, '')}…` : `${room}…`;
}

/** `text` read back as a listing (what `fitListing` writes); `undefined` when it names no kind of compute. */
function parseListing(text: string): Listing | undefined {
  const listing: Listing = { parts: [] };
  for (const segment of splitTop(text, '; ')) {
    const snapshot = SNAPSHOT_PART.exec(segment);
    if (snapshot) listing.snapshot = snapshot[1];
    else listing.parts.push(parseGroup(segment) ?? { note: segment });
  }
  return listing.parts.some((p) => !('note' in p)) ? listing : undefined;
}

/** `still stopped: clusters (62): a (why), b and 60 more` → its prefix, kind, count and ids (or undefined). */
function parseGroup(segment: string): KindGroup | undefined {
  // The kind's name starts the segment, or follows a `: ` or ` — ` outside parentheses.
  let depth = 0;
  for (let i = 0; i <= segment.length; i++) {
    const start =
      i === 0
        ? 0
        : depth > 0
          ? -1
          : segment.startsWith(': ', i - 2)
            ? i
            : segment.startsWith(' — ', i - 3)
              ? i
              : -1;
    const group = start < 0 ? undefined : groupAt(segment, start);
    if (group) return group;
    const c = segment[i];
    if (c === '(') depth += 1;
    else if (c === ')') depth = Math.max(0, depth - 1);
  }
  return undefined;
}

/** The kind group that starts at `start` of `segment`, if one does and runs to its end. */
function groupAt(segment: string, start: number): KindGroup | undefined {
  const match = KIND_GROUP.exec(segment.slice(start));
  if (!match) return undefined;
  const listed = match[3] === undefined ? { items: [], more: 0 } : parseItems(match[3]);
  if (!listed) return undefined;
  const total = Math.max(Number(match[2] ?? 0), listed.items.length + listed.more);
  if (total === 0) return undefined;
  return { kind: match[1] as string, total, items: listed.items, prefix: segment.slice(0, start) };
}

/** `a (why), b and 60 more` → the ids with their reasons and the count not named; undefined if not ids. */
function parseItems(text: string): { items: KindGroup['items']; more: number } | undefined {
  const pieces = splitTop(text, ', ');
  let more = 0;
  const last = pieces.length - 1;
  const rest = / and (\d+) more$/.exec(pieces[last] ?? '');
  if (rest) {
    more = Number(rest[1]);
    pieces[last] = (pieces[last] ?? '').slice(0, rest.index);
  }
  const items: KindGroup['items'] = [];
  for (const piece of pieces) {
    const item = /^([^\s(),;]+)(?: \(([\s\S]*)\))?$/.exec(piece);
    if (!item || (item[2] !== undefined && !balanced(item[2]))) return undefined;
    items.push(item[2] === undefined ? { id: item[1] as string } : { id: item[1] as string, why: item[2] });
  }
  return { items, more };
}

/** `text` split at each `separator` outside parentheses. */
function splitTop(text: string, separator: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth += 1;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (depth === 0 && text.startsWith(separator, i)) {
      out.push(text.slice(from, i));
      from = i + separator.length;
      i = from - 1;
    }
  }
  out.push(text.slice(from));
  return out;
}
