/**
 * The run report (README § Scenarios and reports) as one self-contained HTML page for a person to read:
 * no script, no network (inline CSS and SVG only), every text HTML-escaped. Everything shown is derived
 * from the report alone, so a report written earlier renders the same.
 */
import type { CallLogEntry } from '../emulator/index.ts';
import { endpointOf, type Report, STOP_CALL, splitPath } from './report.ts';

type Json = Record<string, unknown>;
type ReportState = Report['states'][number];

/** The phases a state is coloured by (its name decides: the state machines' names read like a runbook). */
export type Phase = 'stop' | 'update' | 'storage' | 'restore' | 'recovery' | 'other';

const PHASES: Array<{ phase: Phase; label: string; colour: string }> = [
  { phase: 'stop', label: 'stop compute', colour: '#dd6b20' },
  { phase: 'update', label: 'workspace update', colour: '#2b6cb0' },
  { phase: 'storage', label: 'storage wait', colour: '#805ad5' },
  { phase: 'restore', label: 'restore compute', colour: '#2f855a' },
  { phase: 'recovery', label: 'recovery / failure', colour: '#c53030' },
  { phase: 'other', label: 'plan, key, lock, other', colour: '#718096' },
];

/** The phase of a state, from its name (`Wait …` states are drawn lighter, in their phase's colour). */
export function phaseOf(name: string): Phase {
  const n = name.toLowerCase();
  if (
    /failure|failed|before restoring|what is still stopped|still updating|not fully restored|not rotated|while the workspace updates|without a result|unknown plan/.test(
      n,
    )
  )
    return 'recovery';
  if (/storage wait|storage key/.test(n)) return 'storage';
  if (/restore|come back|compute to start|workspace rotated/.test(n)) return 'restore';
  if (/stop/.test(n)) return 'stop';
  if (/updat|workspace to run|check workspace|running on the new key/.test(n)) return 'update';
  return 'other';
}

/** Geometry of the timeline (px in the SVG's own coordinates). */
const LABEL_W = 200;
const PLOT_W = 880;
const GAP_W = 18;
const TAIL_W = 110;
const LANE_H = 15;
const BAR_H = 11;
/** Two marker lines under a row's lanes: failed calls and re-stops, then failures. */
const MARK_H = 24;
const ROW_PAD = 8;
const AXIS_H = 30;

/** Simulated seconds → x on the timeline: linear up to `axisEnd`, then (when the run has a long tail,
 *  such as the 24 h retention wait) a short compressed segment after a break, up to `domainEnd`. */
export interface TimeAxis {
  left: number;
  scale: number;
  axisEnd: number;
  /** Present when the run goes on well after the workspaces' activity. */
  tail?: { left: number; scale: number; domainEnd: number };
}

export function xOf(axis: TimeAxis, t: number): number {
  if (t <= axis.axisEnd || !axis.tail) return axis.left + t * axis.scale;
  return axis.tail.left + (t - axis.axisEnd) * axis.tail.scale;
}

/**
 * Renders the report as one HTML page (UTF-8, no script, no external resource): header with the result,
 * a timeline per workspace, the downtime window against the platform minimum, what was stopped and
 * restored per kind, API and KMS calls, invariants, executions and the execution output.
 */
