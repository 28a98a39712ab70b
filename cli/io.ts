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

/** The local run's formats, shared so both timelines read the same. */
export {
  causeText,
  clipped,
  countsText,
  fmt as fmtDuration,
} from '../local/runner/progress.ts';
