import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { sfnClient } from './aws/sfn.ts';
import { replaceAwsClient, type SdkClient } from './aws/shared.ts';
import { causeMessage, clip } from './errors.ts';
import { logger } from './log.ts';
import { type PublishResult, publishNotification } from './notify.ts';
import * as z from './zod.ts';

/**
 * The message sent when a rotation ends (EventBridge "Step Functions Execution Status Change" → the function
 * notify-execution-ended → the notification topic). It names the execution, its status, each workspace with
 * its error and cause, what is still stopped, the console link and the CLI command.
 *
 * It never carries the execution's input or output, nor the event's: the input of an event-triggered
 * execution is a CloudTrail event, which names the caller and their IP address. Only the fields picked in
 * `factsFromEvent` and `describedFacts` are ever read. Everything taken from the execution (its error, its
 * cause) goes through `redact` (secrets, tokens, credentials, IP and e-mail addresses) and is clipped, and
 * the whole message is cut to fit SNS' 256 KB.
 */

/** The event as far as a notification reads it; anything else in it (input, output, …) is never read. */
export const ExecutionStatusChangeSchema = z.looseObject({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  region: z.optional(z.string().check(z.maxLength(64))),
  detail: z.looseObject({
    executionArn: z.string().check(z.minLength(1), z.maxLength(2048)),
    stateMachineArn: z.optional(z.nullable(z.string().check(z.maxLength(2048)))),
    name: z.optional(z.nullable(z.string().check(z.maxLength(256)))),
    status: z.string().check(z.minLength(1), z.maxLength(64)),
    startDate: z.optional(z.nullable(z.number())),
    stopDate: z.optional(z.nullable(z.number())),
    error: z.optional(z.nullable(z.string())),
    cause: z.optional(z.nullable(z.string())),
  }),
});
export type ExecutionStatusChange = z.infer<typeof ExecutionStatusChangeSchema>;

/** What a message is made of: never the input or output. */
export interface ExecutionFacts {
  executionArn: string;
  name: string;
  status: string;
  region: string;
  stateMachineArn?: string;
  startDate?: number;
  stopDate?: number;
  error?: string;
  cause?: string;
  /** DescribeExecution says the execution runs again (redriven since it ended). */
  currentStatus?: string;
  redriveCount?: number;
  /** Why the error and cause could not be read from the execution (the error's name only). */
  describeFailed?: string;
}

/** SNS takes messages up to 256 KB; the message stays well under it (the subject and attributes count too). */
export const MAX_MESSAGE_BYTES = 240 * 1024;
/** Characters kept of one workspace's cause, of what is still stopped in it, and of a cause not parsed. */
const CHARS = { error: 120, workspaceCause: 2_000, stillStopped: 3_000, cause: 8_000, name: 256 } as const;

/** The facts of the event: picked field by field, so the input and output are never even copied. */
export function factsFromEvent(event: ExecutionStatusChange): ExecutionFacts {
  const d = event.detail;
  const facts: ExecutionFacts = {
    executionArn: d.executionArn,
    name: d.name ?? executionNameOf(d.executionArn),
    status: d.status,
    region: event.region ?? arnPart(d.executionArn, 3) ?? 'us-east-1',
  };
  if (typeof d.stateMachineArn === 'string') facts.stateMachineArn = d.stateMachineArn;
  if (typeof d.startDate === 'number') facts.startDate = d.startDate;
  if (typeof d.stopDate === 'number') facts.stopDate = d.stopDate;
  if (typeof d.error === 'string') facts.error = d.error;
  if (typeof d.cause === 'string') facts.cause = d.cause;
  return facts;
}

/** An execution that did not succeed and whose event lacks its error or cause (null, or left out). */
export function needsDescription(facts: ExecutionFacts): boolean {
  return facts.status !== 'SUCCEEDED' && (facts.error === undefined || facts.cause === undefined);
}

/** The DescribeExecution answer, as far as a notification reads it. */
interface DescribedExecution {
  status?: string;
  error?: string | null;
  cause?: string | null;
  redriveCount?: number | null;
}

/** `facts` completed from DescribeExecution's answer: error, cause and redrives only (never input/output). */
export function describedFacts(facts: ExecutionFacts, described: DescribedExecution): ExecutionFacts {
  const out: ExecutionFacts = { ...facts };
  if (out.error === undefined && typeof described.error === 'string') out.error = described.error;
  if (out.cause === undefined && typeof described.cause === 'string') out.cause = described.cause;
  if (typeof described.redriveCount === 'number' && described.redriveCount > 0)
    out.redriveCount = described.redriveCount;
  if (typeof described.status === 'string' && described.status !== facts.status)
    out.currentStatus = described.status;
  return out;
}

