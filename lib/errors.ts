/**
 * The one error hierarchy of the product.
 *
 * Every error the product raises on purpose extends `RotatorError`. Its `name` is stable: the state
 * machine's `Retry`/`Catch` match on it and operators search logs for it, so never rename one lightly.
 * Messages say what happened, to which workspace/key/field, and what to do next. They never carry secrets.
 */
export class RotatorError extends Error {
  /** Extra structured facts for logs and the execution's error cause (no secrets). */
  readonly details: Record<string, unknown>;

  /** The longest message this error keeps, here and when it becomes a Step Functions Cause. */
  readonly maxMessageChars: number;

  /**
   * `message` is capped at `maxMessageChars` (default `MAX_ERROR_MESSAGE_CHARS`; its start kept, the cut
   * said), see `capMessage`.
   */
  constructor(
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown>; maxMessageChars?: number } = {},
  ) {
    const max = Math.min(options.maxMessageChars ?? MAX_ERROR_MESSAGE_CHARS, MAX_ROTATION_ERROR_CHARS);
    // Capped before `super`, so the stack trace (whose first line repeats the message) is short too.
    super(capMessage(message, max), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details ?? {};
    this.maxMessageChars = max;
  }
}

/** Input (execution input, event, scenario, settings) failed validation; the message names the field. */
export class InvalidInput extends RotatorError {}

/** A deployment setting (environment variable) is missing or malformed. */
export class InvalidSettings extends RotatorError {}

/** A transient condition the state machine should retry (throttling, 5xx on idempotent calls, network). */
export class TransientError extends RotatorError {}

/** Formats a zod-style issue path (`['workspaceIds', 0]`) as `workspaceIds[0]`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? clip(String(part), 100) : `.${clip(String(part), 100)}`;
  }
  return out === '' ? '(root)' : out;
}

/**
 * Longest error message the product lets out. Step Functions caps an execution's error Cause at 32,768
 * characters; the Cause of a Lambda Task is the runtime's JSON `{errorType, errorMessage, trace}`.
 * `fitForStepFunctions` keeps the message once in it (the trace's first line only starts it), so 12,000
 * leaves room for the frames and JSON escaping — and for 500 sixteen-digit workspace ids in one message.
 */
export const MAX_ERROR_MESSAGE_CHARS = 12_000;
/**
 * The longest message any error may keep: the rotation's final error, where every workspace whose compute is
 * still stopped keeps its line (lib/retention.ts). Its Cause stays well under Step Functions' 32,768.
 */
export const MAX_ROTATION_ERROR_CHARS = 24_000;

/**
 * `message` when it fits in `max` characters; else its start, then how much was cut, in at most `max`
 * characters. The start is kept because product messages lead with what failed and which workspace.
 */
export function capMessage(message: string, max = MAX_ERROR_MESSAGE_CHARS): string {
  if (message.length <= max) return message;
  const note = (cut: number) => ` … [${cut} more characters cut: messages are capped at ${max}]`;
  let kept = Math.max(0, max - note(message.length).length);
  // Never leave half of a surrogate pair (it would become an escape sequence in the JSON Cause).
  if (kept > 0 && /[\uD800-\uDBFF]/.test(message.charAt(kept - 1))) kept -= 1;
  return `${message.slice(0, kept)}${note(message.length - kept)}`;
}

/**
 * At most `limit` items joined with `, `, then `and K more`: how messages name long lists of ids so that
 * they stay readable and under the cap (`1, 2, 3 and 497 more`).
 */
export function listSome(items: readonly unknown[], limit = 20): string {
  const shown = items.slice(0, Math.max(0, limit)).map((item) => String(item));
  const more = items.length - shown.length;
  if (more <= 0) return shown.join(', ');
  return shown.length === 0 ? `${more} item(s)` : `${shown.join(', ')} and ${more} more`;
}

