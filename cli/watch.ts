import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { summary } from '../local/runner/progress.ts';
import { HELP, parseCommand, seconds, UsageError } from './flags.ts';
import { causeText, clipped, fmtDuration, type Io } from './io.ts';

export const WATCH_HELP = `usage: cmk-rotator watch EXECUTION_ARN [--interval SECONDS] [--json]

Follows an execution of the deployed state machine until it ends, printing a timeline like the local run:
each Task as it finishes with the workspace it worked on and a short summary of its result (polling loops
print only when their answer changes), each failure with its error and message, and the per-workspace
executions (rotate-one-workspace) the rotation starts, followed as they appear. Reads the history with
GetExecutionHistory (newest pages first, so each poll reads only what is new); needs states:GetExecutionHistory
on both state machines' executions. Exit code: 0 the execution SUCCEEDED, 1 it FAILED, TIMED_OUT or was
ABORTED. A rotation succeeds only after its old-key retention wait (24 h by default); Ctrl-C stops watching,
not the execution.

  EXECUTION_ARN            arn:aws:states:<region>:<account>:execution:<state machine>:<name> (also --execution-arn)
  --interval SECONDS       seconds between polls (default 5)
  --json                   no timeline; print {executionArn, status, error, cause, output} as JSON at the end
  -h, --help               this help

examples:
  npx cmk-rotator watch arn:aws:states:eu-west-1:111122223333:execution:rotate-workspace-key-prod:manual-1234567890123456-3f2a9c0b1d4e
  npx cmk-rotator watch "$ARN" --interval 30 --json > result.json
`;

const OPTIONS = {
  ...HELP,
  'execution-arn': { type: 'string' },
  interval: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

const EXECUTION_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):\d{12}:execution:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/;

export async function watchCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(OPTIONS, args, 1);
  if (values.help) {
    io.out(WATCH_HELP);
    return 0;
  }
  const arn = positionals[0] ?? values['execution-arn'];
  if (positionals[0] !== undefined && values['execution-arn'] !== undefined)
    throw new UsageError('give the execution ARN once (as an argument or with --execution-arn)');
  if (!arn) throw new UsageError('name the execution: cmk-rotator watch EXECUTION_ARN');
  if (!EXECUTION_ARN.test(arn))
    throw new UsageError(
      `not an execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>): ${arn}`,
    );
  return follow(arn, io, { intervalSeconds: seconds(values.interval, '--interval', 5), json: values.json });
}

/** The region field of an ARN. */
export function regionOfArn(arn: string): string {
  return arn.split(':')[3] ?? '';
}

