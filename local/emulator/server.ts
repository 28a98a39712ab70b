import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorClock } from '../clock.ts';
import type { KindFault, Scenario, StatusFault } from '../scenario.ts';
import type { AccountModel, WorkspaceModel } from './account-model.ts';
import { ApiError, errorCodeFor, malformed } from './errors.ts';
import { drawBetween } from './random.ts';
import { matchRoute } from './routes.ts';
import type { Sim } from './sim.ts';
import type { Json } from './workspace-model.ts';

type ShortListFault = Extract<KindFault, { kind: 'shortList' }>;
type LiveFault = StatusFault & { left: number; seen: number };

/** One request as the emulator saw it. Bodies never hold secrets: token requests log only grant_type and scope. */
export interface CallLogEntry {
  /** Simulated seconds since start, at arrival. */
  t: number;
  method: string;
  /** Path with query string, without the `/ws/{deployment}` prefix (see `host`). */
  path: string;
  status: number;
  body?: unknown;
  /** `account` for the Account API, else the workspace's deployment name. */
  host?: 'account' | string;
}

/** A request as the emulator needs it, from a socket or from the in-process `fetch`. */
export interface EmulatorRequest {
  method: string;
  /** Path and query string. */
  url: string;
  headers: { host?: string | undefined; authorization?: string | undefined };
  body: string;
  /**
   * The workspace (deployment name) whose own host received the request (`workspaceHosts` in index.ts: one
   * listener per workspace, the way each Databricks workspace has its own host); absent on the shared host.
   */
  deployment?: string | undefined;
}

/** An answer, or none at all (a dropped connection). */
export type EmulatorAnswer =
  | { status: number; headers: Record<string, string>; body: string }
  | { dropped: true };

const TOKEN_SECONDS = 3600;
const SECRET_QUERY_PARAMS = new Set(['client_secret', 'access_token', 'token', 'password', 'code']);

interface Token {
  scope: 'account' | string;
  expiresAt: number;
  /** The service principal it was issued to (whose Retry-After windows apply to its requests). */
  clientId: string;
}

/**
 * A 429 told this client to come back after `until` (simulated seconds): until then every request of the
 * client to that host that `covers` is answered 429 again, without being served.
 */
interface RetryAfterWindow {
  until: number;
  covers: (method: string, target: Target) => boolean;
}

/** Who sent a request and to which host: the key of rate limits and Retry-After windows. */
interface Caller {
  client: string;
  host: string;
}

interface Target {
  scope: 'account' | 'workspace';
  ws: WorkspaceModel | undefined;
  /** Request path with any `/ws/{deployment}` prefix removed. */
  path: string;
  /** Absolute base URL of the addressed host (for OIDC discovery). */
  base: string;
}

/**
 * The HTTP side of the emulator: routing (account root, `/ws/{deployment}` prefix, `Host` header or a
 * workspace's own listener), OAuth M2M tokens, injected faults, rate limits and the Retry-After they ask for,
 * simulated latency and the call log. The platform's rules live in the models; this file only speaks HTTP.
 */
export class HttpFrontend {
  readonly log: CallLogEntry[] = [];
  private readonly tokens = new Map<string, Token>();
  private readonly buckets = new Map<string, { second: number; count: number }>();
  /** Retry-After windows by `client|host|origin` (origin: the rate limit, or one fault). */
  private readonly retryAfter = new Map<string, RetryAfterWindow>();
  private readonly faults: LiveFault[];
  private readonly shortLists: Array<ShortListFault & { left: number }>;
  private requests = 0;

  constructor(
    private readonly scenario: Scenario,
    private readonly account: AccountModel,
    private readonly sim: Sim,
    private readonly clock: EmulatorClock,
  ) {
    this.faults = scenario.databricks.faults
      .filter((f): f is StatusFault => !('kind' in f))
      .map((f) => ({ ...f, left: f.times, seen: 0 }));
    this.shortLists = scenario.databricks.faults
      .filter((f): f is ShortListFault => 'kind' in f && f.kind === 'shortList')
      .map((f) => ({ ...f, left: f.times }));
  }