/** One failed workspace, as the rotation's combined error (lib/retention.ts) describes it. */
export interface WorkspaceFailure {
  workspaceId: string;
  error: string;
  cause: string;
  /** `undefined` when the cause did not say. */
  keyChanged?: boolean;
  /** "compute restored to its pre-rotation state", or "compute NOT fully restored (…); still stopped: …". */
  compute?: string;
}

/** The rotation's combined error (`RotationFailed` or the shared error name), read back. */
export interface RotationFailure {
  failedCount: number;
  totalCount: number;
  /** Failed workspace ids; `*` marks one whose compute was NOT fully restored. */
  failed: string[];
  /** How many more failed ids the cause left out (`… and N more`). */
  failedNotListed: number;
  rotated: string[];
  rotatedNotListed: number;
  /** Failed workspaces whose key had changed: the old key must be kept too. */
  keyChanged: string[];
  keyChangedNotListed: number;
  workspaces: WorkspaceFailure[];
  /** Failures the cause had no room to detail. */
  notDetailed: number;
}

const HEADER = /^(\d+) of (\d+) workspace\(s\) failed\./;
const FAILED_LIST = /Workspaces failed(?: \([^)]*\))?: (.+?)\.(?=\s|$)/;
const ROTATED_LIST = /\bworkspaces (.+?) were rotated:/;
const KEY_CHANGED_LIST = /\bThe key of workspace\(s\) (.+?) changed before they failed:/;
const KEY_CHANGED_ALL = /\bThe key of every failed workspace changed before it failed:/;
/** A workspace's entry starts after the end of a sentence or of the previous entry. */
const WORKSPACE_ENTRY = /(?:^|[.;])\s+workspace (\d{1,19}): ([A-Za-z][\w.]{0,99}): /g;
const ENTRY_STATUS = /^([\s\S]*) \[(key changed|key change not confirmed); ([\s\S]*)\]$/;
const NOT_DETAILED = /\s*\((\d+) more failure\(s\) not detailed here\)\s*$/;

/**
 * Reads the combined error of a rotation (lib/retention.ts `rotationFailure`): the failed and rotated ids,
 * then `workspace <id>: <error>: <cause> [key …; compute …];` per failure. `undefined` for any other cause.
 */
export function parseRotationFailure(message: string): RotationFailure | undefined {
  const header = HEADER.exec(message);
  if (!header) return undefined;
  const failedList = splitIds(FAILED_LIST.exec(message)?.[1]);
  const rotatedList = splitIds(ROTATED_LIST.exec(message)?.[1]);
  const keyChangedList = KEY_CHANGED_ALL.test(message)
    ? { ids: failedList.ids.map((id) => id.replace(/\*$/, '')), more: failedList.more }
    : splitIds(KEY_CHANGED_LIST.exec(message)?.[1]);
  const entries = [...message.matchAll(WORKSPACE_ENTRY)];
  let notDetailed = 0;
  const workspaces = entries.map((m, i) => {
    const start = (m.index ?? 0) + m[0].length;
    const end = entries[i + 1]?.index ?? message.length;
    let text = message.slice(start, end);
    if (i === entries.length - 1) {
      const more = NOT_DETAILED.exec(text);
      if (more) {
        notDetailed = Number(more[1]);
        text = text.slice(0, more.index);
      }
    }
    text = text.trim().replace(/;$/, '');
    const status = ENTRY_STATUS.exec(text);
    const failure: WorkspaceFailure = {
      workspaceId: m[1] as string,
      error: m[2] as string,
      cause: status ? (status[1] as string) : text,
    };
    if (status) {
      failure.keyChanged = status[2] === 'key changed';
      failure.compute = status[3] as string;
    }
    return failure;
  });
  if (entries.length === 0) {
    const more = NOT_DETAILED.exec(message);
    if (more) notDetailed = Number(more[1]);
  }
  return {
    failedCount: Number(header[1]),
    totalCount: Number(header[2]),
    failed: failedList.ids,
    failedNotListed: failedList.more,
    rotated: rotatedList.ids,
    rotatedNotListed: rotatedList.more,
    keyChanged: keyChangedList.ids,
    keyChangedNotListed: keyChangedList.more,
    workspaces,
    notDetailed,
  };
}

