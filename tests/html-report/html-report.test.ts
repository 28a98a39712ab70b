import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { esc, fmtDuration, fmtTick, phaseOf, renderHtmlReport } from '../../local/runner/html-report.ts';
import type { Report } from '../../local/runner/report.ts';
import { runScenario } from '../../local/runner/run.ts';
import { loadScenario } from '../../local/scenario.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

/** One run per scenario, shared by the tests. */
const runs = new Map<string, Promise<Report>>();
const reportOf = (name: string): Promise<Report> => {
  let run = runs.get(name);
  if (!run) {
    const path = new URL(`../../local/scenarios/${name}.json`, import.meta.url).pathname;
    run = loadScenario(path).then((scenario) => runScenario(scenario));
    runs.set(name, run);
  }
  return run;
};

type Attrs = Record<string, string>;

const unescapeHtml = (text: string) =>
  text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');

/** The attributes of every opening tag `<tag …>` whose attributes include `has`. */
function tags(html: string, tag: string, has: string): Attrs[] {
  const found: Attrs[] = [];
  for (const m of html.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, 'g'))) {
    const attrs: Attrs = {};
    for (const a of (m[1] ?? '').matchAll(/([\w:-]+)="([^"]*)"/g))
      attrs[a[1] as string] = unescapeHtml(a[2] ?? '');
    if (has in attrs) found.push(attrs);
  }
  return found;
}

/** The timeline's axis as the SVG declares it, and the x it gives a simulated time. */
function axisOf(html: string) {
  const [svg] = tags(html, 'svg', 'data-scale');
  expect(svg).toBeDefined();
  const a = svg as Attrs;
  const axis = {
    left: Number(a['data-left']),
    scale: Number(a['data-scale']),
    axisEnd: Number(a['data-axis-end']),
    tail:
      a['data-tail-left'] === undefined
        ? undefined
        : {
            left: Number(a['data-tail-left']),
            scale: Number(a['data-tail-scale']),
            domainEnd: Number(a['data-domain-end']),
          },
  };
  const x = (t: number) =>
    t <= axis.axisEnd || !axis.tail
      ? axis.left + t * axis.scale
      : axis.tail.left + (t - axis.axisEnd) * axis.tail.scale;
  return { axis, x };
}

const key = (name: string, start: number, end: number, iteration: number | string | undefined) =>
  `${iteration ?? '-'}|${name}|${start}|${end}`;