  /** The `node:http` request listener (the standalone emulator and tests that speak HTTP). */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => this.serveSocket(req, res);

  /** A listener for a workspace's own host: every request it receives is for `deployment`. */
  listenerFor(deployment: string): (req: IncomingMessage, res: ServerResponse) => void {
    return (req, res) => this.serveSocket(req, res, deployment);
  }

  private serveSocket(req: IncomingMessage, res: ServerResponse, deployment?: string): void {
    readBody(req)
      .then((body) =>
        this.dispatch({
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: { host: req.headers.host, authorization: req.headers.authorization },
          body,
          deployment,
        }),
      )
      .then((answer) => {
        // No answer at all: the client sees the connection reset (a network error, not an HTTP status).
        if ('dropped' in answer) req.socket.destroy();
        else send(res, answer.status, answer.body, answer.headers);
      })
      .catch((error: unknown) => {
        if (!res.headersSent)
          send(
            res,
            500,
            JSON.stringify({ error_code: 'INTERNAL_ERROR', message: String((error as Error).message) }),
          );
      });
  }

  /**
   * The same API as a `fetch` function, in process: no socket, so the local runner's virtual time sees every
   * request from start to answer (local/virtual-time.ts). A dropped answer fails the way undici's `fetch`
   * fails when the server closes the connection: `TypeError: fetch failed`, cause code `UND_ERR_SOCKET`.
   */
  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const headers = new Headers(init.headers);
    const body =
      init.body === undefined || init.body === null
        ? ''
        : typeof init.body === 'string'
          ? init.body
          : await new Response(init.body).text();
    init.signal?.throwIfAborted();
    const answer = await this.dispatch({
      method: init.method ?? 'GET',
      url: `${url.pathname}${url.search}`,
      headers: { host: url.host, authorization: headers.get('authorization') ?? undefined },
      body,
    });
    if ('dropped' in answer) {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('other side closed'), { name: 'SocketError', code: 'UND_ERR_SOCKET' }),
      });
    }
    return new Response(answer.body === '' ? null : answer.body, {
      status: answer.status,
      headers: { 'Content-Type': 'application/json', ...answer.headers },
    });
  };

  /** One request, whatever carried it: routing, auth, faults, rate limits, the call log, then the latency. */
  async dispatch(req: EmulatorRequest): Promise<EmulatorAnswer> {
    const raw = req.body;
    this.sim.catchUp();
    const method = req.method.toUpperCase();
    const url = new URL(req.url, 'http://emulator.local');
    const target = this.resolve(req, url.pathname);
    const entry: CallLogEntry = {
      t: round3(this.sim.t),
      method,
      path: loggedPath(target.path, url.searchParams),
      status: 0,
      host: target.ws ? target.ws.deployment : 'account',
    };
    this.log.push(entry);
    const isToken = isTokenPath(target);
    let status = 200;
    let body: unknown;
    let headers: Record<string, string> = {};
    let drop = false;
    try {
      const parsed = isToken ? parseForm(raw) : parseJson(raw);
      entry.body = isToken ? tokenLogBody(parsed as URLSearchParams) : parsed;
      const caller: Caller = {
        client: this.clientOf(req, isToken ? (parsed as URLSearchParams) : undefined),
        host: entry.host ?? 'account',
      };
      // A retry sent before the Retry-After of an earlier 429 has passed is throttled again, unserved.
      this.enforceRetryAfter(caller, method, target, isToken);
      const fault = this.matchFault(method, target);
      if (fault && !fault.after) drop = this.raise(fault, method, target, caller);
      if (!drop) {
        this.rateLimit(target, caller, isToken);
        const result = isToken
          ? this.token(req, target, parsed as URLSearchParams)
          : this.serve(req, method, url, target, parsed);
        status = result.status ?? 200;
        body = method === 'GET' ? this.shorten(target, result.body) : result.body;
        // A lost response: the request took effect, the answer never arrives as sent.
        if (fault?.after) drop = this.raise(fault, method, target, caller);
      }
    } catch (error) {
      if (error instanceof ApiError) {
        status = error.status;
        headers = error.headers;
        body = error.errorCode.startsWith('oauth:')
          ? { error: error.errorCode.slice(6), error_description: error.message }
          : { error_code: error.errorCode, message: error.message };
      } else {
        status = 500;
        body = { error_code: 'INTERNAL_ERROR', message: (error as Error).message };
      }
    }
    entry.status = drop ? 0 : status;
    if (entry.body === undefined) delete entry.body;
    // The round trip: an entry of `databricks.latency` for this endpoint, else `timings.apiLatencyMs`.
    const override = this.scenario.databricks.latency.find(
      (l) => (l.method === undefined || l.method.toUpperCase() === method) && globMatch(l.path, target.path),
    );
    const latencyMs = drawBetween(
      override?.ms ?? this.scenario.databricks.timings.apiLatencyMs,
      this.sim.seed,
      `latency:${this.requests++}`,
    );
    if (latencyMs > 0) await this.clock.sleep(latencyMs);
    if (drop) return { dropped: true };
    return { status, headers, body: body === undefined ? '' : JSON.stringify(body, omitNull) };
  }

  private resolve(req: EmulatorRequest, pathname: string): Target {
    const host = String(req.headers.host ?? '127.0.0.1');
    if (req.deployment !== undefined) {
      const ws = this.account.byDeployment.get(req.deployment);
      return { scope: 'workspace', ws, path: pathname, base: `http://${host}` };
    }
    const label = host.split('.')[0] ?? '';
    const byHost = host.includes('.') ? this.account.byDeployment.get(label) : undefined;
    if (byHost) return { scope: 'workspace', ws: byHost, path: pathname, base: `http://${host}` };
    const m = /^\/ws\/([^/]+)(\/.*)?$/.exec(pathname);
    if (m) {
      const deployment = decodeURIComponent(m[1] ?? '');
      const ws = this.account.byDeployment.get(deployment);
      return { scope: 'workspace', ws, path: m[2] ?? '/', base: `http://${host}/ws/${deployment}` };
    }
    return { scope: 'account', ws: undefined, path: pathname, base: `http://${host}` };
  }

  private serve(
    req: EmulatorRequest,
    method: string,
    url: URL,
    target: Target,
    body: unknown,
  ): { status?: number; body: unknown } {
    if (target.scope === 'workspace' && !target.ws) {
      throw new ApiError(
        404,
        'ENDPOINT_NOT_FOUND',
        `No workspace with this deployment name: ${url.pathname}`,
      );
    }
    if (method === 'GET' && target.path === wellKnownPath(target, this.account.accountId)) {
      return { body: this.discovery(target) };
    }
    this.authenticate(req, target);
    const match = matchRoute(target.scope, method, target.path);
    if (!match) throw new ApiError(404, 'ENDPOINT_NOT_FOUND', `No API found for '${method} ${target.path}'`);
    if ('allowed' in match) {
      throw new ApiError(
        405,
        'BAD_REQUEST',
        `Method ${method} is not allowed on ${target.path}; use ${match.allowed.join(' or ')}`,
        {
          Allow: match.allowed.join(', '),
        },
      );
    }
    const json = (body ?? {}) as Json;
    if (typeof json !== 'object' || Array.isArray(json))
      throw malformed('The request body must be a JSON object');
    return match.route.handle({
      method,
      path: target.path,
      query: url.searchParams,
      body: json,
      params: match.params,
      account: this.account,
      ws: target.ws,
    });
  }

  private discovery(target: Target): Json {
    const oidc =
      target.scope === 'workspace'
        ? `${target.base}/oidc`
        : `${target.base}/oidc/accounts/${this.account.accountId}`;
    return {
      issuer: oidc,
      authorization_endpoint: `${oidc}/v1/authorize`,
      token_endpoint: `${oidc}/v1/token`,
      grant_types_supported: ['client_credentials', 'authorization_code', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    };
  }

  /** OAuth M2M: client_credentials with HTTP Basic (or form) client auth; the token is scoped to this host. */
  private token(
    req: EmulatorRequest,
    target: Target,
    form: URLSearchParams,
  ): { status?: number; body: unknown } {
    if (target.scope === 'workspace' && !target.ws)
      throw new ApiError(404, 'ENDPOINT_NOT_FOUND', 'No workspace with this deployment name');
    const oauth = (status: number, error: string, description: string) =>
      new ApiError(status, `oauth:${error}`, description);
    if (form.get('grant_type') !== 'client_credentials') {
      throw oauth(400, 'unsupported_grant_type', 'Only grant_type=client_credentials is supported');
    }
    const scope = form.get('scope') ?? 'all-apis';
    if (!scope.split(' ').includes('all-apis'))
      throw oauth(400, 'invalid_scope', 'Scope must include all-apis');
    let clientId = form.get('client_id');
    let clientSecret = form.get('client_secret');
    const auth = req.headers.authorization ?? '';
    if (auth.startsWith('Basic ')) {
      const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      clientId = decodeURIComponent(decoded.slice(0, colon));
      clientSecret = decodeURIComponent(decoded.slice(colon + 1));
    }
    const sp = this.scenario.databricks.servicePrincipal;
    if (clientId !== sp.clientId || clientSecret !== sp.clientSecret) {
      throw oauth(
        401,
        'invalid_client',
        'Client authentication failed: unknown client_id or wrong client secret',
      );
    }
    const accessToken = randomBytes(32).toString('base64url');
    this.tokens.set(accessToken, {
      scope: target.ws ? target.ws.deployment : 'account',
      expiresAt: this.sim.t + TOKEN_SECONDS,
      clientId: sp.clientId,
    });
    return {
      body: { access_token: accessToken, token_type: 'Bearer', expires_in: TOKEN_SECONDS, scope: 'all-apis' },
    };
  }

  private authenticate(req: EmulatorRequest, target: Target): void {
    const header = req.headers.authorization ?? '';
    const unauthenticated = (message: string) => new ApiError(401, 'UNAUTHENTICATED', message);
    if (!header.startsWith('Bearer '))
      throw unauthenticated('Credential was not sent or was of an unsupported type for this API.');
    const token = this.tokens.get(header.slice(7).trim());
    if (!token) throw unauthenticated('Invalid access token.');
    if (token.expiresAt <= this.sim.t) throw unauthenticated('Invalid access token: the token has expired.');
    const expected = target.ws ? target.ws.deployment : 'account';
    if (token.scope !== expected) {
      const from = token.scope === 'account' ? 'the account' : `workspace ${token.scope}`;
      throw unauthenticated(
        `Invalid access token: the token was issued by ${from} and is not valid for this host.`,
      );
    }
  }

  /**
   * Status faults from the scenario: the first match still having `times` left (past its `skip`) answers
   * instead of the API, or after it (`after`).
   */
  private matchFault(method: string, target: Target): LiveFault | undefined {
    for (const f of this.faults) {
      if (f.left <= 0) continue;
      if (!faultCovers(f, method, target)) continue;
      f.seen++;
      if (f.seen <= f.skip) continue;
      f.left--;
      return f;
    }
    return undefined;
  }

  /**
   * Applies a matched fault: `true` for a dropped connection, else throws the fault's error — on a token
   * endpoint in the OAuth shape (`{"error", "error_description"}`), elsewhere as `{"error_code", "message"}`.
   * A 429 with `retryAfterSeconds` opens a Retry-After window over the requests this fault matches.
   */
  private raise(f: LiveFault, method: string, target: Target, caller: Caller): boolean {
    if (f.status === 0) return true;
    const headers: Record<string, string> = {};
    if (f.retryAfterSeconds !== undefined) {
      const seconds = Math.ceil(f.retryAfterSeconds);
      headers['Retry-After'] = String(seconds);
      if (f.status === 429) {
        this.openRetryAfter(caller, `fault:${this.faults.indexOf(f)}`, seconds, (m, t) =>
          faultCovers(f, m, t),
        );
      }
    }
    const message = f.message ?? `Injected fault (scenario): ${method} ${f.path} answers ${f.status}`;
    if (isTokenPath(target)) {
      throw new ApiError(f.status, `oauth:${f.error_code ?? oauthErrorFor(f.status)}`, message, headers);
    }
    throw new ApiError(f.status, f.error_code ?? errorCodeFor(f.status), message, headers);
  }

  /** `shortList` faults: a list answer that leaves resources out (once per `times`). */
  private shorten(target: Target, body: unknown): unknown {
    if (!body || typeof body !== 'object') return body;
    for (const f of this.shortLists) {
      if (f.left <= 0 || !globMatch(f.path, target.path)) continue;
      if (f.workspace_id !== undefined && target.ws?.id !== f.workspace_id) continue;
      f.left--;
      const omit = new Set(f.omit.map(String));
      const out: Record<string, unknown> = { ...(body as Record<string, unknown>) };
      for (const [field, value] of Object.entries(out)) {
        if (!Array.isArray(value)) continue;
        out[field] = value.filter((x) => {
          const o = x as Record<string, unknown>;
          const id = o.cluster_id ?? o.id ?? o.pipeline_id ?? o.instance_pool_id ?? o.job_id;
          return !omit.has(String(id));
        });
      }
      return out;
    }
    return body;
  }

  /**
   * Requests per simulated second: per workspace and for the account API (`rateLimits.workspace`/`account`),
   * and, counted apart, per token endpoint (`rateLimits.token`). Discovery is never limited. Beyond the limit
   * the answer is 429 with `Retry-After: 1`, which also opens a Retry-After window for the caller on that host.
   */
  private rateLimit(target: Target, caller: Caller, isToken: boolean): void {
    if (isOidcPath(target) && !isToken) return;
    const limits = this.scenario.databricks.rateLimits;
    const limit = isToken ? limits.token : target.ws ? limits.workspace : limits.account;
    if (limit === null) return;
    const key = `${isToken ? 'token' : 'api'}:${caller.host}`;
    const second = Math.floor(this.sim.t);
    const bucket = this.buckets.get(key);
    if (!bucket || bucket.second !== second) {
      this.buckets.set(key, { second, count: 1 });
      return;
    }
    bucket.count++;
    if (bucket.count <= limit) return;
    this.openRetryAfter(caller, isToken ? 'token' : 'api', 1, (_m, t) => isTokenPath(t) === isToken);
    throw throttled(isToken, `the limit is ${limit} requests per second`, 1);
  }

  /**
   * Who is calling: the service principal of the bearer token (or of the client credentials on a token
   * request), else `anonymous`. Databricks throttles per caller and workspace (reference §8).
   */
  private clientOf(req: EmulatorRequest, form: URLSearchParams | undefined): string {
    const auth = req.headers.authorization ?? '';
    if (auth.startsWith('Bearer ')) return this.tokens.get(auth.slice(7).trim())?.clientId ?? 'anonymous';
    if (auth.startsWith('Basic ')) {
      const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
      return decodeURIComponent(decoded.slice(0, Math.max(0, decoded.indexOf(':'))));
    }
    return form?.get('client_id') ?? 'anonymous';
  }

  private openRetryAfter(
    caller: Caller,
    origin: string,
    seconds: number,
    covers: RetryAfterWindow['covers'],
  ): void {
    this.retryAfter.set(`${caller.client}|${caller.host}|${origin}`, { until: this.sim.t + seconds, covers });
  }

  /**
   * A client that comes back before the `Retry-After` it was given gets 429 again, with the seconds still to
   * wait; the request is not served and does not count against faults. The Python SDK's comment says
   * Databricks sends Retry-After as integer seconds (databricks-sdk-py `errors/customizer.py`), and a
   * throttled caller that ignores it stays throttled.
   */
  private enforceRetryAfter(caller: Caller, method: string, target: Target, isToken: boolean): void {
    const prefix = `${caller.client}|${caller.host}|`;
    for (const [key, window] of this.retryAfter) {
      if (!key.startsWith(prefix)) continue;
      if (window.until <= this.sim.t) {
        this.retryAfter.delete(key);
        continue;
      }
      if (!window.covers(method, target)) continue;
      const left = Math.max(1, Math.ceil(window.until - this.sim.t));
      throw throttled(isToken, `retry after ${left} s (the Retry-After of the previous answer)`, left);
    }
  }
}