/** `1, 2* and 3 more` → ids and the count left out. */
function splitIds(list: string | undefined): { ids: string[]; more: number } {
  if (list === undefined) return { ids: [], more: 0 };
  const more = / and (\d+) more$/.exec(list);
  const ids = (more ? list.slice(0, more.index) : list)
    .split(', ')
    .map((id) => id.trim())
    .filter((id) => /^\d{1,19}\*?$/.test(id));
  return { ids, more: more ? Number(more[1]) : 0 };
}

/** Clauses of a cause that say something is still stopped, paused or not restored. */
const STILL_STOPPED = /NOT (?:fully )?restored|still stopped|still paused|compute is stopped|left stopped/i;

/** The clauses of `text` (split at `;`, sentence ends and lines) that say what is still stopped. */
export function stillStoppedClauses(text: string): string[] {
  return text
    .split(/;\s+|\.\s+(?=[A-Z])|\n+/)
    .map((clause) => clause.trim())
    .filter((clause) => STILL_STOPPED.test(clause) && !/^no (?:compute|schedule) left/i.test(clause));
}

/** Patterns of secrets, tokens and credentials, and of who called from where: never in a message. */
const REDACTIONS: Array<[RegExp, string]> = [
  // `secret=…`, `"token": "…"`, `Authorization: …` (the name stays, the value goes).
  [
    /(["']?\b(?:client[_-]?secret|secret(?:[_-]?(?:key|value|string|access[_-]?key))?|password|passwd|pwd|(?:access|refresh|id|session|bearer|api|auth)[_-]?token|token|api[_-]?key|authorization|x-amz-(?:security-token|signature|credential)|aws[_-]?secret[_-]?access[_-]?key|secretAccessKey|sessionToken)\b["']?\s*[:=]\s*)(?:"[^"]*"|'[^']*'|(?:Bearer|Basic)\s+\S+|[^\s,;&}\]]+)/gi,
    '$1[redacted]',
  ],
  [/\b(?:Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, '[redacted credential]'],
  // Databricks personal access tokens and OAuth secrets, JSON Web Tokens.
  [/\bdapi[0-9a-f]{32}(?:-\d+)?\b/gi, '[redacted token]'],
  [/\bdose[0-9a-f]{32,}\b/gi, '[redacted secret]'],
  [/\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g, '[redacted token]'],
  // AWS access key ids and unique ids of principals, with their session (a CloudTrail userIdentity
  // carries them).
  [
    /\b(?:AKIA|ASIA|AROA|AIDA|AGPA|AIPA|ANPA|ANVA|A3T[A-Z0-9])[A-Z0-9]{12,}\b(?::[\w+=,.@-]+)?/g,
    '[redacted principal]',
  ],
  // Sessions of assumed roles and IAM users name people (the role itself stays: it may be one of ours).
  [/(arn:aws[\w-]*:sts::\d{12}:assumed-role\/[\w+=,.@-]+)\/[\w+=,.@-]+/g, '$1/[redacted session]'],
  [/arn:aws[\w-]*:iam::\d{12}:user\/[\w+=,.@/-]+/g, '[redacted IAM user]'],
  [/\b[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+\b/g, '[redacted e-mail]'],
  [/\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b/g, '[redacted IP]'],
  [
    /\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|\b(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,5})?(?![\w:])/gi,
    '[redacted IP]',
  ],
];

/** `text` with every secret, token, credential, principal, e-mail and IP address replaced. */
export function redact(text: string): string {
  return REDACTIONS.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}

/** What the execution said, made safe to send: redacted, then clipped. */
function safe(text: string, max: number): string {
  return clip(redact(text), max);
}

/** `text` cut to at most `maxBytes` UTF-8 bytes (never half a character), saying it was cut. */
export function fitBytes(text: string, maxBytes = MAX_MESSAGE_BYTES): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const note = '\n… [cut: the message was longer than SNS allows; the execution has it all]';
  const room = maxBytes - Buffer.byteLength(note);
  let cut = Buffer.from(text).subarray(0, Math.max(0, room)).toString('utf8');
  // A character cut in half decodes as U+FFFD: drop it.
  cut = cut.replace(/\uFFFD+$/, '');
  return `${cut}${note}`;
}