describe('The HTML run report', () => {
  it('is one self-contained page: no script, nothing loaded from the network', async () => {
    // Prepare
    const report = await reportOf('demo');
    // Act
    const html = renderHtmlReport(report);
    // Assess
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\bon[a-z]+\s*=/i); // no inline event handlers either
    expect(html).not.toMatch(/\b(?:src|href|xlink:href|action)\s*=/i);
    expect(html).not.toMatch(/<(?:link|img|iframe|object|embed|audio|video|source)\b/i);
    expect(html).not.toMatch(/url\s*\(|@import|@font-face/i);
    expect(html).not.toMatch(/https?:\/\//i);
    // the same report renders the same page
    expect(renderHtmlReport(report)).toBe(html);
  });

  it('shows the scenario, the status, the simulated duration and the sections a person reads', async () => {
    // Prepare
    const report = await reportOf('demo');
    // Act
    const html = renderHtmlReport(report);
    // Assess
    expect(html).toContain('<span class="name">demo</span>');
    expect(html).toContain('<span class="status ok">SUCCEEDED</span>');
    expect(report.simulatedSeconds).toBeGreaterThan(24 * 3600); // the retention wait
    expect(html).toContain(
      `<dt>Simulated duration</dt><dd>${fmtDuration(report.simulatedSeconds)} (${report.simulatedSeconds} s)</dd>`,
    );
    expect(fmtDuration(report.simulatedSeconds)).toMatch(/^24h0\dm$/);
    for (const id of ['timeline', 'downtime', 'compute', 'api', 'kms', 'invariants', 'executions', 'output'])
      expect(html).toContain(`<section id="${id}">`);
    // API calls by endpoint: every endpoint, most called first
    const endpoints = [
      ...html.matchAll(/<td class="endpoint">([^<]*)<\/td><td class="num">(\d+)<\/td>/g),
    ].map((m) => [unescapeHtml(m[1] ?? ''), Number(m[2])] as const);
    expect(new Map(endpoints)).toEqual(new Map(Object.entries(report.apiCalls.byEndpoint)));
    const counts = endpoints.map(([, n]) => n);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    // every invariant with its verdict and detail
    for (const i of report.invariants) {
      expect(html).toContain(
        `<tr class="holds"><td>✔ holds</td><td>${esc(i.name)}</td><td>${esc(i.detail)}</td></tr>`,
      );
    }
    // what was stopped and restored, per kind: every schedule paused is unpaused, every warehouse back
    const distinct = (pattern: RegExp, id: (e: Report['callLog'][number]) => string) =>
      new Set(report.callLog.filter((e) => e.status < 400 && pattern.test(JSON.stringify(e))).map(id)).size;
    const paused = distinct(/jobs\/update.*"pause_status":"PAUSED"/, (e) =>
      String((e.body as { job_id: number }).job_id),
    );
    const warehouses = distinct(/warehouses\/[^/]+\/stop/, (e) => e.path);
    expect(paused).toBeGreaterThan(0);
    expect(warehouses).toBeGreaterThan(0);
    expect(html).toContain(
      `<tr><td>job schedules and triggers</td><td class="num">${paused}</td><td class="num">0</td><td class="num">${paused}</td>`,
    );
    expect(html).toContain(
      `<tr><td>SQL warehouses</td><td class="num">${warehouses}</td><td class="num">0</td><td class="num">${warehouses}</td>`,
    );
  });

  it('draws one bar per state, at its enter and exit times on the shared axis', async () => {
    // Prepare
    const report = await reportOf('demo');
    // Act
    const html = renderHtmlReport(report);
    // Assess
    const bars = tags(html, 'rect', 'data-state');
    expect(bars).toHaveLength(report.states.length);
    const expected = report.states.map((s) => key(s.name, s.enteredAt, s.exitedAt, s.iteration)).sort();
    const drawn = bars
      .map((b) =>
        key(b['data-state'] as string, Number(b['data-start']), Number(b['data-end']), b['data-iteration']),
      )
      .sort();
    expect(drawn).toEqual(expected);

    const { axis, x } = axisOf(html);
    // The 24 h retention wait is compressed after a break; the workspace's activity is on the linear axis.
    expect(axis.tail?.domainEnd).toBeGreaterThanOrEqual(report.simulatedSeconds);
    const activityEnd = Math.max(
      ...report.states.filter((s) => s.iteration !== undefined).map((s) => s.exitedAt),
    );
    expect(axis.axisEnd).toBeGreaterThanOrEqual(activityEnd);
    expect(axis.axisEnd).toBeLessThan(report.simulatedSeconds / 10);
    for (const b of bars) {
      const start = Number(b['data-start']);
      const end = Number(b['data-end']);
      if (end <= axis.axisEnd) {
        expect(Math.abs(Number(b.x) - (axis.left + start * axis.scale))).toBeLessThanOrEqual(0.5);
        expect(Math.abs(Number(b.width) - (end - start) * axis.scale)).toBeLessThanOrEqual(0.5);
      }
      expect(Math.abs(Number(b.x) - x(start))).toBeLessThanOrEqual(0.5);
      expect(Math.abs(Number(b.x) + Number(b.width) - x(end))).toBeLessThanOrEqual(0.5);
    }
    // the tick labels are readable times on the same axis
    const ticks = [...html.matchAll(/<text class="tick-label" x="([\d.]+)"[^>]*>([^<]*)<\/text>/g)];
    expect(ticks.map((t) => t[2])).toEqual(expect.arrayContaining(['0', '2m', '10m']));
    const tenMinutes = ticks.find((t) => t[2] === '10m');
    expect(Math.abs(Number(tenMinutes?.[1]) - x(600))).toBeLessThanOrEqual(0.5);
  });

  it('colours states by phase', () => {
    const cases: Array<[string, ReturnType<typeof phaseOf>]> = [
      ['Stop compute', 'stop'],
      ['Wait for compute to stop', 'stop'],
      ['Check compute stopped', 'stop'],
      ['Is compute stopped?', 'stop'],
      ['Update workspace', 'update'],
      ['Check workspace', 'update'],
      ['Wait for workspace to run again', 'update'],
      ['Wait after updating the workspace', 'update'],
      ['Wait for the stop to take effect', 'stop'],
      ['Wait for compute to start', 'restore'],
      ['Wait for compute to start after failure', 'recovery'],
      ['Is the workspace still updating?', 'recovery'],
      ['Keep compute stopped during the storage wait', 'storage'],
      ['Wait for the storage key to take effect', 'storage'],
      ['Restore compute', 'restore'],
      ['Check compute restored', 'restore'],
      ['Check the workspace before restoring', 'recovery'],
      ['Restore compute after failure', 'recovery'],
      ['Report what is still stopped', 'recovery'],
      ['Workspace failed, compute restored', 'recovery'],
      ['Plan the rotation', 'other'],
      ['Wait until the old key may be retired', 'other'],
    ];
    for (const [name, phase] of cases) expect([name, phaseOf(name)]).toEqual([name, phase]);
    expect(['0', '45s', '2m', '2m30s', '1h', '1h30m', '1d']).toEqual(
      [0, 45, 120, 150, 3600, 5400, 86400].map(fmtTick),
    );
  });

  it('sets the downtime window against the platform minimum, bar widths in their ratio', async () => {
    // Prepare
    const report = await reportOf('demo');
    // Act
    const html = renderHtmlReport(report);
    // Assess
    expect(report.downtime.length).toBeGreaterThan(0);
    for (const d of report.downtime) {
      const of = (kind: string) =>
        tags(html, 'rect', 'data-kind').find(
          (r) => r['data-kind'] === kind && r['data-workspace'] === String(d.workspace_id),
        ) as Attrs;
      const window = of('window');
      const minimum = of('minimum');
      expect(Number(window['data-seconds'])).toBe(d.windowSeconds);
      expect(Number(minimum['data-seconds'])).toBe(d.platformMinimumSeconds);
      const ratio = (d.windowSeconds as number) / d.platformMinimumSeconds;
      expect(Number(window.width) / Number(minimum.width)).toBeCloseTo(ratio, 2);
      expect(html).toContain(`×${ratio.toFixed(2)} the platform minimum`);
    }
  });

  it('escapes every text: a scenario name or an error cause cannot inject markup', async () => {
    // Prepare
    const report = await reportOf('demo');
    const evil: Report = {
      ...report,
      scenario: '<script>alert(1)</script>',
      status: 'FAILED',
      error: { name: '<img src=x onerror=alert(1)>', cause: '<script>alert(1)</script> & "quoted"' },
      states: [
        ...report.states,
        { name: 'x" onmouseover="alert(1)', enteredAt: 1, exitedAt: 2, iteration: 0 },
      ],
      invariants: [
        { name: '<b>bold</b>', holds: false, detail: '</td></tr></table><script>alert(2)</script>' },
      ],
      apiCalls: { total: 1, byEndpoint: { 'GET /<script>': 1 } },
    };
    // Act
    const html = renderHtmlReport(evil);
    // Assess
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    expect(html).not.toMatch(/<b>bold/);
    expect(html).not.toMatch(/\bonmouseover\s*=\s*"/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;');
    expect(html).toContain('<title>cmk-rotator run report — &lt;script&gt;alert(1)&lt;/script&gt;</title>');
    expect(html).toContain('data-state="x&quot; onmouseover=&quot;alert(1)"');
    expect(tags(html, 'rect', 'data-state').some((b) => b['data-state'] === 'x" onmouseover="alert(1)')).toBe(
      true,
    );
  });

  it('renders a failed rotation: the error, the injected fault and the failure markers', async () => {
    // Prepare
    const report = await reportOf('failing-patch');
    // Act
    const html = renderHtmlReport(report);
    // Assess
    expect(report.status).toBe('FAILED');
    expect(html).toContain('<span class="status bad">FAILED</span>');
    expect(html).toContain(`<div class="error-name">${esc(report.error?.name)}</div>`);
    expect(html).toContain(`<pre class="cause">${esc(report.error?.cause)}</pre>`);
    const markers = tags(html, 'g', 'data-marker');
    // the injected 500 on the PATCH, on the workspace's row, at its time
    const patch = report.callLog.find((e) => e.method === 'PATCH' && e.status === 500);
    expect(patch).toBeDefined();
    expect(markers).toContainEqual(
      expect.objectContaining({ 'data-marker': 'error', 'data-t': String(patch?.t), 'data-row': 'i0' }),
    );
    // failures: compensation starting on the workspace's row, its outcome, and the execution's failure
    const failures = markers.filter((m) => m['data-marker'] === 'failure');
    const recovery = report.states.find((s) => s.name === 'Check the workspace before restoring');
    expect(failures).toContainEqual(
      expect.objectContaining({ 'data-row': 'i0', 'data-t': String(recovery?.enteredAt) }),
    );
    const failed = report.states.find((s) => s.name.startsWith('Workspace failed'));
    expect(failures).toContainEqual(
      expect.objectContaining({ 'data-row': 'i0', 'data-t': String(failed?.enteredAt) }),
    );
    expect(failures).toContainEqual(expect.objectContaining({ 'data-row': 'parent' }));
    expect(html).toMatch(/<summary>\d+ event\(s\)/);
    // the execution, with its error
    expect(html).toContain(`<td>${esc(report.executions[0]?.name)}</td><td>FAILED</td>`);
    // the bars are drawn for this run too
    expect(tags(html, 'rect', 'data-state')).toHaveLength(report.states.length);
    expect(html).not.toMatch(/<script/i);
  });

  it('marks each resource stopped again on the axis and counts it per kind', async () => {
    // Prepare
    const report = await reportOf('compute-comes-back');
    // Act
    const html = renderHtmlReport(report);
    // Assess
    const restops = tags(html, 'g', 'data-marker').filter((m) => m['data-marker'] === 'restop');
    // a stop call for a resource an earlier stop call already stopped (the scenario starts a cluster and
    // a warehouse again during the window)
    const again = (pattern: RegExp) =>
      report.callLog
        .filter((e) => e.status < 400 && e.method === 'POST' && pattern.test(e.path))
        .filter((e, i, all) => {
          const id = JSON.stringify(e.body) + e.path;
          return all.findIndex((o) => JSON.stringify(o.body) + o.path === id) < i;
        })
        .map((e) => e.t);
    const clusters = again(/\/clusters\/delete$/);
    const warehouses = again(/\/warehouses\/[^/]+\/stop$/);
    expect(clusters.length).toBeGreaterThan(0);
    expect(warehouses.length).toBeGreaterThan(0);
    expect(restops.every((m) => m['data-row'] === 'i0')).toBe(true);
    expect(restops.map((m) => Number(m['data-t']))).toEqual(
      [...clusters, ...warehouses].sort((a, b) => a - b),
    );
    expect(html).toMatch(
      new RegExp(
        `<tr><td>clusters</td><td class="num">\\d+</td><td class="num warn">${clusters.length}</td>`,
      ),
    );
    expect(html).toMatch(
      new RegExp(
        `<tr><td>SQL warehouses</td><td class="num">\\d+</td><td class="num warn">${warehouses.length}</td>`,
      ),
    );
  });

  it('classifies every state of the shipped state machines', () => {
    const names: string[] = [];
    const walk = (m: { States: Record<string, Record<string, unknown>> }) => {
      for (const [name, state] of Object.entries(m.States)) {
        names.push(name);
        const inner = (state.ItemProcessor ?? state.Iterator) as typeof m | undefined;
        if (inner) walk(inner);
      }
    };
    for (const file of ['rotate-workspace-key', 'rotate-one-workspace'])
      walk(
        JSON.parse(readFileSync(new URL(`../../statemachines/${file}.asl.json`, import.meta.url), 'utf8')),
      );
    const phases = new Set(names.map(phaseOf));
    expect([...phases].sort()).toEqual(['other', 'recovery', 'restore', 'stop', 'storage', 'update']);
    // no state on the failure path is coloured as a normal step, and none of the normal path as a failure
    for (const name of names.filter((n) => /after failure|before restoring|what is still stopped/.test(n)))
      expect([name, phaseOf(name)]).toEqual([name, 'recovery']);
  });
});
