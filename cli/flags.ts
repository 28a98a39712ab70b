import { type ParseArgsConfig, parseArgs } from 'node:util';
import { parseFlags, UsageError } from '../local/cli/args.ts';

export { UsageError };

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * A subcommand's flags, the way the local commands parse them (local/cli/args.ts: an unknown flag names the
 * nearest valid one, a flag missing its value says so, both `UsageError` → usage and exit code 2), plus up
 * to `maxPositionals` plain arguments (`watch EXECUTION_ARN`).
 */
export function parseCommand<T extends Options>(options: T, args: string[], maxPositionals = 0) {
  // Find the plain arguments first (a flag's value is not one), then let parseFlags judge the flags.
  const { tokens } = parseArgs({ options, args, strict: false, allowPositionals: true, tokens: true });
  const positionalIndexes = new Set(tokens.filter((t) => t.kind === 'positional').map((t) => t.index));
  const positionals = args.filter((_, i) => positionalIndexes.has(i));
  const values = parseFlags(
    options,
    args.filter((a, i) => !positionalIndexes.has(i) && a !== '--'),
  );
  if (positionals.length > maxPositionals) {
    const extra = positionals[maxPositionals] as string;
    const near = extra.startsWith('-') ? '' : nearest(extra.replace(/^-+/, ''), Object.keys(options));
    throw new UsageError(
      maxPositionals === 0
        ? `unexpected argument ${extra}: every argument is a --flag${near ? ` (did you mean --${near}?)` : ''}`
        : `unexpected argument ${extra}: at most ${maxPositionals} plain argument(s)`,
    );
  }
  return { values, positionals };
}

/** The name nearest to `name` (edit distance at most a third of the longer name), or undefined. */
export function nearest(name: string, valid: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of valid) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    const limit = Math.max(1, Math.floor(Math.max(name.length, candidate.length) / 3));
    if (distance <= limit && (best === undefined || distance < best.distance))
      best = { name: candidate, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = row;
  }
  return previous[b.length] ?? 0;
}

/** `1,2, 3` → `[1, 2, 3]`; anything that is not a workspace id is a `UsageError` naming the flag. */
export function workspaceIdList(text: string, flag: string): number[] {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new UsageError(`${flag} needs at least one workspace id`);
  return parts.map((p) => workspaceId(p, flag));
}

export function workspaceId(text: string, flag: string): number {
  const id = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(id) || id <= 0)
    throw new UsageError(
      `${flag}: "${text}" is not a workspace id (a whole number, as in the account console)`,
    );
  return id;
}

/** A positive number of seconds (may be fractional). */
export function seconds(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value))
    throw new UsageError(`${flag} must be a positive number of seconds, got ${text}`);
  return value;
}

/** The options every command shares. */
export const HELP = { help: { type: 'boolean', short: 'h', default: false } } as const;
