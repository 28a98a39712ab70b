import { clock } from '../clock.ts';
import { AimdLimiter, type Permit } from '../concurrency.ts';
import { realTimeLeftMs } from '../deadline.ts';
import { notePace, pacingHint } from '../invocation.ts';
import { logger } from '../log.ts';
import type { IssuedToken, TokenCache } from './auth.ts';
import {
  DatabricksApiError,
  DatabricksAuthError,
  type DatabricksErrorInfo,
  DatabricksThrottled,
  DatabricksUnavailable,
  hintFor,
  parseErrorBody,
} from './errors.ts';
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  type RetryPolicy,
  type RetryReason,
  retryReason,
  throttleDelay,
} from './retry.ts';

/** One HTTP exchange as seen by `onCall` (metrics, the bench, tests). Never carries headers or bodies. */
export interface CallInfo {
  method: string;
  /** Path without query string. */
  path: string;
  /** `account API` or `workspace <deployment_name>`. */
  target: string;
  /** HTTP status; 0 for a network error or timeout. */
  status: number;
  /** 1 for the first try of a call. */
  attempt: number;
  /** Real milliseconds the exchange took. */
  ms: number;
}

/** Transport options (all optional; the defaults suit AWS Lambda). */
export interface HttpOptions {
  fetch?: typeof fetch;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per-request timeout in real ms (default 30 s), shortened to what is left of the step's time budget. */
  requestTimeoutMs?: number;
  maxRetryTimeMs?: number;
  /** Jitter source in [0, 1); inject a fixed one for deterministic tests. */
  random?: () => number;
  onCall?: (info: CallInfo) => void;
  /**
   * Most API requests in flight per host (the configured `API_CONCURRENCY`; default 8): the ceiling of the
   * adaptive window, which a 429 halves and successes grow back (`AimdLimiter`).
   */
  maxConcurrency?: number;
  /** Pacing per host: most API requests started per second (default: none). See `DEFAULT_PACING`. */
  maxRequestsPerSecond?: number;
  /** Pacing per host: most mutating requests (POST, PATCH, PUT, DELETE) started per second (default: none). */
  maxWritesPerSecond?: number;
}

/**
 * What `databricksFor` paces each host at, so the default stays within the limits Databricks documents.
 * It publishes none for the Clusters, Instance Pools, SQL Warehouses or Pipelines APIs, nor for account
 * provisioning; the published per-endpoint ones (limits page: jobs create and run-now 20/s, runs/submit
 * 35/s, runs/get 100/s, Permissions PATCH/PUT 30/s) put mutating calls at 20/s at most, and the
 * "~30 requests per second per workspace" default cited for the web app bounds all calls. A workspace
 * that allows less answers 429, and the adaptive window (`AimdLimiter`) learns its limit from there.
 * Costs time only with many resources: 2,000 stop and start calls take 100 s at 20/s.
 */
export const DEFAULT_PACING = { maxRequestsPerSecond: 30, maxWritesPerSecond: 20 } as const;

/** Default ceiling of requests in flight per host (as `API_CONCURRENCY`'s default). */
const DEFAULT_MAX_CONCURRENCY = 8;

/** A host the client talks to: where it is, what to call it in errors, and its token. */
export interface Host {
  target: string;
  baseUrl: string;
  tokens: TokenCache;
}

export type QueryValue = string | number | boolean | readonly string[] | undefined;

/** One REST call. GET and DELETE are idempotent unless said otherwise; other methods are not. */
export interface ApiRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  idempotent?: boolean;
  /**
   * The endpoint with ids as placeholders (`/api/2.0/sql/warehouses/{id}/start`) when the path holds one:
   * Databricks limits endpoints, not ids, so a 429's `Retry-After` holds back the whole route. Default: `path`.
   */
  route?: string;
}

interface Exchange {
  kind: 'api' | 'token';
  method: string;
  url: string;
  endpoint: string;
  /** The endpoint with ids as placeholders: what a 429's `Retry-After` closes. */
  route: string;
  target: string;
  idempotent: boolean;
  body?: string;
  contentType?: string;
  /** The Authorization header for this attempt and the token in it (to drop it on a 401). */
  authorize(): Promise<{ header: string; token?: string; redact: string[] }>;
  invalidate?(token: string): void;
}

const FORM_TOKEN_REQUEST = 'grant_type=client_credentials&scope=all-apis';

/**
 * The Databricks HTTP transport: bearer auth from a per-host token cache, retries with backoff on the run's
 * clock, per-request timeouts and errors in the operator's words. Headers, tokens and the client secret
 * never leave this module: errors carry only method, path, status and Databricks' message (redacted).
 */
