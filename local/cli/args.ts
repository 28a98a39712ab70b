import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { nearestName } from '../scenario-fields.ts';

/** A command-line mistake: printed as one line with the usage, exit code 2 (no stack). */
export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * `parseArgs` with answers a person can act on: an unknown flag names the nearest valid one, a flag missing
 * its value says so, and both end in `UsageError` (the caller prints it with the usage and exits 2).
 */
export function parseFlags<T extends Options>(options: T, args: string[] = process.argv.slice(2)) {
  try {
    return parseArgs({ options, args, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const message = (error as Error).message;
    const code = (error as { code?: string }).code;
    const flag = /'(-{1,2}[^'\s]+)'/.exec(message)?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const near = nearestName(flag.replace(/^-+/, ''), Object.keys(options));
      throw new UsageError(`unknown option ${flag}${near ? `; did you mean --${near}?` : ''}`);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new UsageError(
        `unexpected argument ${flag || message.split("'")[1] || ''}: every argument is a --flag`,
      );
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
      throw new UsageError(message.replace(/^Option /, 'option '));
    throw error;
  }
}

/**
 * Refuses, before any work, a report path that could not be written at the end: its directory must exist
 * and be writable, and the path must not be a directory or a read-only file.
 */
export function assertWritableFile(path: string, flag: string): void {
  const full = resolve(path);
  const dir = dirname(full);
  if (!existsSync(dir)) throw new UsageError(`${flag} ${path}: directory ${dir} does not exist`);
  if (existsSync(full) && statSync(full).isDirectory())
    throw new UsageError(`${flag} ${path} is a directory`);
  try {
    accessSync(existsSync(full) ? full : dir, constants.W_OK);
  } catch {
    throw new UsageError(`${flag} ${path}: not writable (${existsSync(full) ? full : dir})`);
  }
}

/** Refuses, before any work, a file that cannot be read. */
export function assertReadableFile(path: string, flag: string): void {
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new UsageError(`${flag} ${path}: no such readable file`);
  }
  if (statSync(path).isDirectory()) throw new UsageError(`${flag} ${path} is a directory, not a file`);
}
