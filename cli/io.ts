/**
 * Where a command writes: lines to standard output (results) and standard error (diagnostics). Tests pass
 * their own to capture both; the launcher uses the process's streams.
 */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** An `Io` that keeps what was written (tests, and `--json` callers that want the text too). */
export function capturingIo(): Io & { stdout: string[]; stderr: string[]; text(): string } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (line) => {
      stdout.push(line);
    },
    err: (line) => {
      stderr.push(line);
    },
    text: () => stdout.join('\n'),
  };
}

/** `1234.5` seconds → `20m34s` (the local run's timeline format). */
export function fmtDuration(seconds: number): string {
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

export function clipped(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
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

/** `{clusters: 2, pools: 0, jobs: 1}` → `2 clusters, 1 jobs` (zeros left out). */
export function countsText(counts: unknown): string {
  if (!counts || typeof counts !== 'object') return '';
  return Object.entries(counts as Record<string, unknown>)
    .filter(([, v]) => typeof v === 'number' && v > 0)
    .map(([k, v]) => `${String(v)} ${k}`)
    .join(', ');
}
