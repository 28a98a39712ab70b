import type { EventLog } from './events.ts';
import type { Report } from './report.ts';

type Json = Record<string, unknown>;

/**
 * Prints a live timeline a person can follow: each Task as it finishes with the simulated time, the
 * workspace it worked on and a short summary of its result; polling loops print only when their answer
 * changes.
 */
export function progressPrinter(write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {
  const stories = new Map<string, WorkspaceStory>();
  const storyOf = (who: string) => {
    let story = stories.get(who);
    if (!story) {
      story = { stopped: '', runs: '', stoppedAgain: new Map(), update: '', restored: '', notRestored: '' };
      stories.set(who, story);
    }
    return story;
  };
  const workspaces = new Map<number, string>();
  const last = new Map<string, string>();
  /** Tasks whose error was just printed: their exit (the Catch's output) is not a result to summarise. */
  const failed = new Set<string>();
  const whoOf = (input: Json) => {
    const ws = (input.workspace as Json | undefined)?.workspaceId as number | undefined;
    return ws === undefined ? '' : (workspaces.get(ws) ?? String(ws));
  };
  const onEvent = (event: EventLog, t: number) => {
    if (event.type === 'StateExited' && event.state.type === 'Task') {
      const key = `${event.index ?? '-'}:${event.state.name}`;
      if (failed.delete(key)) return;
      const output = (event.state.output ?? {}) as Json;
      const input = (event.state.input ?? {}) as Json;
      if (event.state.name === 'Plan the rotation') {
        const plan = output.plan as Json | undefined;
        for (const w of (plan?.workspaces as Json[] | undefined) ?? []) {
          workspaces.set(
            w.workspaceId as number,
            String(w.workspaceName ?? w.deploymentName ?? w.workspaceId),
          );
        }
        write(
          line(
            t,
            '',
            `Plan: ${String(plan?.mode)}${plan?.dryRun ? ' (dry run)' : ''} — ${String(plan?.reason ?? '')}`,
          ),
        );
        if (plan?.dryRun) for (const row of planTable(plan)) write(`           ${row}`);
        return;
      }
      const who = whoOf(input);
      if (who) record(storyOf(who), event.state.name, output, t);
      const text = `${event.state.name}${summary(event.state.name, output)}`;
      if (last.get(key) === text) return;
      last.set(key, text);
      write(line(t, who, text));
    } else if (event.type === 'StateRetried') {
      // Step Functions tries it again: the exit that follows is a real result again.
      failed.delete(`${event.index ?? '-'}:${event.state.name}`);
    } else if (event.type === 'StateFailed' || event.type === 'StateCaught') {
      const e = event as unknown as {
        Error?: string;
        Cause?: unknown;
        index?: number;
        state: { name: string; input?: unknown };
      };
      if (!e.Error) return;
      failed.add(`${e.index ?? '-'}:${e.state.name}`);
      const who = whoOf((e.state.input ?? {}) as Json);
      if (who && e.state.name === 'Update workspace')
        storyOf(who).update = `failed: ${e.Error}: ${clipped(causeText(e.Cause), 200)}`;
      write(line(t, who, `${e.state.name} failed: ${e.Error}: ${clipped(causeText(e.Cause), 240)}`));
    }
  };
  /** Per workspace, what happened to its compute, in words (printed after the run). */
  const workspaceStories = (): string[] =>
    [...stories.entries()].flatMap(([who, s]) => [
      `Workspace ${who}:`,
      `  stopped: ${s.stopped || 'nothing (not reached)'}`,
      ...(s.runs ? [`  job runs: ${s.runs}`] : []),
      ...(s.stoppedAgain.size > 0
        ? [
            `  stopped again (started outside cmk-rotator during the window): ${[...s.stoppedAgain.values()].join(', ')}`,
          ]
        : []),
      `  update: ${s.update || 'not reached'}${s.settled ? `; then ${s.settled}` : ''}`,
      `  restored: ${s.restored || 'nothing restored'}`,
      ...(s.notRestored ? [`  NOT restored: ${s.notRestored}`] : []),
    ]);
  return Object.assign(onEvent, { workspaceStories });
}

interface WorkspaceStory {
  stopped: string;
  runs: string;
  /** kind:id → "warehouse a1b2 (seen 1m05s after the start)". */
  stoppedAgain: Map<string, string>;
  update: string;
  /** The last answer of "Check workspace". */
  settled?: string;
  restored: string;
  notRestored: string;
}

/** Folds one Task result into the workspace's story. */
function record(story: WorkspaceStory, state: string, output: Json, t: number): void {
  const counts = countsText;
  const compute = output.compute as Json | undefined;
  if (state === 'Stop compute' && compute) {
    const c = (compute.counts ?? {}) as Json;
    const { runs, ...rest } = c;
    story.stopped = counts(rest).replace('jobsPaused', 'job schedules paused') || 'nothing was running';
    const active = Number(runs ?? 0);
    if (active > 0) {
      story.runs = `${active} active: ${
        output.activeRuns === 'cancel'
          ? 'cancelled'
          : output.activeRuns === 'wait'
            ? `drained (waited up to ${String(output.drainTimeoutMinutes)} min for them to finish)`
            : 'refused (activeRuns "fail")'
      }`;
    }
  }
  const check = output.computeCheck as Json | undefined;
  for (const r of (check?.restartedDuringWindow as Json[] | undefined) ?? []) {
    const key = `${String(r.kind)}:${String(r.id)}`;
    if (!story.stoppedAgain.has(key))
      story.stoppedAgain.set(key, `${String(r.kind)} ${String(r.id)} (at ${fmt(t)})`);
  }
  const update = output.update as Json | undefined;
  if (state === 'Update workspace' && update) {
    story.update = update.patched
      ? `PATCH ${String((update.fields as string[] | undefined)?.join(', '))}`
      : 'the workspace already had the new key configuration (no PATCH)';
  }
  if (state === 'Check workspace' && (output.workspaceCheck as Json | undefined)?.status)
    story.settled = `workspace ${String((output.workspaceCheck as Json).status)}`;
  const restoreCheck = output.restoreCheck as Json | undefined;
  if (state.startsWith('Check compute restored') && restoreCheck?.status === 'RESTORED')
    story.restored = counts(restoreCheck.restored) || 'nothing to restore';
  if (state.startsWith('Report what is still stopped'))
    story.notRestored = String((output.stillStopped as Json | undefined)?.summary ?? '');
}

/** A dry run's plan as a table a person reads: one row per workspace, then the steps of the first. */
export function planTable(plan: Json): string[] {
  const rows = ((plan.workspaces as Json[] | undefined) ?? []).map((w) => {
    const current = (w.current ?? {}) as Json;
    const changes = (w.changes ?? {}) as Json;
    const change = [changes.managedServices && 'managed services', changes.storage && 'storage (first key)']
      .filter(Boolean)
      .join(' + ');
    return [
      String(w.workspaceId),
      String(w.workspaceName ?? w.deploymentName ?? ''),
      String(w.region ?? ''),
      String(current.managedServicesKeyArn ?? 'none'),
      String(current.storageKeyArn ?? 'none'),
      change || 'nothing',
    ];
  });
  if (rows.length === 0) return [];
  const header = ['workspace', 'name', 'region', 'managed-services key now', 'storage key now', 'changes'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const target = (plan.target ?? {}) as Json;
  const first = ((plan.workspaces as Json[])[0]?.steps as string[] | undefined) ?? [];
  return [
    `target: ${String(target.keyArn ?? '')}${target.keyAlias ? ` (${String(target.keyAlias)})` : ''}; use cases ${String((plan.useCases as string[] | undefined)?.join(', ') ?? '')}; active runs: ${String(plan.activeRuns ?? '')}`,
    format(header),
    format(widths.map((w) => '-'.repeat(w))),
    ...rows.map(format),
    ...(first.length > 0
      ? ['steps (each workspace):', ...first.map((step, i) => `  ${i + 1}. ${step}`)]
      : []),
  ];
}

/** `{clusters: 2, pools: 0, jobs: 1}` → `2 clusters, 1 jobs` (zeros left out). */
export function countsText(counts: unknown): string {
  if (!counts || typeof counts !== 'object') return '';
  return Object.entries(counts as Record<string, unknown>)
    .filter(([, v]) => typeof v === 'number' && v > 0)
    .map(([k, v]) => `${String(v)} ${k}`)
    .join(', ');
}

/** A Lambda-shaped cause (`{"errorType", "errorMessage", …}`) as its message; any other cause as it is. */
export function causeText(cause: unknown): string {
  const text = String(cause ?? '');
  try {
    const parsed = JSON.parse(text) as { errorMessage?: unknown };
    if (typeof parsed?.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: shown as it is
  }
  return text;
}

export function clipped(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function summary(state: string, output: Json): string {
  const pick = (key: string) => output[key] as Json | undefined;
  switch (state) {
    case 'Stop compute': {
      const c = pick('compute');
      return ` — snapshot: ${countsText(c?.counts) || 'nothing running'}; ${String(c?.phase ?? '')}`;
    }
    case 'Check compute stopped':
    case 'Keep compute stopped before restoring':
      return ` — ${String(pick('computeCheck')?.status ?? '')}`;
    case 'Keep compute stopped during the storage wait': {
      const c = pick('computeCheck');
      const back = Number(c?.restartedCount ?? 0);
      return ` — ${c?.storageWaitOver ? 'storage wait over' : 'waiting'}${back > 0 ? `; ${back} resource(s) started by someone else were stopped again` : ''}`;
    }
    case 'Update workspace': {
      const u = pick('update');
      const lost = u?.reconciled ? ` (answer lost: ${String(u.reconciled)})` : '';
      return u?.patched
        ? ` — PATCH ${String((u.fields as string[] | undefined)?.join(', '))}${lost}`
        : ' — already set, no PATCH';
    }
    case 'Check the workspace before restoring': {
      const c = pick('settled');
      return ` — ${String(c?.status ?? '')} (${String(c?.workspaceStatus ?? '')}; key ${c?.keyChanged ? 'changed' : 'unchanged'})`;
    }
    case 'Report what is still stopped':
    case 'Report what is still stopped after the rotation':
      return ` — ${String(pick('stillStopped')?.summary ?? '')}`;
    case 'Check workspace': {
      const c = pick('workspaceCheck');
      const back = Number((c?.guard as Json | undefined)?.cameBack ?? 0);
      return ` — ${String(c?.status ?? '')}${c?.workspaceStatus ? ` (${String(c.workspaceStatus)})` : ''}${back > 0 ? `; ${back} resource(s) that came back were stopped again` : ''}`;
    }
    case 'Restore compute':
    case 'Restore compute after failure': {
      const r = pick('restore');
      const failed = Number(r?.failedCount ?? 0);
      const back = Number((r?.cameBack as Json | undefined)?.count ?? 0);
      return ` — started ${countsText(r?.started) || 'nothing'}${failed > 0 ? `; ${failed} failed (retried until the restore deadline)` : ''}${back > 0 ? `; includes ${back} resource(s) started during the window` : ''}`;
    }
    case 'Check compute restored':
    case 'Check compute restored after failure': {
      const r = pick('restoreCheck');
      return ` — ${String(r?.status ?? '')}${r?.status === 'RESTORED' ? `: ${countsText(r.restored)}` : ''}`;
    }
    case 'Register key configuration': {
      const k = pick('keyConfig');
      return ` — ${k?.reused ? 'reused' : 'created'} ${String(k?.customerManagedKeyId ?? '')}`;
    }
    case 'Patch key policy': {
      const p = pick('policy');
      return p?.changed ? ' — statement added/merged' : ' — already grants Databricks';
    }
    case 'Take the workspace lock': {
      const l = pick('lock');
      return l?.busy ? ` — held by ${String(l.holder ?? 'another execution')}, waiting` : '';
    }
    case 'Rotate the workspace in its own execution':
    case 'Rotate the workspace of a long plan in its own execution':
    case 'Release the workspace lock':
    case 'Release the lock of the rotated workspace': {
      const status = output.status;
      return typeof status === 'string'
        ? ` — ${status}${output.error ? `: ${String(output.error)}` : ''}`
        : '';
    }
    default:
      return '';
  }
}

function line(t: number, who: string, text: string): string {
  return `${fmt(t).padStart(9)}  ${who ? `[${who}] ` : ''}${text}`;
}

/** `1234.5` simulated seconds → `20m34s`. */
export function fmt(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(r).padStart(2, '0')}s`
      : `${r}s`;
}

/** The short end-of-run summary. */
export function summarize(report: Report, realMs: number): string[] {
  const lines = [
    '',
    `Result: ${report.status}${report.error ? ` — ${report.error.name}: ${report.error.cause}` : ''}`,
    `Simulated time: ${fmt(report.simulatedSeconds)} (real ${(realMs / 1000).toFixed(1)} s)`,
  ];
  for (const d of report.downtime) {
    const ratio =
      d.windowSeconds && d.platformMinimumSeconds
        ? ` (×${(d.windowSeconds / d.platformMinimumSeconds).toFixed(2)})`
        : '';
    lines.push(
      d.windowSeconds === null
        ? `Workspace ${d.workspace_id}: no compute was stopped`
        : `Workspace ${d.workspace_id}: compute window ${fmt(d.windowSeconds)} vs platform minimum ${fmt(d.platformMinimumSeconds)}${ratio}`,
    );
  }
  lines.push(
    `Databricks API calls: ${report.apiCalls.total} · state transitions: ${report.stateTransitions} · history events: ${report.historyEvents} · max state payload: ${(report.maxStatePayloadBytes / 1024).toFixed(1)} KB`,
  );
  const retired = (report.output as Json | null)?.oldKeyRetirement as Json | undefined;
  if (retired?.message) lines.push(String(retired.message));
  const failing = report.invariants.filter((i) => !i.holds);
  lines.push(
    `Invariants: ${report.invariants.length - failing.length}/${report.invariants.length} hold${failing.length ? ` — FAILING: ${failing.map((f) => `${f.name} (${f.detail})`).join('; ')}` : ''}`,
  );
  return lines;
}