/** The 429 of a throttled caller: OAuth-shaped on a token endpoint (reference §2), else REQUEST_LIMIT_EXCEEDED. */
function throttled(isToken: boolean, why: string, retryAfterSeconds: number): ApiError {
  const headers = { 'Retry-After': String(retryAfterSeconds) };
  return isToken
    ? new ApiError(429, 'oauth:invalid_request', 'Temporarily throttled, too many requests', headers)
    : new ApiError(429, 'REQUEST_LIMIT_EXCEEDED', `Too many requests: ${why}`, headers);
}

/** Whether a fault matches a request, whatever its `times` left (the scope of its Retry-After window). */
function faultCovers(f: StatusFault, method: string, target: Target): boolean {
  if (f.method !== undefined && f.method !== method) return false;
  if (!globMatch(f.path, target.path)) return false;
  if (f.workspace_id === undefined) return true;
  const id = target.ws ? target.ws.id : /\/workspaces\/(\d+)/.exec(target.path)?.[1];
  return String(id) === String(f.workspace_id);
}

/** The OAuth 2.0 `error` (RFC 6749 §5.2) for a bare status on a token endpoint. */
function oauthErrorFor(status: number): string {
  if (status === 401) return 'invalid_client';
  if (status === 503) return 'temporarily_unavailable';
  if (status >= 500) return 'server_error';
  return 'invalid_request';
}

