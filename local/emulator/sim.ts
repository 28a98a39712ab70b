import type { EmulatorClock } from '../clock.ts';
import type { TimingName, Timings } from '../scenario.ts';
import { drawBetween, seededUuid } from './random.ts';

interface Scheduled {
  at: number;
  seq: number;
  run: () => void;
}

export type ComputeKind = 'cluster' | 'warehouse' | 'pipeline' | 'pool';

/** Compute that was started, by the product's API call or by an injected fault (someone else). */
export interface ComputeStart {
  t: number;
  workspaceId: number;
  kind: ComputeKind;
  id: string;
  by: 'api' | 'fault';
}

/**
 * A workspace update as the platform ran it: from the PATCH it accepted (one that changed something) to the
 * moment its outcome showed. The local runner judges "nothing runs while the workspace updates" from this,
 * not from what the product believed (a customer-managed network stays RUNNING throughout).
 */
export interface WorkspaceUpdate {
  workspaceId: number;
  /** Simulated seconds when the PATCH was accepted. */
  startedAt: number;
  /** The fields the PATCH changed, with the values asked for. */
  changes: Record<string, unknown>;
  /** Simulated seconds when it ended; absent while it still runs. */
  endedAt?: number;
  /** `applied`: the fields changed; `reverted`: RUNNING on the old values (`silentRevert`); `failed`: FAILED. */
  outcome?: 'applied' | 'reverted' | 'failed';
}

/**
 * The discrete-event core of the emulator. Platform transitions (a cluster reaching TERMINATED, a workspace
 * update finishing) are events at simulated times; before each request the HTTP layer calls `catchUp()`,
 * which runs every event due by the clock in time order. So state is always what the platform would show
 * "now", no matter how fast or slow the real process is, and `advance()` on the clock just works.
 */
export class Sim {
  /** Simulated seconds since start of the event being processed (or of the request being served). */
  t = 0;
  readonly starts: ComputeStart[] = [];
  /** Every workspace update, in the order the PATCHes were accepted (`recordUpdate`). */
  readonly updates: WorkspaceUpdate[] = [];
  private readonly heap: Scheduled[] = [];
  private seq = 0;
  private readonly counters = new Map<string, number>();

  constructor(
    readonly clock: EmulatorClock,
    readonly seed: number,
    readonly timings: Timings,
  ) {}

  /** Simulated epoch ms of `t` (default: now in the simulation). */
  epochMs(t = this.t): number {
    return this.clock.epochMsAt(t);
  }

  /** Runs `run` `delaySeconds` after the current simulated time. */
  after(delaySeconds: number, run: () => void): void {
    this.push({ at: this.t + Math.max(0, delaySeconds), seq: this.seq++, run });
  }

  /** Processes every event due by the clock's current time, in order (events may schedule more). */
  catchUp(): void {
    const target = this.clock.seconds();
    for (let next = this.heap[0]; next !== undefined && next.at <= target; next = this.heap[0]) {
      this.pop();
      this.t = Math.max(this.t, next.at);
      next.run();
    }
    this.t = Math.max(this.t, target);
  }

  /**
   * The next duration of `kind` for resource `id`: the n-th draw for the same (kind, id) is always the same
   * number for the same seed, whatever else happened in between.
   */
  draw(kind: TimingName, id: string): number {
    const key = `${kind}:${id}`;
    const n = this.counters.get(key) ?? 0;
    this.counters.set(key, n + 1);
    return this.peek(kind, id, n);
  }

  /** The n-th draw of `kind` for `id`, without consuming it (platform timings for the report). */
  peek(kind: TimingName, id: string, n = 0): number {
    return drawBetween(this.timings[kind], this.seed, `${kind}:${id}:${n}`);
  }

  /** A duration for a transition the scenario starts in the middle of (does not consume the n-th draw). */
  initial(kind: TimingName, id: string): number {
    return drawBetween(this.timings[kind], this.seed, `${kind}:${id}:initial`);
  }

  /** A deterministic UUID: the n-th of this purpose. */
  uuid(purpose: string): string {
    const n = this.counters.get(`uuid:${purpose}`) ?? 0;
    this.counters.set(`uuid:${purpose}`, n + 1);
    return seededUuid(this.seed, `${purpose}:${n}`);
  }

  recordStart(workspaceId: number, kind: ComputeKind, id: string, by: 'api' | 'fault'): void {
    this.starts.push({ t: this.t, workspaceId, kind, id, by });
  }

  /** Records an update starting now; the caller sets `endedAt` and `outcome` on the entry when it ends. */
  recordUpdate(workspaceId: number, changes: Record<string, unknown>): WorkspaceUpdate {
    const entry: WorkspaceUpdate = { workspaceId, startedAt: this.t, changes: structuredClone(changes) };
    this.updates.push(entry);
    return entry;
  }

  private push(item: Scheduled): void {
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