/** The Step Functions console page of an execution. */
export function consoleLink(executionArn: string): string {
  const region = regionOfArn(executionArn);
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

export type Status = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** How an execution ended (or that it has not). */
export interface Outcome {
  executionArn: string;
  status: Status;
  error?: string;
  cause?: string;
  output?: unknown;
}

export interface FollowOptions {
  intervalSeconds: number;
  json: boolean;
  client?: SFNClient;
  /** Waits between polls (tests make it instant). */
  sleep?: (ms: number) => Promise<void>;
}

type Json = Record<string, unknown>;

/** One execution being followed: the parent, or a per-workspace child it started. */
interface Followed {
  arn: string;
  child: boolean;
  /** Highest event id seen (each poll reads only newer ones). */
  lastId: number;
  /** The workspace a child rotates (from its input). */
  label: string;
  outcome?: Outcome;
  /** Per event id: the state it belongs to and the workspace it works on (from the state's input). */
  states: Map<number, { name: string; type: string; who: string }>;
  /** Tasks whose failure was just printed: their caught exit is not a result to summarise. */
  failed: Set<string>;
  /** Last printed line per state, so polling loops print only when their answer changes. */
  last: Map<string, string>;
}

/**
 * Follows `executionArn` and the child executions it starts until it ends; returns the exit code (0 only
 * for SUCCEEDED). Prints the timeline unless `json`, then the result.
 */
export async function follow(executionArn: string, io: Io, options: FollowOptions): Promise<number> {
  const client = options.client ?? new SFNClient({ region: regionOfArn(executionArn) });
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const write = options.json ? () => {} : (line: string) => io.out(line);
  const names = new Map<number, string>();
  const root: Followed = newFollowed(executionArn, false, '');
  const followed: Followed[] = [root];
  let startedAt: number | undefined;

  // Lines of one poll round, printed in time order: a workspace's execution and the parent interleave.
  let round: Array<{ at: number; text: string }> = [];
  const line = (at: Date | undefined, who: string, text: string) => {
    round.push({ at: at?.getTime() ?? 0, text: `${who ? `[${who}] ` : ''}${text}` });
  };
  const flush = () => {
    const lines = round.sort((a, b) => a.at - b.at);
    round = [];
    for (const l of lines) {
      const t = startedAt !== undefined && l.at > 0 ? (l.at - startedAt) / 1000 : 0;
      write(`${fmtDuration(t).padStart(9)}  ${l.text}`);
    }
  };

  const handle = (f: Followed, e: HistoryEvent) => {
    const id = e.id ?? 0;
    const type = String(e.type ?? '');
    if (type === 'ExecutionStarted') {
      if (!f.child) {
        startedAt ??= e.timestamp?.getTime();
        line(e.timestamp, '', `Execution ${executionArn.split(':').pop()} started`);
      } else {
        const input = parse(e.executionStartedEventDetails?.input) as Json | undefined;
        const ws = ((input?.item as Json | undefined)?.workspace ?? input?.workspace) as Json | undefined;
        if (ws) f.label = labelOf(ws, names);
      }
      return;
    }
    const entered = e.stateEnteredEventDetails;
    if (entered) {
      const input = parse(entered.input) as Json | undefined;
      const ws = input?.workspace as Json | undefined;
      const who = ws ? labelOf(ws, names) : f.label;
      f.states.set(id, { name: entered.name ?? '', type, who });
      const name = entered.name ?? '';
      if (type === 'WaitStateEntered') {
        if (!f.child) line(e.timestamp, who, `${name} (waiting)`);
      } else if (
        /^(Succeed|Fail)StateEntered$/.test(type) ||
        (type === 'PassStateEntered' && OUTCOME_PASS.test(name))
      ) {
        line(e.timestamp, who, name);
      }
      return;
    }
    const state = e.previousEventId === undefined ? undefined : f.states.get(e.previousEventId);
    if (state) f.states.set(id, state);
    const key = state?.name ?? '';

    if (/Scheduled$/.test(type) && state) f.failed.delete(key); // tried again: its exit is a result again
    const submitted = e.taskSubmittedEventDetails;
    if (submitted?.resourceType === 'states' && /^startExecution/.test(submitted.resource ?? '')) {
      const child = (parse(submitted.output) as Json | undefined)?.ExecutionArn;
      if (typeof child === 'string' && !followed.some((x) => x.arn === child))
        followed.push(newFollowed(child, true, state?.who ?? ''));
      return;
    }
    const failure = failureOf(e);
    if (failure && !/^Execution/.test(type)) {
      if (state) f.failed.add(key);
      line(
        e.timestamp,
        state?.who ?? f.label,
        `${key || type} failed: ${failure.error}: ${clipped(causeText(failure.cause), 240)}`,
      );
      return;
    }
    const exited = e.stateExitedEventDetails;
    if (exited) {
      if (type !== 'TaskStateExited') return;
      const name = exited.name ?? '';
      if (f.failed.delete(name)) return;
      const output = (parse(exited.output) ?? {}) as Json;
      if (name === 'Plan the rotation' || name === 'Re-check the key') {
        const plan = output.plan as Json | undefined;
        for (const w of (plan?.workspaces as Json[] | undefined) ?? [])
          names.set(w.workspaceId as number, String(w.workspaceName ?? w.deploymentName ?? w.workspaceId));
        line(
          e.timestamp,
          '',
          `Plan: ${String(plan?.mode)}${plan?.dryRun ? ' (dry run)' : ''} — ${String(plan?.reason ?? '')}`,
        );
        return;
      }
      const who = state?.who ?? f.label;
      const text = `${name}${summary(name, output)}`;
      const lastKey = `${who}|${name}`;
      if (f.last.get(lastKey) === text) return;
      f.last.set(lastKey, text);
      line(e.timestamp, who, text);
      return;
    }
    const end = endOf(e);
    if (end) {
      f.outcome = { executionArn: f.arn, ...end };
      if (f.child && end.status !== 'SUCCEEDED')
        line(
          e.timestamp,
          f.label,
          `workspace execution ${end.status}${end.error ? `: ${end.error}: ${clipped(causeText(end.cause), 240)}` : ''}`,
        );
    }
  };

  for (;;) {
    // The parent, then every child not yet ended, including those the parent started in this round.
    const queue = followed.filter((f) => !f.outcome);
    for (let i = 0; i < queue.length; i++) {
      const f = queue[i] as Followed;
      const known = followed.length;
      for (const e of await newEvents(client, f)) handle(f, e);
      queue.push(...followed.slice(known));
    }
    flush();
    if (root.outcome) break;
    await sleep(options.intervalSeconds * 1000);
  }
  const outcome = root.outcome as Outcome;
  if (options.json) {
    io.out(JSON.stringify(outcome));
  } else {
    write('');
    write(
      `Result: ${outcome.status}${outcome.error ? ` — ${outcome.error}: ${causeText(outcome.cause)}` : ''}`,
    );
    const output = outcome.output as Json | undefined;
    const retirement = (output?.oldKeyRetirement as Json | undefined)?.message;
    if (typeof retirement === 'string') write(retirement);
    if (output !== undefined) write(`Output: ${clipped(JSON.stringify(output), 4000)}`);
    write(`Console: ${consoleLink(executionArn)}`);
  }
  return outcome.status === 'SUCCEEDED' ? 0 : 1;
}

/** Pass states worth a line: how a workspace (or the rotation) ended. */
const OUTCOME_PASS = /^(Workspace |Child execution|(Failed|Rotated) workspace, lock left)/;

function newFollowed(arn: string, child: boolean, label: string): Followed {
  return { arn, child, lastId: 0, label, states: new Map(), failed: new Set(), last: new Map() };
}

/**
 * The events after `f.lastId`, oldest first. Pages are read newest first and only until a known event,
 * so a long history (thousands of events) is read once, not at every poll.
 */
async function newEvents(client: SFNClient, f: Followed): Promise<HistoryEvent[]> {
  const fresh: HistoryEvent[] = [];
  let nextToken: string | undefined;
  outer: do {
    const page = await client.send(
      new GetExecutionHistoryCommand({
        executionArn: f.arn,
        reverseOrder: true,
        includeExecutionData: true,
        maxResults: 1000,
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    for (const e of page.events ?? []) {
      if ((e.id ?? 0) <= f.lastId) break outer;
      fresh.push(e);
    }
    nextToken = page.nextToken;
  } while (nextToken);
  fresh.reverse();
  if (fresh.length > 0) f.lastId = fresh[fresh.length - 1]?.id ?? f.lastId;
  return fresh;
}

function labelOf(ws: Json, names: Map<number, string>): string {
  const id = ws.workspaceId as number | undefined;
  return String(
    (id !== undefined ? names.get(id) : undefined) ?? ws.workspaceName ?? ws.deploymentName ?? id ?? '',
  );
}

function parse(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The error and cause of a failed, timed-out or aborted event of any kind (Lambda, Task, Map, …). */
function failureOf(e: HistoryEvent): { error: string; cause: string | undefined } | undefined {
  const type = String(e.type ?? '');
  if (!/(Failed|TimedOut|Aborted)$/.test(type)) return undefined;
  for (const [key, value] of Object.entries(e)) {
    if (!key.endsWith('EventDetails') || !value || typeof value !== 'object') continue;
    const details = value as { error?: string; cause?: string };
    return { error: details.error ?? type, cause: details.cause };
  }
  return { error: type, cause: undefined };
}

function endOf(e: HistoryEvent): Omit<Outcome, 'executionArn'> | undefined {
  switch (e.type) {
    case 'ExecutionSucceeded':
      return { status: 'SUCCEEDED', output: parse(e.executionSucceededEventDetails?.output) };
    case 'ExecutionFailed':
      return {
        status: 'FAILED',
        ...optional('error', e.executionFailedEventDetails?.error),
        ...optional('cause', e.executionFailedEventDetails?.cause),
      };
    case 'ExecutionTimedOut':
      return {
        status: 'TIMED_OUT',
        ...optional('error', e.executionTimedOutEventDetails?.error ?? 'States.Timeout'),
        ...optional('cause', e.executionTimedOutEventDetails?.cause),
      };
    case 'ExecutionAborted':
      return {
        status: 'ABORTED',
        ...optional('error', e.executionAbortedEventDetails?.error),
        ...optional('cause', e.executionAbortedEventDetails?.cause),
      };
    default:
      return undefined;
  }
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