/**
 * `JSON.stringify` replacer: Databricks serializes its protobuf messages without unset fields, so an answer
 * never carries `null` (a scenario may hold one, e.g. a workspace without a key: it is left out).
 */
function omitNull(key: string, value: unknown): unknown {
  return value === null && key !== '' ? undefined : value;
}

function isTokenPath(target: Target): boolean {
  return target.scope === 'workspace'
    ? target.path === '/oidc/v1/token'
    : /^\/oidc\/accounts\/[^/]+\/v1\/token$/.test(target.path);
}

function isOidcPath(target: Target): boolean {
  return target.path.startsWith('/oidc/');
}

function wellKnownPath(target: Target, accountId: string): string {
  return target.scope === 'workspace'
    ? '/oidc/.well-known/oauth-authorization-server'
    : `/oidc/accounts/${accountId}/.well-known/oauth-authorization-server`;
}

/** `*` matches exactly one path segment. */
export function globMatch(pattern: string, path: string): boolean {
  const p = pattern.split('/');
  const s = path.split('/');
  return p.length === s.length && p.every((part, i) => (part === '*' ? (s[i] ?? '') !== '' : part === s[i]));
}

function loggedPath(path: string, query: URLSearchParams): string {
  const kept = new URLSearchParams();
  for (const [k, v] of query) kept.append(k, SECRET_QUERY_PARAMS.has(k) ? '***' : v);
  const qs = kept.toString();
  return qs === '' ? path : `${path}?${qs}`;
}

function tokenLogBody(form: URLSearchParams): Json {
  const out: Json = {};
  const grant = form.get('grant_type');
  const scope = form.get('scope');
  if (grant !== null) out.grant_type = grant;
  if (scope !== null) out.scope = scope;
  return out;
}

function parseForm(raw: string): URLSearchParams {
  return new URLSearchParams(raw);
}

function parseJson(raw: string): unknown {
  if (raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw malformed('Malformed JSON request body');
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