/** The Step Functions console page of an execution. */
export function consoleLink(region: string, executionArn: string): string {
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** The command that prints an execution's status, error and cause (never its input). */
export function describeCommand(executionArn: string, region: string): string {
  return `aws stepfunctions describe-execution --region ${region} --execution-arn ${executionArn} --query '[status,error,cause]'`;
}

/** The subject and message for an ended execution. Pure: what it says comes from `facts` only. */
export function formatExecutionEnded(facts: ExecutionFacts): { subject: string; message: string } {
  const name = safe(facts.name, CHARS.name);
  const error = facts.error === undefined ? undefined : safe(facts.error, CHARS.error);
  const cause = facts.cause === undefined ? undefined : causeText(facts.cause);
  const lines: string[] = [];
  const when = facts.stopDate === undefined ? '' : ` at ${new Date(facts.stopDate).toISOString()}`;
  const started =
    facts.startDate === undefined ? '' : ` (started ${new Date(facts.startDate).toISOString()})`;
  lines.push(`cmk-rotator: execution ${name} ended ${facts.status}${when}${started}.`);
  if (facts.stateMachineArn) lines.push(`State machine: ${facts.stateMachineArn}`);
  lines.push(`Execution: ${facts.executionArn}`);
  if (facts.currentStatus) {
    lines.push(
      `It is ${facts.currentStatus} now (redriven ${facts.redriveCount ?? 1} time(s) since it ended).`,
    );
  }

  if (facts.status === 'SUCCEEDED') {
    lines.push('', 'The rotation succeeded; the execution output has the details.');
  } else {
    lines.push('', `Error: ${error ?? '(none recorded)'}`);
    const stillStopped: string[] = [];
    const rotation = cause === undefined ? undefined : parseRotationFailure(cause);
    if (rotation) {
      lines.push(...describeRotation(rotation, stillStopped));
    } else if (cause !== undefined && cause.trim() !== '') {
      lines.push(`Cause: ${safe(cause, CHARS.cause)}`);
      for (const clause of stillStoppedClauses(cause)) stillStopped.push(safe(clause, CHARS.stillStopped));
    } else if (facts.describeFailed) {
      lines.push(
        `Cause: could not be read from the execution (${safe(facts.describeFailed, CHARS.error)}); run the CLI command below.`,
      );
    } else {
      lines.push('Cause: (none recorded)');
    }
    if (stillStopped.length > 0) {
      lines.push('', 'STILL STOPPED (restart or unpause these; docs/deploy.md, "Compute may be stopped"):');
      lines.push(...stillStopped.map((s) => `- ${s}`));
    }
    if (facts.status === 'ABORTED' || facts.status === 'TIMED_OUT') {
      lines.push(
        '',
        `An execution that ends ${facts.status} skips its compensation: compute of the workspaces it was rotating may still be stopped and job schedules paused. Follow docs/deploy.md, "Compute may be stopped: how to restore", before anything else.`,
      );
    }
    lines.push(
      '',
      'What to do: docs/deploy.md, Runbook (the row of the error name). Read "Redrive or start again" there before a redrive.',
    );
  }
  lines.push(
    '',
    `Console: ${consoleLink(facts.region, facts.executionArn)}`,
    `CLI: ${describeCommand(facts.executionArn, facts.region)}`,
  );
  const subject = `cmk-rotator: ${name} ${facts.status}${error && facts.status !== 'SUCCEEDED' ? ` (${error})` : ''}`;
  return { subject, message: fitBytes(lines.join('\n')) };
}

/** The workspaces of a failed rotation, one line each, and what is still stopped (added to `stillStopped`). */
function describeRotation(rotation: RotationFailure, stillStopped: string[]): string[] {
  const lines = [`${rotation.failedCount} of ${rotation.totalCount} workspace(s) failed:`];
  const detailed = new Set(rotation.workspaces.map((w) => w.workspaceId));
  for (const w of rotation.workspaces) {
    const key =
      w.keyChanged === undefined ? '' : w.keyChanged ? '; key changed' : '; key change not confirmed';
    const compute = w.compute === undefined ? '' : `; ${safe(w.compute, CHARS.stillStopped)}`;
    lines.push(
      `- workspace ${w.workspaceId}: ${safe(w.error, CHARS.error)}: ${safe(w.cause, CHARS.workspaceCause)}${key}${compute}`,
    );
    if (w.compute !== undefined && STILL_STOPPED.test(w.compute)) {
      stillStopped.push(`workspace ${w.workspaceId}: ${safe(w.compute, CHARS.stillStopped)}`);
    }
  }
  for (const id of rotation.failed) {
    const bare = id.replace(/\*$/, '');
    if (detailed.has(bare)) continue;
    lines.push(`- workspace ${bare}: failed (not detailed in the cause; its own execution has the error)`);
    if (id.endsWith('*')) {
      stillStopped.push(`workspace ${bare}: compute NOT fully restored (its own execution names what)`);
    }
  }
  const more = rotation.failedNotListed + rotation.notDetailed;
  if (more > 0) lines.push(`- and ${more} more failure(s): see the execution's cause`);
  if (rotation.rotated.length > 0) {
    const others = rotation.rotatedNotListed > 0 ? ` and ${rotation.rotatedNotListed} more` : '';
    lines.push(
      `Rotated (keep the old key usable for the retention time): ${rotation.rotated.join(', ')}${others}.`,
    );
  }
  if (rotation.keyChanged.length > 0) {
    const others = rotation.keyChangedNotListed > 0 ? ` and ${rotation.keyChangedNotListed} more` : '';
    lines.push(
      `Key changed before the failure (keep the old key usable for the retention time too): ${rotation.keyChanged.join(', ')}${others}.`,
    );
  }
  return lines;
}

/** Fields of a JSON cause that hold an execution's or an event's data, never sent. */
const DATA_FIELDS =
  /^(?:input|output|inputDetails|outputDetails|userIdentity|sourceIPAddress|userAgent|requestParameters|responseElements|detail)$/i;

/**
 * The words of an execution's cause. A Lambda Task's cause is the runtime's JSON: its `errorMessage`. A
 * child execution's (startExecution.sync) is that execution's description, with its input and output: only
 * its ARN, status, error and cause are kept. Any other JSON loses every field that holds data.
 */
export function causeText(cause: string): string {
  const message = causeMessage(cause);
  if (!message.trimStart().startsWith('{')) return message;
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return message;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return message;
  const o = parsed as Record<string, unknown>;
  const pick = (...keys: string[]) =>
    keys.map((k) => o[k]).find((v) => typeof v === 'string') as string | undefined;
  const arn = pick('ExecutionArn', 'executionArn');
  const status = pick('Status', 'status');
  const error = pick('Error', 'error');
  const inner = pick('Cause', 'cause');
  if (arn !== undefined || status !== undefined) {
    const head = `execution ${arn ?? '(unknown)'} ended ${status ?? '(unknown)'}`;
    return [head, error, inner === undefined ? undefined : causeText(inner)]
      .filter((x) => x !== undefined && x !== '')
      .join(': ');
  }
  return JSON.stringify(parsed, (key, value) => (DATA_FIELDS.test(key) ? undefined : value));
}

/** The execution's name, from its ARN (`…:execution:<machine>:<name>`). */
function executionNameOf(executionArn: string): string {
  return executionArn.split(':').at(-1) ?? executionArn;
}

function arnPart(arn: string, index: number): string | undefined {
  const part = arn.split(':')[index];
  return part === undefined || part === '' ? undefined : part;
}

/** The Step Functions client (lib/aws/sfn.ts), created once per container on first use. */
export function executionsClient(): SdkClient {
  return sfnClient();
}

/** Replace the Step Functions client (tests, local runs); `undefined` goes back to the real one. */
export function setExecutionsClient(next: SdkClient | undefined): void {
  replaceAwsClient('sfn', next);
}

export interface NotifyDeps {
  sfn: SdkClient;
  publish?: (subject: string, message: string) => Promise<PublishResult>;
}

export interface NotifyResult {
  executionArn: string;
  status: string;
  /** DescribeExecution was asked for the error and cause. */
  described: boolean;
  published: boolean;
  messageId?: string;
}

/**
 * Publishes the message for an ended execution. Reads the error and cause from the execution when the
 * event lacks them; should that fail, the message still goes out, saying so. A failed publish throws
 * (`TransientError` or `NotificationFailed`): Lambda retries the asynchronous invocation, then sends the
 * event to the dead-letter queue.
 */
export async function notifyExecutionEnded(
  event: ExecutionStatusChange,
  deps: NotifyDeps,
): Promise<NotifyResult> {
  let facts = factsFromEvent(event);
  const described = needsDescription(facts);
  if (described) {
    try {
      const out = (await deps.sfn.send(new DescribeExecutionCommand({ executionArn: facts.executionArn }))) as
        | DescribedExecution
        | undefined;
      facts = describedFacts(facts, out ?? {});
    } catch (error) {
      const name = (error as { name?: unknown } | null)?.name;
      facts = { ...facts, describeFailed: typeof name === 'string' && name !== '' ? name : 'Error' };
      logger.warn('could not read the ended execution', {
        executionArn: facts.executionArn,
        errorName: facts.describeFailed,
      });
    }
  }
  const { subject, message } = formatExecutionEnded(facts);
  const publish = deps.publish ?? publishNotification;
  const result = await publish(subject, message);
  logger.info('execution end notified', {
    executionArn: facts.executionArn,
    status: facts.status,
    described,
    published: result.published,
  });
  return {
    executionArn: facts.executionArn,
    status: facts.status,
    described,
    published: result.published,
    ...(result.messageId === undefined ? {} : { messageId: result.messageId }),
  };
}
