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

  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details ?? {};
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
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}
