import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { assertReadableFile } from '../local/cli/args.ts';
import { UsageError, workspaceIdList } from './flags.ts';

/** The flags that build an execution input without a file (plan, start). */
export const INPUT_FLAGS = {
  input: { type: 'string' },
  'workspace-ids': { type: 'string' },
  'all-workspaces': { type: 'boolean' },
  'key-arn': { type: 'string' },
  'key-alias': { type: 'string' },
  'use-cases': { type: 'string' },
  'active-runs': { type: 'string' },
  'drain-timeout-minutes': { type: 'string' },
  verify: { type: 'boolean' },
  'wait-for-lock': { type: 'boolean' },
} as const;

export const INPUT_HELP = `  --input FILE.json        the execution input (docs/deploy.md § Start a rotation by hand), or instead:
  --workspace-ids 1,2      workspaceIds
  --all-workspaces         allWorkspaces: true (every workspace of the account the key concerns)
  --key-arn ARN            keyArn (target key)
  --key-alias alias/NAME   keyAlias (target key)
  --use-cases LIST         useCases: MANAGED_SERVICES, STORAGE or MANAGED_SERVICES,STORAGE
  --active-runs MODE       activeRuns: wait (default), cancel or fail
  --drain-timeout-minutes N  drainTimeoutMinutes
  --verify                 verify: true (check without downtime, as after a KMS rotation)
  --wait-for-lock          waitForLock: true`;

type InputValues = {
  input?: string | undefined;
  'workspace-ids'?: string | undefined;
  'all-workspaces'?: boolean | undefined;
  'key-arn'?: string | undefined;
  'key-alias'?: string | undefined;
  'use-cases'?: string | undefined;
  'active-runs'?: string | undefined;
  'drain-timeout-minutes'?: string | undefined;
  verify?: boolean | undefined;
  'wait-for-lock'?: boolean | undefined;
};

/**
 * The execution input a command was given: the JSON file of `--input`, or the object the input flags
 * describe (`extra` adds fields such as `dryRun`), or `fallback` (a scenario's own input) when neither is
 * given. Not validated here: the caller hands it to the same schema the plan step uses.
 */
export function inputFrom(
  values: InputValues,
  options: { extra?: Record<string, unknown>; fallback?: unknown } = {},
): unknown {
  const flagNames = Object.keys(INPUT_FLAGS).filter((f) => f !== 'input');
  const given = flagNames.filter((f) => values[f as keyof InputValues] !== undefined);
  if (values.input !== undefined) {
    if (given.length > 0)
      throw new UsageError(
        `give either --input FILE or the input flags, not both (also given: --${given.join(', --')})`,
      );
    assertReadableFile(values.input, '--input');
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(values.input, 'utf8'));
    } catch (error) {
      throw new UsageError(`--input ${values.input} is not JSON: ${(error as Error).message}`);
    }
    if (options.extra && parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return { ...(parsed as Record<string, unknown>), ...options.extra };
    return parsed;
  }
  if (given.length === 0) {
    if (options.fallback !== undefined) return options.fallback;
    throw new UsageError(
      'name the execution input: --input FILE.json, or --workspace-ids 1,2 with --key-arn ARN (or --key-alias)',
    );
  }
  const input: Record<string, unknown> = {};
  if (values['workspace-ids'] !== undefined)
    input.workspaceIds = workspaceIdList(values['workspace-ids'], '--workspace-ids');
  if (values['all-workspaces']) input.allWorkspaces = true;
  if (values['key-arn'] !== undefined) input.keyArn = values['key-arn'];
  if (values['key-alias'] !== undefined) input.keyAlias = values['key-alias'];
  if (values['use-cases'] !== undefined)
    input.useCases = values['use-cases']
      .split(',')
      .map((u) => u.trim().toUpperCase())
      .filter((u) => u !== '');
  if (values['active-runs'] !== undefined) input.activeRuns = values['active-runs'];
  if (values['drain-timeout-minutes'] !== undefined) {
    const minutes = Number(values['drain-timeout-minutes']);
    if (!Number.isFinite(minutes))
      throw new UsageError(
        `--drain-timeout-minutes must be a number, got ${values['drain-timeout-minutes']}`,
      );
    input.drainTimeoutMinutes = minutes;
  }
  if (values.verify) input.verify = true;
  if (values['wait-for-lock']) input.waitForLock = true;
  return { ...input, ...options.extra };
}

/** JSON with object keys sorted at every level: the same input always gives the same text (and name). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, sortKeys(v)]),
  );
}

/**
 * A deterministic execution name: `<kind>-<first workspace id>-<12 hex of the canonical input's SHA-256>`,
 * so the same command started twice is one execution (Step Functions: same name and input while it runs is
 * a no-op; after it ended, ExecutionAlreadyExists). At most 80 characters of letters, digits, `-` and `_`.
 */
export function executionNameFor(
  input: {
    workspaceIds?: readonly number[] | undefined;
    allWorkspaces?: boolean | undefined;
    dryRun?: boolean | undefined;
    verify?: boolean | undefined;
  },
  canonical: string,
): string {
  const kind = input.dryRun ? 'dryrun' : input.verify ? 'verify' : 'manual';
  const who = input.workspaceIds?.[0] ?? (input.allWorkspaces ? 'all' : 'configured');
  const hash = createHash('sha256').update(canonical).digest('hex').slice(0, 12);
  return `${kind}-${who}-${hash}`;
}