export function renderHtmlReport(report: Report): string {
  const view = analyse(report);
  const failing = report.invariants.filter((i) => !i.holds);
  const title = `cmk-rotator run report — ${report.scenario}`;
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // No network, no script: the page is only what is written here.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    header(report, view, failing.length),
    timelineSection(report, view),
    eventsSection(view),
    downtimeSection(report, view),
    computeSection(view),
    apiSection(report),
    kmsSection(report),
    invariantsSection(report),
    executionsSection(report),
    outputSection(report),
    '<footer>Rendered from the JSON run report of the local runner (simulated time). This page loads nothing from the network.</footer>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------
// What the page shows, derived from the report

interface Row {
  key: string;
  label: string;
  sublabel: string;
  iteration: number | undefined;
  workspaceId: number | undefined;
  states: Array<ReportState & { lane: number }>;
  lanes: number;
}

interface Marker {
  kind: 'error' | 'restop' | 'failure';
  t: number;
  rowKey: string;
  label: string;
}

interface KindCount {
  stopped: Set<string>;
  stoppedAgain: number;
  restored: Set<string>;
}

interface WorkspaceInfo {
  workspaceId: number;
  name: string | undefined;
  deployment: string | undefined;
  status: string | undefined;
}

interface View {
  rows: Row[];
  markers: Marker[];
  axis: TimeAxis;
  ticks: number[];
  domainEnd: number;
  workspaces: WorkspaceInfo[];
  /** Per workspace id (or deployment when no id is known): kind → counts. */
  compute: Array<{ who: string; kinds: Map<string, KindCount> }>;
}

const PARENT = 'parent';

function analyse(report: Report): View {
  const workspaces = workspaceInfos(report);
  const byIteration = (i: number): WorkspaceInfo | undefined => workspaces[i];
  const byDeployment = new Map(workspaces.filter((w) => w.deployment).map((w) => [w.deployment, w]));
  const byId = new Map(workspaces.map((w, i) => [w.workspaceId, i]));

  // Rows: the parent execution's states first, then one per Map iteration (one per workspace).
  const groups = new Map<string, ReportState[]>();
  groups.set(PARENT, []);
  for (const s of report.states) {
    const key = s.iteration === undefined ? PARENT : `i${s.iteration}`;
    const list = groups.get(key) ?? [];
    list.push(s);
    groups.set(key, list);
  }
  const iterations = [...groups.keys()]
    .filter((k) => k !== PARENT)
    .map((k) => Number(k.slice(1)))
    .sort((a, b) => a - b);
  const rows: Row[] = [
    {
      key: PARENT,
      label: 'execution',
      sublabel: 'plan, Map, finish',
      iteration: undefined,
      workspaceId: undefined,
      ...packLanes(groups.get(PARENT) ?? []),
    },
    ...iterations.map((i) => {
      const ws = byIteration(i);
      return {
        key: `i${i}`,
        label: ws ? (ws.name ?? ws.deployment ?? String(ws.workspaceId)) : `iteration ${i}`,
        sublabel: ws ? `${ws.workspaceId} · iteration ${i}` : 'workspace not known',
        iteration: i,
        workspaceId: ws?.workspaceId,
        ...packLanes(groups.get(`i${i}`) ?? []),
      };
    }),
  ];
  const rowOfWorkspace = (id: number | undefined): string => {
    if (id === undefined) return PARENT;
    const i = byId.get(id);
    return i !== undefined && groups.has(`i${i}`) ? `i${i}` : PARENT;
  };

  // Markers: failed calls (injected faults and error answers), resources stopped again, failures.
  const markers: Marker[] = [];
  const compute = new Map<string, Map<string, KindCount>>();
  const stoppedOnce = new Set<string>();
  const poolEdited = new Set<string>();
  for (const entry of report.callLog) {
    const { deployment, path } = splitPath(entry);
    const ws =
      (deployment ? byDeployment.get(deployment) : undefined)?.workspaceId ??
      workspaceIdInPath(entry.path, workspaces);
    const rowKey = rowOfWorkspace(ws);
    if (entry.status === 0 || entry.status >= 400) {
      markers.push({
        kind: 'error',
        t: entry.t,
        rowKey,
        label: `${entry.status === 0 ? 'connection dropped' : `HTTP ${entry.status}`}: ${endpointOf(entry)}`,
      });
      continue;
    }
    const action = computeAction(entry, path);
    if (!action) continue;
    const who = ws !== undefined ? String(ws) : (deployment ?? 'account');
    const kinds = compute.get(who) ?? new Map<string, KindCount>();
    compute.set(who, kinds);
    const count = kinds.get(action.kind) ?? { stopped: new Set(), stoppedAgain: 0, restored: new Set() };
    kinds.set(action.kind, count);
    const id = `${who}/${action.kind}/${action.id}`;
    let verb = action.verb;
    if (action.kind === 'instance pools') {
      // The first edit of a pool releases its idle instances; a later one puts its settings back.
      verb = poolEdited.has(id) ? 'restore' : 'stop';
      poolEdited.add(id);
    }
    if (verb === 'stop') {
      if (stoppedOnce.has(id)) {
        count.stoppedAgain++;
        markers.push({
          kind: 'restop',
          t: entry.t,
          rowKey,
          label: `stopped again: ${action.kind.replace(/s$/, '')} ${action.id}`,
        });
      }
      stoppedOnce.add(id);
      count.stopped.add(action.id);
    } else {
      count.restored.add(action.id);
    }
  }
  for (const call of report.kmsCalls ?? []) {
    if (call.error)
      markers.push({
        kind: 'error',
        t: call.t,
        rowKey: PARENT,
        label: `KMS ${call.operation}: ${call.error}`,
      });
  }
  for (const row of rows) {
    const failures = row.states.filter((s) => phaseOf(s.name) === 'recovery');
    const first = failures[0];
    if (first) {
      markers.push({ kind: 'failure', t: first.enteredAt, rowKey: row.key, label: `failure: ${first.name}` });
    }
    for (const s of failures.slice(1)) {
      if (/still stopped|not fully restored|^workspace failed/i.test(s.name))
        markers.push({ kind: 'failure', t: s.enteredAt, rowKey: row.key, label: s.name });
    }
  }
  const lastExit = Math.max(0, ...report.states.map((s) => s.exitedAt));
  if (report.status === 'FAILED') {
    markers.push({
      kind: 'failure',
      t: lastExit,
      rowKey: PARENT,
      label: `execution failed${report.error ? `: ${report.error.name}` : ''}`,
    });
  }
  markers.sort((a, b) => a.t - b.t);

  // The axis: the whole run, or, when a long wait follows the workspaces' activity, the activity
  // in full and the rest compressed after a break.
  const domainEnd = Math.max(
    report.simulatedSeconds,
    lastExit,
    ...markers.map((m) => m.t),
    ...report.downtime.map((d) => d.allRestoredAt ?? 0),
    1,
  );
  const activity = report.states.filter((s) => s.iteration !== undefined).map((s) => s.exitedAt);
  const focusEnd = activity.length > 0 ? Math.max(...activity, 1) : domainEnd;
  const useTail = domainEnd > focusEnd * 1.5 + 60;
  const shownEnd = useTail ? focusEnd : domainEnd;
  const step = tickStep(shownEnd);
  const axisEnd = Math.max(step, Math.ceil((shownEnd * (useTail ? 1.02 : 1)) / step - 1e-9) * step);
  const axis: TimeAxis = {
    left: LABEL_W,
    scale: PLOT_W / axisEnd,
    axisEnd,
    ...(useTail && domainEnd > axisEnd
      ? { tail: { left: LABEL_W + PLOT_W + GAP_W, scale: TAIL_W / (domainEnd - axisEnd), domainEnd } }
      : {}),
  };
  const ticks: number[] = [];
  for (let t = 0; t <= axisEnd + 1e-9; t += step) ticks.push(t);

  return {
    rows,
    markers,
    axis,
    ticks,
    domainEnd,
    workspaces,
    compute: [...compute.entries()].map(([who, kinds]) => ({ who, kinds })),
  };
}

/** The rotated workspaces in Map order: the plan's when the output has it, else the downtime's (same order). */
function workspaceInfos(report: Report): WorkspaceInfo[] {
  const output = (report.output ?? {}) as Json;
  const plan = output.plan as Json | undefined;
  const planned = (plan?.workspaces as Json[] | undefined) ?? [];
  const rotations = (output.rotations as Json[] | undefined) ?? [];
  const finalWs = (report.final?.databricks?.workspaces ?? []) as Json[];
  const ids =
    planned.length > 0
      ? planned.map((w) => Number(w.workspaceId))
      : report.downtime.map((d) => Number(d.workspace_id));
  return ids.map((id) => {
    const p = planned.find((w) => Number(w.workspaceId) === id);
    const f = finalWs.find((w) => Number(w.workspace_id) === id);
    const r = rotations.find((w) => Number(w.workspaceId) === id);
    return {
      workspaceId: id,
      name: str(p?.workspaceName ?? f?.workspace_name),
      deployment: str(p?.deploymentName ?? f?.deployment_name),
      status: str(r?.status),
    };
  });
}

function workspaceIdInPath(path: string, workspaces: WorkspaceInfo[]): number | undefined {
  const m = /\/workspaces\/(\d+)/.exec(path);
  if (!m) return undefined;
  const id = Number(m[1]);
  return workspaces.some((w) => w.workspaceId === id) ? id : undefined;
}

/** A successful call that stops or brings back a piece of compute: which kind, which id. */
function computeAction(
  entry: CallLogEntry,
  path: string,
): { kind: string; id: string; verb: 'stop' | 'restore' } | undefined {
  if (entry.method !== 'POST') return undefined;
  const body = (entry.body ?? {}) as Json;
  const seg = path.split('/');
  const idAt = (i: number) => seg[i] ?? '?';
  if (/^\/api\/2\.[01]\/clusters\/delete$/.test(path))
    return { kind: 'clusters', id: String(body.cluster_id ?? '?'), verb: 'stop' };
  if (/^\/api\/2\.[01]\/clusters\/start$/.test(path))
    return { kind: 'clusters', id: String(body.cluster_id ?? '?'), verb: 'restore' };
  if (/^\/api\/2\.0\/sql\/warehouses\/[^/]+\/stop$/.test(path))
    return { kind: 'SQL warehouses', id: idAt(5), verb: 'stop' };
  if (/^\/api\/2\.0\/sql\/warehouses\/[^/]+\/start$/.test(path))
    return { kind: 'SQL warehouses', id: idAt(5), verb: 'restore' };
  if (/^\/api\/2\.0\/pipelines\/[^/]+\/stop$/.test(path))
    return { kind: 'pipelines', id: idAt(4), verb: 'stop' };
  if (/^\/api\/2\.0\/pipelines\/[^/]+\/updates$/.test(path))
    return { kind: 'pipelines', id: idAt(4), verb: 'restore' };
  if (/^\/api\/2\.[012]\/jobs\/runs\/cancel$/.test(path))
    return { kind: 'job runs (cancelled)', id: String(body.run_id ?? '?'), verb: 'stop' };
  if (/^\/api\/2\.0\/instance-pools\/edit$/.test(path))
    return { kind: 'instance pools', id: String(body.instance_pool_id ?? '?'), verb: 'stop' };
  if (/^\/api\/2\.[012]\/jobs\/update$/.test(path)) {
    const text = JSON.stringify(body);
    if (text.includes('"pause_status":"PAUSED"'))
      return { kind: 'job schedules and triggers', id: String(body.job_id ?? '?'), verb: 'stop' };
    if (text.includes('"pause_status":"UNPAUSED"'))
      return { kind: 'job schedules and triggers', id: String(body.job_id ?? '?'), verb: 'restore' };
  }
  // Any other stop call the report counts as one (STOP_CALL), so nothing stopped goes unshown.
  if (STOP_CALL.test(`${entry.method} ${path}`)) return { kind: 'other', id: path, verb: 'stop' };
  return undefined;
}

/**
 * Greedy lanes: a state goes in the first lane free at its start. A state that encloses others (a Map
 * iteration's child execution) goes first, so it sits on top; otherwise the report's (chronological) order.
 */
function packLanes(states: ReportState[]): { states: Array<ReportState & { lane: number }>; lanes: number } {
  const encloses = (a: ReportState) =>
    states.some(
      (b) =>
        b !== a &&
        b.exitedAt > b.enteredAt &&
        b.enteredAt >= a.enteredAt &&
        b.exitedAt <= a.exitedAt &&
        b.exitedAt - b.enteredAt < a.exitedAt - a.enteredAt,
    );
  const sorted = states
    .map((s, order) => ({ s, order, container: encloses(s) ? 0 : 1 }))
    .sort((a, b) => a.s.enteredAt - b.s.enteredAt || a.container - b.container || a.order - b.order);
  const laneEnds: number[] = [];
  const placed = sorted.map(({ s }) => {
    let lane = laneEnds.findIndex((end) => end <= s.enteredAt + 1e-9);
    if (lane < 0) {
      lane = laneEnds.length;
      laneEnds.push(s.exitedAt);
    } else {
      laneEnds[lane] = s.exitedAt;
    }
    return { ...s, lane };
  });
  return { states: placed, lanes: Math.max(1, laneEnds.length) };
}

// ---------------------------------------------------------------------------------------------------
// Sections

function header(report: Report, view: View, failingInvariants: number): string {
  const ok = report.status === 'SUCCEEDED';
  const output = (report.output ?? {}) as Json;
  const plan = output.plan as Json | undefined;
  const retired = output.oldKeyRetirement as Json | undefined;
  const facts: Array<[string, string]> = [
    ['Simulated duration', `${fmtDuration(report.simulatedSeconds)} (${num(report.simulatedSeconds)} s)`],
    ['Workspaces', String(view.workspaces.length)],
    ['Databricks API calls', String(report.apiCalls.total)],
    ['State transitions', String(report.stateTransitions)],
    ['History events (largest execution)', String(report.historyEvents)],
    ['Largest state payload', `${(report.maxStatePayloadBytes / 1024).toFixed(1)} KB`],
    [
      'Invariants',
      `${report.invariants.length - failingInvariants}/${report.invariants.length} hold${failingInvariants ? ` — ${failingInvariants} FAILING` : ''}`,
    ],
  ];
  if (plan?.mode !== undefined) facts.splice(1, 0, ['Plan', `${str(plan.mode)} — ${str(plan.reason) ?? ''}`]);
  return [
    '<header>',
    `<h1>Scenario <span class="name">${esc(report.scenario)}</span> <span class="status ${ok ? 'ok' : 'bad'}">${esc(report.status)}</span></h1>`,
    report.error
      ? `<div class="error" role="alert"><div class="error-name">${esc(report.error.name)}</div><pre class="cause">${esc(report.error.cause)}</pre></div>`
      : '',
    `<dl class="facts">${facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`,
    retired?.message ? `<p class="notice">${esc(String(retired.message))}</p>` : '',
    '</header>',
  ].join('\n');
}

function timelineSection(report: Report, view: View): string {
  const { axis, rows } = view;
  const rightEdge = axis.tail ? axis.tail.left + TAIL_W : axis.left + PLOT_W;
  const width = rightEdge + 20;
  const parts: string[] = [];
  let y = 6;
  const rowTop = new Map<string, number>();
  const downtimeOf = new Map(report.downtime.map((d) => [d.workspace_id, d]));
  for (const [n, row] of rows.entries()) {
    const h = ROW_PAD + row.lanes * LANE_H + MARK_H + ROW_PAD;
    rowTop.set(row.key, y);
    if (n % 2 === 1) parts.push(`<rect class="row-bg" x="0" y="${y}" width="${width}" height="${h}"/>`);
    parts.push(
      `<text class="row-label" x="8" y="${y + 16}">${esc(clip(row.label, 26))}</text>`,
      `<text class="row-sublabel" x="8" y="${y + 30}">${esc(clip(row.sublabel, 32))}</text>`,
    );
    const d = row.workspaceId === undefined ? undefined : downtimeOf.get(row.workspaceId);
    if (d && d.firstStopAt !== null) {
      const end = d.allRestoredAt ?? view.domainEnd;
      const x0 = xOf(axis, d.firstStopAt);
      parts.push(
        `<rect class="downtime-band" x="${px(x0)}" y="${y + 2}" width="${px(xOf(axis, end) - x0)}" height="${h - 4}"><title>${esc(
          `compute down from ${fmtTime(d.firstStopAt)} to ${d.allRestoredAt === null ? 'the end of the run (not restored)' : fmtTime(d.allRestoredAt)}`,
        )}</title></rect>`,
      );
    }
    for (const s of row.states) {
      const x = xOf(axis, s.enteredAt);
      const w = Math.max(0, xOf(axis, s.exitedAt) - x);
      const by = y + ROW_PAD + s.lane * LANE_H;
      const phase = phaseOf(s.name);
      const waiting = /^wait/i.test(s.name) ? ' waiting' : '';
      const tip = `${s.name}\n${fmtTime(s.enteredAt)} → ${fmtTime(s.exitedAt)} (${fmtDuration(s.exitedAt - s.enteredAt)})${row.iteration === undefined ? '' : `\niteration ${row.iteration}`}`;
      parts.push(
        `<g class="state">`,
        `<rect class="bar ${phase}${waiting}" data-state="${esc(s.name)}" data-start="${s.enteredAt}" data-end="${s.exitedAt}"${row.iteration === undefined ? '' : ` data-iteration="${row.iteration}"`} x="${px(x)}" y="${by}" width="${px(w)}" height="${BAR_H}"><title>${esc(tip)}</title></rect>`,
        // A state that takes (almost) no time still shows as a hairline.
        w < 1.5
          ? `<line class="instant ${phase}" x1="${px(x)}" x2="${px(x)}" y1="${by}" y2="${by + BAR_H}"><title>${esc(tip)}</title></line>`
          : '',
        w > s.name.length * 5.6 + 8
          ? `<text class="bar-label" x="${px(x + 3)}" y="${by + BAR_H - 2}">${esc(s.name)}</text>`
          : '',
        '</g>',
      );
    }
    y += h;
  }
  const plotBottom = y;
  // Markers, each on its row's marker line.
  for (const m of view.markers) {
    const top = rowTop.get(m.rowKey);
    if (top === undefined) continue;
    const row = rows.find((r) => r.key === m.rowKey);
    const my = top + ROW_PAD + (row?.lanes ?? 1) * LANE_H + (m.kind === 'failure' ? 17 : 7);
    const x = xOf(axis, m.t);
    const tip = `${fmtTime(m.t)} — ${m.label}`;
    const shape =
      m.kind === 'error'
        ? `<path d="M${px(x - 4)} ${my - 5} L${px(x + 4)} ${my - 5} L${px(x)} ${my + 3} Z"/>`
        : m.kind === 'restop'
          ? `<circle cx="${px(x)}" cy="${my - 1}" r="3.5"/>`
          : `<path d="M${px(x)} ${my - 6} L${px(x + 4.5)} ${my - 1} L${px(x)} ${my + 4} L${px(x - 4.5)} ${my - 1} Z"/>`;
    parts.push(
      `<g class="marker ${m.kind}" data-marker="${m.kind}" data-t="${m.t}" data-row="${esc(m.rowKey)}">${shape}<title>${esc(tip)}</title></g>`,
    );
  }
  // The axis: grid lines, ticks and labels; the break and the tail when the run has one.
  const axisParts: string[] = [];
  for (const t of view.ticks) {
    const x = px(xOf(axis, t));
    axisParts.push(
      `<line class="grid" x1="${x}" x2="${x}" y1="4" y2="${plotBottom}"/>`,
      `<line class="tick" x1="${x}" x2="${x}" y1="${plotBottom}" y2="${plotBottom + 5}"/>`,
      `<text class="tick-label" x="${x}" y="${plotBottom + 17}">${esc(fmtTick(t))}</text>`,
    );
  }
  if (axis.tail) {
    const bx = axis.left + PLOT_W + GAP_W / 2;
    const endX = px(axis.tail.left + TAIL_W);
    axisParts.push(
      `<rect class="break" x="${px(bx - 4)}" y="2" width="8" height="${plotBottom - 2}"><title>${esc(
        `time axis broken: ${fmtTime(axis.axisEnd)} → ${fmtTime(axis.tail.domainEnd)} compressed into the last segment`,
      )}</title></rect>`,
      `<line class="tick" x1="${endX}" x2="${endX}" y1="${plotBottom}" y2="${plotBottom + 5}"/>`,
      `<text class="tick-label end" x="${endX}" y="${plotBottom + 17}">${esc(fmtDuration(axis.tail.domainEnd))}</text>`,
    );
  }
  axisParts.push(
    `<line class="axis" x1="${axis.left}" x2="${px(rightEdge)}" y1="${plotBottom}" y2="${plotBottom}"/>`,
  );
  if (axis.tail) {
    // The break on the axis itself: a gap with two slanted strokes.
    const bx = axis.left + PLOT_W + GAP_W / 2;
    axisParts.push(
      `<rect class="axis-gap" x="${px(bx - 4)}" y="${plotBottom - 3}" width="8" height="6"/>`,
      `<line class="axis" x1="${px(bx - 6)}" x2="${px(bx - 2)}" y1="${plotBottom + 4}" y2="${plotBottom - 4}"/>`,
      `<line class="axis" x1="${px(bx + 2)}" x2="${px(bx + 6)}" y1="${plotBottom + 4}" y2="${plotBottom - 4}"/>`,
    );
  }
  const height = plotBottom + AXIS_H + 4;
  const tailAttrs = axis.tail
    ? ` data-tail-left="${axis.tail.left}" data-tail-scale="${axis.tail.scale}" data-domain-end="${axis.tail.domainEnd}"`
    : '';
  const legend = PHASES.map(
    (p) => `<span class="key"><span class="swatch ${p.phase}"></span>${esc(p.label)}</span>`,
  ).join('');
  const markerLegend =
    '<span class="key"><svg width="12" height="10" class="marker error"><path d="M2 1 L10 1 L6 9 Z"/></svg>failed call (fault or error answer)</span>' +
    '<span class="key"><svg width="12" height="10" class="marker restop"><circle cx="6" cy="5" r="3.5"/></svg>stopped again</span>' +
    '<span class="key"><svg width="12" height="12" class="marker failure"><path d="M6 1 L10.5 6 L6 11 L1.5 6 Z"/></svg>failure / recovery</span>' +
    '<span class="key"><span class="swatch band"></span>compute down (first stop → all restored)</span>';
  return [
    '<section id="timeline">',
    '<h2>Timeline</h2>',
    `<p class="hint">Simulated time. One row for the execution itself and one per workspace (Map iteration); one bar per state, hover for its name and times. Lighter bars are Wait states.${
      axis.tail
        ? ` The axis is linear up to ${esc(fmtTime(axis.axisEnd))}; after the break, ${esc(fmtTime(axis.axisEnd))} → ${esc(fmtTime(axis.tail.domainEnd))} is compressed.`
        : ''
    }</p>`,
    `<div class="legend">${legend}</div>`,
    `<div class="legend">${markerLegend}</div>`,
    `<div class="scroll"><svg class="timeline" role="img" aria-label="timeline of the execution's states" viewBox="0 0 ${px(width)} ${px(height)}" width="${px(width)}" height="${px(height)}" data-left="${axis.left}" data-scale="${axis.scale}" data-axis-end="${axis.axisEnd}"${tailAttrs}>`,
    ...axisParts,
    ...parts,
    '</svg></div>',
    report.states.length === 0 ? '<p>No state was recorded.</p>' : '',
    statesTable(report),
    '</section>',
  ].join('\n');
}

function statesTable(report: Report): string {
  if (report.states.length === 0) return '';
  const rows = report.states
    .map(
      (s) =>
        `<tr><td class="num">${esc(fmtTime(s.enteredAt))}</td><td class="num">${esc(fmtTime(s.exitedAt))}</td><td class="num">${esc(fmtDuration(s.exitedAt - s.enteredAt))}</td><td>${s.iteration === undefined ? '' : s.iteration}</td><td><span class="swatch ${phaseOf(s.name)}"></span>${esc(s.name)}</td></tr>`,
    )
    .join('\n');
  return `<details><summary>All ${report.states.length} states</summary><table><thead><tr><th>entered</th><th>exited</th><th>took</th><th>iteration</th><th>state</th></tr></thead><tbody>\n${rows}\n</tbody></table></details>`;
}

function eventsSection(view: View): string {
  if (view.markers.length === 0) return '';
  const label = new Map(view.rows.map((r) => [r.key, r.label]));
  const kindName = { error: 'failed call', restop: 'stopped again', failure: 'failure' } as const;
  const rows = view.markers
    .map(
      (m) =>
        `<tr class="${m.kind}"><td class="num">${esc(fmtTime(m.t))}</td><td>${esc(label.get(m.rowKey) ?? m.rowKey)}</td><td>${esc(kindName[m.kind])}</td><td>${esc(m.label)}</td></tr>`,
    )
    .join('\n');
  const open = view.markers.length <= 40 ? ' open' : '';
  return `<section id="events"><h2>Marked events</h2><details${open}><summary>${view.markers.length} event(s): failed calls, resources stopped again, failures</summary><table><thead><tr><th>time</th><th>row</th><th>kind</th><th>what</th></tr></thead><tbody>\n${rows}\n</tbody></table></details></section>`;
}

function downtimeSection(report: Report, view: View): string {
  if (report.downtime.length === 0)
    return '<section id="downtime"><h2>Compute downtime</h2><p>No compute was stopped for a rotation (no downtime window).</p></section>';
  const BAR_W = 560;
  const max = Math.max(
    1,
    ...report.downtime.flatMap((d) => [d.windowSeconds ?? 0, d.platformMinimumSeconds]),
  );
  const scale = BAR_W / max;
  const blocks = report.downtime.map((d) => {
    const ws = view.workspaces.find((w) => w.workspaceId === d.workspace_id);
    const ratio =
      d.windowSeconds !== null && d.platformMinimumSeconds > 0
        ? d.windowSeconds / d.platformMinimumSeconds
        : undefined;
    const bar = (kind: 'window' | 'minimum', seconds: number, y: number, label: string) =>
      `<rect class="dt ${kind}" data-kind="${kind}" data-workspace="${d.workspace_id}" data-seconds="${seconds}" x="150" y="${y}" width="${px(seconds * scale)}" height="16"><title>${esc(`${label}: ${fmtDuration(seconds)}`)}</title></rect>` +
      `<text class="dt-label" x="0" y="${y + 12}">${esc(label)}</text>` +
      `<text class="dt-value" x="${px(150 + seconds * scale + 6)}" y="${y + 12}">${esc(fmtDuration(seconds))}</text>`;
    const svg = [
      `<svg class="downtime" role="img" aria-label="downtime window against the platform minimum" viewBox="0 0 ${150 + BAR_W + 90} 48" width="${150 + BAR_W + 90}" height="48">`,
      d.windowSeconds === null
        ? `<text class="dt-label" x="0" y="14">compute window</text><text class="dt-value" x="150" y="14">n/a (${d.firstStopAt === null ? 'nothing was stopped' : 'not everything was restored'})</text>`
        : bar('window', d.windowSeconds, 2, 'compute window'),
      bar('minimum', d.platformMinimumSeconds, 26, 'platform minimum'),
      '</svg>',
    ].join('');
    const title = `${ws?.name ?? ws?.deployment ?? 'workspace'} (${d.workspace_id})${ws?.status ? ` — ${ws.status}` : ''}`;
    const detail = `first stop at ${d.firstStopAt === null ? 'n/a' : fmtTime(d.firstStopAt)}, all restored at ${d.allRestoredAt === null ? 'n/a' : fmtTime(d.allRestoredAt)}${ratio === undefined ? '' : ` — window ×${ratio.toFixed(2)} the platform minimum`}`;
    return `<div class="dt-block"><h3>${esc(title)}</h3>${svg}<p class="hint">${esc(detail)}</p></div>`;
  });
  return [
    '<section id="downtime">',
    '<h2>Compute downtime</h2>',
    '<p class="hint">The window runs from the first stop call to the poll that saw everything running again; the platform minimum is what Databricks itself imposes on this run (slowest stop + workspace update + storage wait if any + slowest start).</p>',
    ...blocks,
    '</section>',
  ].join('\n');
}

function computeSection(view: View): string {
  if (view.compute.length === 0)
    return '<section id="compute"><h2>Compute stopped and restored</h2><p>No compute was stopped or started.</p></section>';
  const label = (who: string) => {
    const ws = view.workspaces.find((w) => String(w.workspaceId) === who);
    return ws ? `${ws.name ?? ws.deployment ?? ''} (${who})` : who;
  };
  const tables = view.compute.map(({ who, kinds }) => {
    const rows = [...kinds.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(
        ([kind, c]) =>
          `<tr><td>${esc(kind)}</td><td class="num">${c.stopped.size}</td><td class="num${c.stoppedAgain ? ' warn' : ''}">${c.stoppedAgain}</td><td class="num">${kind.startsWith('job runs') ? '—' : c.restored.size}</td><td class="ids">${esc(clip([...c.stopped].join(', '), 400))}</td></tr>`,
      )
      .join('\n');
    return `<h3>${esc(label(who))}</h3><table><thead><tr><th>kind</th><th>stopped</th><th>stopped again</th><th>restored</th><th>ids stopped</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
  });
  return [
    '<section id="compute">',
    '<h2>Compute stopped and restored</h2>',
    '<p class="hint">From the calls the emulator accepted: distinct resources per kind. Pools: the first edit releases the idle instances, a later one puts the settings back. Schedules and triggers: paused / unpaused. Cancelled runs are not started again by the rotation.</p>',
    ...tables,
    '</section>',
  ].join('\n');
}

function apiSection(report: Report): string {
  const errors = new Map<string, number>();
  for (const e of report.callLog) {
    if (e.status === 0 || e.status >= 400) {
      const k = endpointOf(e);
      errors.set(k, (errors.get(k) ?? 0) + 1);
    }
  }
  const entries = Object.entries(report.apiCalls.byEndpoint).sort(
    ([a, x], [b, y]) => y - x || a.localeCompare(b),
  );
  const rows = entries
    .map(([endpoint, n]) => {
      const err = errors.get(endpoint) ?? 0;
      return `<tr><td class="endpoint">${esc(endpoint)}</td><td class="num">${n}</td><td class="num${err ? ' bad' : ''}">${err}</td></tr>`;
    })
    .join('\n');
  return `<section id="api"><h2>Databricks API calls by endpoint</h2><table><thead><tr><th>endpoint</th><th>calls</th><th>failed</th></tr></thead><tbody>\n${rows}\n</tbody><tfoot><tr><th>total</th><th class="num">${report.apiCalls.total}</th><th class="num">${[...errors.values()].reduce((a, b) => a + b, 0)}</th></tr></tfoot></table></section>`;
}

function kmsSection(report: Report): string {
  const calls = report.kmsCalls ?? [];
  if (calls.length === 0) return '';
  const by = new Map<string, { n: number; errors: Map<string, number> }>();
  for (const c of calls) {
    const e = by.get(c.operation) ?? { n: 0, errors: new Map() };
    e.n++;
    if (c.error) e.errors.set(c.error, (e.errors.get(c.error) ?? 0) + 1);
    by.set(c.operation, e);
  }
  const rows = [...by.entries()]
    .sort(([a, x], [b, y]) => y.n - x.n || a.localeCompare(b))
    .map(
      ([op, e]) =>
        `<tr><td>${esc(op)}</td><td class="num">${e.n}</td><td>${esc(
          [...e.errors.entries()].map(([name, n]) => `${name} ×${n}`).join(', '),
        )}</td></tr>`,
    )
    .join('\n');
  return `<section id="kms"><h2>KMS calls by operation</h2><table><thead><tr><th>operation</th><th>calls</th><th>errors</th></tr></thead><tbody>\n${rows}\n</tbody></table></section>`;
}

function invariantsSection(report: Report): string {
  if (report.invariants.length === 0)
    return '<section id="invariants"><h2>Invariants</h2><p>None checked.</p></section>';
  const rows = report.invariants
    .map(
      (i) =>
        `<tr class="${i.holds ? 'holds' : 'fails'}"><td>${i.holds ? '✔ holds' : '✘ FAILS'}</td><td>${esc(i.name)}</td><td>${esc(i.detail)}</td></tr>`,
    )
    .join('\n');
  return `<section id="invariants"><h2>Invariants</h2><p class="hint">Checked by the runner from what the emulators recorded, not from the product's own word.</p><table><thead><tr><th>result</th><th>invariant</th><th>detail</th></tr></thead><tbody>\n${rows}\n</tbody></table></section>`;
}

function executionsSection(report: Report): string {
  if (report.executions.length === 0) return '';
  const rows = report.executions
    .map(
      (e) =>
        `<tr class="${e.status === 'SUCCEEDED' ? 'holds' : 'fails'}"><td>${esc(e.name)}</td><td>${esc(e.status)}</td><td>${
          e.error ? `<strong>${esc(e.error.name)}</strong><pre class="cause">${esc(e.error.cause)}</pre>` : ''
        }</td><td class="num">${e.historyEvents}</td><td class="num">${(e.maxStatePayloadBytes / 1024).toFixed(1)} KB</td></tr>`,
    )
    .join('\n');
  return `<section id="executions"><h2>Executions</h2><table><thead><tr><th>execution</th><th>status</th><th>error</th><th>history events</th><th>largest state payload</th></tr></thead><tbody>\n${rows}\n</tbody></table></section>`;
}

function outputSection(report: Report): string {
  if (report.output === null || report.output === undefined) return '';
  return `<section id="output"><h2>Execution output</h2><details><summary>JSON</summary><pre class="json">${esc(
    JSON.stringify(report.output, null, 2),
  )}</pre></details></section>`;
}

// ---------------------------------------------------------------------------------------------------
// Formatting

/** Escapes text for HTML element content and quoted attribute values. */
export function esc(text: unknown): string {
  return String(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function str(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function px(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function num(v: number): string {
  return String(Math.round(v * 10) / 10);
}

/** A tick step giving about 8–12 ticks over `span` seconds. */
function tickStep(span: number): number {
  const steps = [
    0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
    604800,
  ];
  return steps.find((s) => span / s <= 12) ?? Math.ceil(span / 12 / 86400) * 86400;
}

/** Tick labels: `0`, `45s`, `2m`, `2m30s`, `1h`, `1h30m`, `1d2h`. */
export function fmtTick(seconds: number): string {
  if (seconds === 0) return '0';
  if (seconds < 60) return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (d > 0) return `${d}d${h ? `${h}h` : ''}${m ? `${m}m` : ''}`;
  if (h > 0) return `${h}h${m ? `${m}m` : ''}`;
  return `${m}m${r ? `${r}s` : ''}`;
}

/** A point in simulated time, to the tenth of a second: `2m08.4s`, `24h02m07s`. */
export function fmtTime(seconds: number): string {
  const tenths = Math.round(Math.max(0, seconds) * 10);
  const s = Math.floor(tenths / 10);
  const frac = tenths % 10;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const sec = `${String(r).padStart(h > 0 || m > 0 ? 2 : 1, '0')}.${frac}s`;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}

/** A duration: `0.4s`, `14m52s`, `24h02m` (as the CLI prints them, with tenths under a minute). */
export function fmtDuration(seconds: number): string {
  const v = Math.max(0, seconds);
  if (v < 60) return `${Math.round(v * 10) / 10}s`;
  const s = Math.round(v);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(r).padStart(2, '0')}s`;
}

const CSS = `
:root { --fg: #1a202c; --muted: #4a5568; --line: #e2e8f0; --bg-alt: #f7fafc; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--fg); margin: 0 auto; padding: 16px 24px 40px; max-width: 1280px; }
h1 { font-size: 22px; margin: 8px 0 12px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
code, pre, .endpoint, .ids, .name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.status { font-size: 13px; padding: 2px 8px; border-radius: 10px; vertical-align: middle; color: #fff; }
.status.ok { background: #2f855a; } .status.bad { background: #c53030; }
.error { border: 1px solid #feb2b2; background: #fff5f5; border-radius: 6px; padding: 8px 12px; margin: 8px 0; }
.error-name { font-weight: 600; color: #9b2c2c; }
pre.cause { white-space: pre-wrap; word-break: break-word; margin: 4px 0 0; font-size: 12.5px; }
pre.json { white-space: pre-wrap; word-break: break-word; font-size: 12px; background: var(--bg-alt); padding: 8px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
.notice { background: #ebf8ff; border-left: 3px solid #3182ce; padding: 6px 10px; }
.hint { color: var(--muted); font-size: 12.5px; margin: 4px 0; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.bad, td.warn, tr.fails td { color: #c53030; font-weight: 600; }
tr.holds td:first-child { color: #2f855a; }
tr.error td:nth-child(3) { color: #c53030; } tr.restop td:nth-child(3) { color: #c05621; } tr.failure td:nth-child(3) { color: #9b2c2c; }
details summary { cursor: pointer; color: var(--muted); margin: 6px 0; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12.5px; margin: 4px 0; }
.key { display: inline-flex; align-items: center; gap: 5px; }
.swatch { display: inline-block; width: 14px; height: 10px; border-radius: 2px; margin-right: 4px; }
.swatch.band { background: rgba(229, 62, 62, 0.1); border: 1px dashed #e53e3e; }
.scroll { overflow-x: auto; }
svg.timeline { font-size: 11px; }
.row-bg { fill: var(--bg-alt); }
.row-label { font-weight: 600; fill: var(--fg); }
.row-sublabel { fill: var(--muted); font-size: 10px; }
.grid { stroke: var(--line); stroke-width: 1; }
.tick, .axis { stroke: #a0aec0; stroke-width: 1; }
.tick-label { fill: var(--muted); text-anchor: middle; font-size: 10.5px; }
.tick-label.end { text-anchor: end; }
.break { fill: #fff; fill-opacity: 0.7; stroke: #a0aec0; stroke-dasharray: 3 3; }
.axis-gap { fill: #fff; }
.bar { rx: 2; }
.bar.waiting { fill-opacity: 0.45; }
.bar-label { fill: #fff; font-size: 9.5px; pointer-events: none; }
.instant { stroke-width: 1.5; }
.downtime-band { fill: rgba(229, 62, 62, 0.07); stroke: #e53e3e; stroke-dasharray: 4 3; stroke-width: 0.8; }
${PHASES.map((p) => `.${p.phase} { fill: ${p.colour}; stroke: ${p.colour}; background: ${p.colour}; }`).join('\n')}
rect.bar { stroke: none; }
.marker.error { fill: #e53e3e; } .marker.restop { fill: #dd6b20; stroke: #7b341e; stroke-width: 0.8; } .marker.failure { fill: #742a2a; }
svg.downtime { font-size: 12px; }
.dt.window { fill: #e53e3e; } .dt.minimum { fill: #a0aec0; }
.dt-label { fill: var(--muted); } .dt-value { fill: var(--fg); font-variant-numeric: tabular-nums; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
`;