export class DatabricksHttp {
  private readonly fetchImpl: typeof fetch;
  private readonly policy: RetryPolicy;
  private readonly requestTimeoutMs: number;
  private readonly random: () => number;
  private readonly onCall: ((info: CallInfo) => void) | undefined;
  private readonly limiters = new Map<string, AimdLimiter>();
  private readonly limiterOptions: {
    ceiling: number;
    minIntervalMs: number;
    minWriteIntervalMs: number;
  };

  constructor(options: HttpOptions = {}) {
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.policy = {
      maxAttempts: options.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts,
      baseDelayMs: options.baseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
      maxDelayMs: options.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
      maxRetryTimeMs: options.maxRetryTimeMs ?? DEFAULT_RETRY_POLICY.maxRetryTimeMs,
    };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.random = options.random ?? Math.random;
    this.onCall = options.onCall;
    const interval = (perSecond: number | undefined) =>
      perSecond !== undefined && perSecond > 0 ? 1000 / perSecond : 0;
    this.limiterOptions = {
      ceiling: options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
      minIntervalMs: interval(options.maxRequestsPerSecond),
      minWriteIntervalMs: interval(options.maxWritesPerSecond),
    };
  }

  /** One limiter per host: every API request to it goes through it (token requests do not). */
  private limiterFor(target: string): AimdLimiter {
    let limiter = this.limiters.get(target);
    if (!limiter) {
      limiter = new AimdLimiter({ ...this.limiterOptions, clock });
      // A new client (a new container): start at the pace an earlier step found, not at full speed.
      const hint = pacingHint(target);
      if (hint) limiter.seed(hint);
      this.limiters.set(target, limiter);
    }
    return limiter;
  }

  /** Calls the API on `host` and returns the parsed JSON answer (`undefined` for an empty body). */
  async call<T>(host: Host, request: ApiRequest): Promise<T> {
    const text = await this.send({
      kind: 'api',
      method: request.method,
      url: buildUrl(host.baseUrl, request.path, request.query),
      endpoint: request.path,
      route: request.route ?? request.path,
      target: host.target,
      idempotent: request.idempotent ?? (request.method === 'GET' || request.method === 'DELETE'),
      ...(request.body === undefined
        ? {}
        : { body: JSON.stringify(request.body), contentType: 'application/json' }),
      authorize: async () => {
        const token = await host.tokens.get();
        return { header: `Bearer ${token}`, token, redact: [token] };
      },
      invalidate: (token) => host.tokens.invalidate(token),
    });
    return parseJson<T>(text, request.method, request.path, host.target);
  }

  /**
   * OAuth M2M client-credentials grant at `tokenUrl` (HTTP Basic, `scope=all-apis`). Throttling and 5xx are
   * retried; a refusal raises `DatabricksAuthError` pointing at the secret, without its value.
   */
  async issueToken(
    tokenUrl: string,
    target: string,
    credentials: () => Promise<{ clientId: string; clientSecret: string }>,
  ): Promise<IssuedToken> {
    const endpoint = new URL(tokenUrl).pathname;
    const text = await this.send({
      kind: 'token',
      method: 'POST',
      url: tokenUrl,
      endpoint,
      route: endpoint,
      target,
      idempotent: true,
      body: FORM_TOKEN_REQUEST,
      contentType: 'application/x-www-form-urlencoded',
      authorize: async () => {
        const { clientId, clientSecret } = await credentials();
        const basic = Buffer.from(`${clientId}:${clientSecret}`).toString('base64');
        return { header: `Basic ${basic}`, redact: [clientSecret, basic] };
      },
    });
    const json = parseJson<Record<string, unknown>>(text, 'POST', endpoint, target);
    const accessToken = json?.access_token;
    if (typeof accessToken !== 'string' || accessToken === '') {
      throw new DatabricksAuthError(
        {
          method: 'POST',
          endpoint,
          target,
          status: 200,
          errorCode: 'INVALID_RESPONSE',
          apiMessage: '',
          attempts: 1,
        },
        { hint: 'The token endpoint answered without an access_token' },
      );
    }
    const expiresIn = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 3600;
    return { accessToken, expiresInSeconds: expiresIn };
  }