/** `text` cut to `max` characters with an ellipsis: for echoing untrusted values (event fields, keys). */
export function clip(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** The product's names in every Task's `Retry` of `statemachines/rotate-workspace-key.asl.json`. */
const RETRIED_ERROR_NAMES: ReadonlySet<string> = new Set([
  'TransientError',
  'DatabricksThrottled',
  'DatabricksUnavailable',
  'KmsThrottled',
]);

/** Error names the state machine retries: an execution's final error must never carry one (§6.8). */
export function isRetriedErrorName(name: string): boolean {
  return RETRIED_ERROR_NAMES.has(name) || name.startsWith('Lambda.') || name.startsWith('States.');
}

/**
 * The message inside a Step Functions error Cause. A Lambda Task's Cause is the runtime's JSON
 * `{"errorType","errorMessage","trace"}` (a timed-out one `{"errorType","errorMessage"}`): an operator needs the
 * `errorMessage`, not kilobytes of escaped JSON and stack frames. Any other Cause (a service error's text, a
 * `Fail` state's) is returned as it is.
 */
export function causeMessage(cause: string | undefined): string {
  if (cause === undefined) return '';
  if (!cause.startsWith('{')) return cause;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    return typeof parsed.errorMessage === 'string' ? parsed.errorMessage : cause;
  } catch {
    return cause;
  }
}

/** Longest error `name` let out (names are error classes; a longer one is a bug, not a message). */
const MAX_ERROR_NAME_CHARS = 256;
/** Stack frames kept in the trace the Lambda runtime copies into the Cause. */
const MAX_STACK_FRAMES = 12;
/** What the runtime's `{errorType, errorMessage, trace}` may take of Step Functions' 32,768-character Cause. */
const MAX_CAUSE_CHARS = 30_000;

/**
 * `error` made fit for Step Functions' Error/Cause whatever it is: its `name` kept (the ASL matches on it),
 * its message capped (`capMessage`), and its stack trace rebuilt from the first frames with a first line that
 * repeats only the start of a long message. Errors are changed in place, so `instanceof` still holds;
 * anything thrown that is not an `Error` becomes one carrying its text.
 */
export function fitForStepFunctions(error: unknown): Error {
  if (!(error instanceof Error)) {
    const like = error as { name?: unknown; message?: unknown } | null | undefined;
    const wrapped = new Error(typeof like?.message === 'string' ? like.message : safeString(error));
    if (typeof like?.name === 'string' && like.name !== '') wrapped.name = like.name;
    return fitForStepFunctions(wrapped);
  }
  const name = clip(
    typeof error.name === 'string' && error.name !== '' ? error.name : 'Error',
    MAX_ERROR_NAME_CHARS,
  );
  const frames = (typeof error.stack === 'string' ? error.stack : '')
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .slice(0, MAX_STACK_FRAMES)
    .map((line) => clip(line, 300));
  let message = capMessage(
    typeof error.message === 'string' ? error.message : safeString(error.message),
    error instanceof RotatorError ? error.maxMessageChars : MAX_ERROR_MESSAGE_CHARS,
  );
  const stackOf = (text: string) => [
    `${name}: ${text.length <= 500 ? text : `${text.slice(0, 200)}… (the whole message is errorMessage)`}`,
    ...frames,
  ];
  // JSON escaping (quotes, control characters) can lengthen a message: measure the Cause as Lambda writes it.
  const causeLength = (text: string) =>
    JSON.stringify({ errorType: name, errorMessage: text, trace: stackOf(text) }).length;
  while (message.length > 0 && causeLength(message) > MAX_CAUSE_CHARS) {
    const shorter = capMessage(message, Math.floor(message.length * 0.75));
    message = shorter.length < message.length ? shorter : '';
  }
  const stack = stackOf(message).join('\n');
  try {
    if (error.name !== name) error.name = name;
    if (error.message !== message) error.message = message;
    error.stack = stack;
    return error;
  } catch {
    // A frozen or exotic error: a plain one with the same name and the capped message.
    const copy = new Error(message);
    copy.name = name;
    copy.stack = stack;
    return copy;
  }
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
