import { STATUS_CODES } from 'node:http';
import { RotatorError } from '../errors.ts';

/** What every Databricks error carries (all of it safe to log: no headers, tokens or secrets). */
export interface DatabricksErrorInfo {
  method: string;
  /** The request path without its query string, e.g. `/api/2.1/clusters/start`. */
  endpoint: string;
  /** Who was called: `account API` or `workspace <deployment_name>`. */
  target: string;
  /** HTTP status; 0 when no response arrived (network error, timeout). */
  status: number;
  /**
   * Databricks `error_code`, the OAuth `error`, the HTTP status text, `NETWORK_ERROR`/`TIMEOUT`, or
   * `TIME_BUDGET_EXHAUSTED` when the Lambda's time ran out before a first attempt.
   */
  errorCode: string;
  /** Databricks' own message (may be empty). */
  apiMessage: string;
  /** Attempts made, including the last one. */
  attempts: number;
}

/**
 * A Databricks REST call failed. `retryable` says whether running the whole step again later may succeed
 * (throttling, an unavailable service); the client has already spent its own retry budget by then.
 */
export class DatabricksApiError extends RotatorError {
  readonly method: string;
  readonly endpoint: string;
  readonly target: string;
  readonly status: number;
  readonly errorCode: string;
  readonly apiMessage: string;
  readonly attempts: number;
  readonly retryable: boolean;

  constructor(info: DatabricksErrorInfo, options: { retryable?: boolean; hint?: string } = {}) {
    const retryable = options.retryable ?? false;
    super(describe(info, options.hint), {
      details: {
        method: info.method,
        endpoint: info.endpoint,
        target: info.target,
        status: info.status,
        errorCode: info.errorCode,
        attempts: info.attempts,
        retryable,
      },
    });
    this.method = info.method;
    this.endpoint = info.endpoint;
    this.target = info.target;
    this.status = info.status;
    this.errorCode = info.errorCode;
    this.apiMessage = info.apiMessage;
    this.attempts = info.attempts;
    this.retryable = retryable;
  }
}

/** The OAuth token endpoint refused the service principal (wrong or expired client secret, unknown client). */
export class DatabricksAuthError extends DatabricksApiError {}

/** Databricks kept answering 429 (or the token endpoint kept throttling) until the retry budget ran out. */
export class DatabricksThrottled extends DatabricksApiError {}

/** 5xx answers, timeouts or network errors until the retry budget ran out (or a non-idempotent call got a 5xx). */
export class DatabricksUnavailable extends DatabricksApiError {}

/**
 * The call did not fail on its own: Databricks throttled it past the client's retries, or the invocation's
 * time (spent waiting out throttling) ran out before it was even tried. Either way nothing is known about
 * the resource, and the call is simply made again later — throttling is a speed, not a failure.
 */
export function isDeferred(error: unknown): boolean {
  return (
    error instanceof DatabricksThrottled ||
    (error instanceof DatabricksApiError && error.status === 0 && error.errorCode === 'TIME_BUDGET_EXHAUSTED')
  );
}

function describe(info: DatabricksErrorInfo, hint: string | undefined): string {
  const what =
    info.status !== 0
      ? `${info.status} ${info.errorCode}${info.apiMessage ? `: ${info.apiMessage}` : ''}`
      : info.errorCode === 'TIME_BUDGET_EXHAUSTED'
        ? 'no time left to try it'
        : `${info.errorCode === 'TIMEOUT' ? 'timed out' : 'network error'}${info.apiMessage ? ` (${info.apiMessage})` : ''}`;
  const tries = info.attempts > 1 ? ` after ${info.attempts} attempts` : '';
  return `${info.method} ${info.endpoint} (${info.target}) failed${tries}: ${what}${hint ? `. ${hint}` : ''}`;
}

/** The error fields of a Databricks error body (API 2.x, API 1.2 and OAuth shapes, or none). */
export interface ParsedErrorBody {
  errorCode: string;
  message: string;
}

/**
 * Reads `{"error_code", "message"}` (API 2.x), `{"error": …}` (API 1.2) or `{"error", "error_description"}`
 * (OAuth); a non-JSON body (an HTML error page from a proxy) gives the HTTP status text, like the SDK.
 */
export function parseErrorBody(status: number, text: string): ParsedErrorBody {
  const statusText = (STATUS_CODES[status] ?? `HTTP ${status}`).toUpperCase().replace(/[^A-Z0-9]+/g, '_');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { errorCode: statusText, message: '' };
  }
  if (typeof json !== 'object' || json === null) return { errorCode: statusText, message: '' };
  const body = json as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const errorCode = str(body.error_code) ?? str(body.error) ?? statusText;
  const message = str(body.message) ?? str(body.error_description) ?? '';
  return { errorCode, message: truncate(message, 500) };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** What to do next, per status, in the operator's words. */
export function hintFor(status: number, errorCode: string, target: string): string | undefined {
  if (status === 401) {
    return `Databricks rejected the service principal's token for the ${target}; check that the service principal exists and is assigned to it`;
  }
  if (status === 403 || errorCode === 'PERMISSION_DENIED') {
    return target === 'account API'
      ? 'The service principal needs the account admin role'
      : `The service principal needs workspace admin (or CAN_MANAGE on this object) in ${target}`;
  }
  return undefined;
}