  private async send(x: Exchange): Promise<string> {
    // The budget counts the waits themselves, not elapsed time: under local mode's scaled clock a few real
    // milliseconds of latency are minutes of simulated time and would eat a wall-clock budget at once.
    let waited = 0;
    let reauthorized = false;
    let queued = false;
    let lastFailure: { reason: RetryReason; info: DatabricksErrorInfo } | undefined;
    // API requests take a slot of their host's adaptive window; token requests do not (an API request
    // holding a slot may be the one asking for a token).
    const limiter = x.kind === 'api' ? this.limiterFor(x.target) : undefined;
    for (let attempt = 1; ; attempt++) {
      // The Lambda's own budget, in REAL ms (lib/deadline.ts): no attempt starts that could not finish.
      const left = realTimeLeftMs();
      if (left !== undefined && left < MIN_ATTEMPT_MS)
        throw outOfTime(x, lastFailure, attempt - 1, left, queued);
      const auth = await x.authorize();
      let permit: Permit | undefined;
      if (limiter) {
        const before = clock().now();
        // A turn that would come too late for the invocation's budget is not waited for.
        const giveUpAt = left === undefined ? undefined : before + left - MIN_ATTEMPT_MS;
        permit = await limiter.acquire({
          write: x.method !== 'GET',
          route: `${x.method} ${x.route}`,
          ...(giveUpAt === undefined ? {} : { giveUpAt }),
        });
        if (clock().now() > before) queued = true;
        const leftNow = realTimeLeftMs();
        if (!permit || (leftNow !== undefined && leftNow < MIN_ATTEMPT_MS)) {
          permit?.release('neutral');
          throw outOfTime(x, lastFailure, attempt - 1, leftNow ?? 0, true);
        }
      }
      const leftForRequest = realTimeLeftMs();
      const timeoutMs =
        leftForRequest === undefined
          ? this.requestTimeoutMs
          : Math.max(1, Math.floor(Math.min(this.requestTimeoutMs, leftForRequest)));
      const headers: Record<string, string> = { Authorization: auth.header, Accept: 'application/json' };
      if (x.contentType) headers['Content-Type'] = x.contentType;
      const t0 = performance.now();
      let status = 0;
      let text = '';
      let retryAfter: string | null = null;
      let networkError = '';
      try {
        const response = await this.fetchImpl(x.url, {
          method: x.method,
          headers,
          ...(x.body === undefined ? {} : { body: x.body }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        retryAfter = response.headers.get('retry-after');
        text = await response.text();
        status = response.status;
      } catch (error) {
        status = 0;
        networkError = networkErrorCode(error);
      }
      this.onCall?.({
        method: x.method,
        path: x.endpoint,
        target: x.target,
        status,
        attempt,
        ms: Math.round(performance.now() - t0),
      });
      const askedMs = status === 429 ? parseRetryAfter(retryAfter, clock().now()) : undefined;
      const fallback = backoffDelay(attempt, this.policy, this.random);
      if (status >= 200 && status < 300) permit?.release('success');
      else if (status === 429) permit?.release('throttled', askedMs ?? fallback);
      else permit?.release('neutral');
      if (permit && limiter) notePace(x.target, limiter.pace());
      if (status >= 200 && status < 300) return text;

      // A token can be revoked or expire early: fetch a new one and try once more.
      if (status === 401 && x.kind === 'api' && auth.token && !reauthorized) {
        reauthorized = true;
        x.invalidate?.(auth.token);
        continue;
      }

      const parsed =
        status === 0
          ? {
              errorCode: networkError === 'TimeoutError' ? 'TIMEOUT' : 'NETWORK_ERROR',
              message: networkError,
            }
          : parseErrorBody(status, text);
      const info: DatabricksErrorInfo = {
        method: x.method,
        endpoint: x.endpoint,
        target: x.target,
        status,
        errorCode: parsed.errorCode,
        apiMessage: redact(parsed.message, auth.redact),
        attempts: attempt,
      };
      let reason = retryReason(status, x.idempotent);
      // The token endpoint throttles with 400 {"error":"invalid_request","error_description":"Temporarily throttled…"}.
      if (x.kind === 'token' && status === 400 && /throttl/i.test(parsed.message)) reason = 'throttled';
      if (!reason) throw refusal(x, info);

      // A Retry-After is waited out in full, plus a little jitter so the callers it stopped do not all come
      // back in the same instant; without one, exponential backoff with full jitter.
      const delay =
        reason === 'throttled'
          ? askedMs === undefined
            ? fallback
            : throttleDelay(askedMs, this.policy, this.random)
          : fallback;
      // `delay` is run-clock ms and the time left real ms. They are the same in AWS; under the local runner's
      // simulated clock a wait takes less real time than it says, so the comparison errs on the safe side.
      const leftNow = realTimeLeftMs();
      if (leftNow !== undefined && delay + MIN_ATTEMPT_MS > leftNow) {
        throw outOfTime(x, { reason, info }, attempt, leftNow);
      }
      lastFailure = { reason, info };
      if (attempt >= this.policy.maxAttempts || waited + delay > this.policy.maxRetryTimeMs) {
        throw reason === 'throttled'
          ? new DatabricksThrottled(info, {
              retryable: true,
              hint: 'Databricks is rate-limiting this service principal; retry later',
            })
          : new DatabricksUnavailable(info, {
              retryable: true,
              hint: 'Databricks is unavailable; retry later',
            });
      }
      logger.debug('Databricks call will be retried', {
        method: x.method,
        endpoint: x.endpoint,
        target: x.target,
        status,
        errorCode: info.errorCode,
        attempt,
        delayMs: delay,
        ...(limiter ? { window: limiter.state().limit } : {}),
      });
      waited += delay;
      await clock().sleep(delay);
    }
  }
}

/**
 * Shortest real time worth starting an attempt (or waiting for one) with: less than this left of the
 * invocation's budget and the call gives up instead.
 */
const MIN_ATTEMPT_MS = 250;

/**
 * The Lambda invocation's time budget ran out before the call succeeded: a retryable error named after the
 * last failure (`DatabricksThrottled` after 429s or a wait in the host's rate limiter, else
 * `DatabricksUnavailable`), both in every Task's Retry list, whose message says the budget ran out, so the
 * state machine runs the step again in a fresh invocation instead of Lambda killing this one mid-call.
 */
function outOfTime(
  x: Exchange,
  last: { reason: RetryReason; info: DatabricksErrorInfo } | undefined,
  attempts: number,
  leftMs: number,
  queued = false,
): DatabricksApiError {
  const info: DatabricksErrorInfo = last?.info ?? {
    method: x.method,
    endpoint: x.endpoint,
    target: x.target,
    status: 0,
    errorCode: 'TIME_BUDGET_EXHAUSTED',
    apiMessage: '',
    attempts,
  };
  const hint = `The Lambda invocation's time budget ran out (${Math.max(0, Math.round(leftMs))} ms left before its safety margin)${queued ? " while the call waited for the host's rate limit" : ''}, so the call was not tried again here; the state machine retries the step`;
  return last?.reason === 'throttled' || (last === undefined && queued)
    ? new DatabricksThrottled(info, { retryable: true, hint })
    : new DatabricksUnavailable(info, { retryable: true, hint });
}

function refusal(x: Exchange, info: DatabricksErrorInfo): DatabricksApiError {
  if (info.status >= 500 || info.status === 0) {
    // Not repeated here: the call may have taken effect (a 5xx, or an answer lost to a network error). The steps re-read state first, so a step retry is safe.
    return new DatabricksUnavailable(info, {
      retryable: true,
      hint: 'The call is not idempotent, so it was not repeated; re-read the state before trying again',
    });
  }
  if (x.kind === 'token') {
    return new DatabricksAuthError(info, {
      hint: `Databricks refused the service principal's OAuth credentials for the ${x.target}. Check the client_id and client_secret (the service principal's OAuth secret, which may have expired) stored in the Databricks credentials secret in Secrets Manager${x.target === 'account API' ? '' : ', and that the service principal is assigned to this workspace'}`,
    });
  }
  return new DatabricksApiError(info, { hint: hintFor(info.status, info.errorCode, x.target) });
}

function parseJson<T>(text: string, method: string, endpoint: string, target: string): T {
  if (text.trim() === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new DatabricksApiError(
      {
        method,
        endpoint,
        target,
        status: 200,
        errorCode: 'INVALID_RESPONSE',
        apiMessage: 'the answer is not JSON',
        attempts: 1,
      },
      { hint: 'Check DATABRICKS_ACCOUNTS_HOST / DATABRICKS_WORKSPACE_URL_TEMPLATE point at Databricks' },
    );
  }
}

/** `fetch failed` hides the reason in `cause.code` (ECONNREFUSED, ECONNRESET…); a timeout is a `TimeoutError`. */
function networkErrorCode(error: unknown): string {
  const e = error as { name?: string; cause?: { code?: string; name?: string } } | undefined;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'TimeoutError';
  return String(e?.cause?.code ?? e?.cause?.name ?? e?.name ?? 'unknown');
}

function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('***');
  return out;
}

/**
 * `base + path + ?query`. Arrays become repeated keys and dotted keys stay dotted, exactly like the SDK's
 * GET encoding (`filter_by.cluster_states=RUNNING&filter_by.cluster_states=PENDING`). Commas stay literal
 * (`update_mask=a,b`).
 */
export function buildUrl(baseUrl: string, path: string, query?: Record<string, QueryValue>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [String(value)];
    for (const v of values) parts.push(`${encode(key)}=${encode(v)}`);
  }
  return `${baseUrl}${path}${parts.length > 0 ? `?${parts.join('&')}` : ''}`;
}

function encode(value: string): string {
  return encodeURIComponent(value).replace(/%2C/gi, ',');
}
