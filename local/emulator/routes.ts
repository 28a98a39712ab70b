import { ClusterSource, ClusterState } from '../scenario.ts';
import type { AccountModel, WorkspaceModel } from './account-model.ts';
import { ApiError, invalidParameter } from './errors.ts';
import type { Json } from './workspace-model.ts';

/** What a route handler gets: the parsed request and the model it acts on. */
export interface RouteContext {
  method: string;
  /** Path without the query string and without the `/ws/{deployment}` prefix. */
  path: string;
  query: URLSearchParams;
  body: Json;
  params: Record<string, string>;
  account: AccountModel;
  /** The workspace addressed (workspace routes only). */
  ws: WorkspaceModel | undefined;
}

export interface RouteResult {
  status?: number;
  body: unknown;
}

export interface Route {
  method: string;
  /** Segments; `{name}` captures one segment. */
  pattern: string;
  scope: 'account' | 'workspace';
  handle(ctx: RouteContext): RouteResult;
}

const ok = (body: unknown, status = 200): RouteResult => ({ status, body });
const MAX_PAGE = 100;

/** Opaque page tokens: the offset into the (filtered) list, base64url-encoded like real opaque tokens. */
function paginate<T, U>(
  items: T[],
  pageSize: number,
  token: string | null,
  view: (item: T) => U,
): { page: U[]; next: string | undefined } {
  let offset = 0;
  if (token !== null && token !== '') {
    try {
      const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown };
      if (typeof decoded.o !== 'number' || !Number.isInteger(decoded.o) || decoded.o < 0)
        throw new Error('bad');
      offset = decoded.o;
    } catch {
      throw invalidParameter(`Invalid page_token: ${token}`);
    }
  }
  // Only the page is copied: lists of thousands of jobs stay cheap to page through.
  const slice = items.slice(offset, offset + pageSize);
  const end = offset + slice.length;
  const next = end < items.length ? Buffer.from(JSON.stringify({ o: end })).toString('base64url') : undefined;
  return { page: slice.map(view), next };
}

function intParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw)) throw invalidParameter(`${name} must be an integer, got ${raw}`);
  const n = Number(raw);
  if (n < min || n > max) throw invalidParameter(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function boolParam(query: URLSearchParams, name: string): boolean | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw invalidParameter(`${name} must be true or false, got ${raw}`);
}

/** Repeated dotted keys as the SDK sends them (`filter_by.cluster_states=A&…`), also `…[]=` and comma lists. */
function listParam(query: URLSearchParams, name: string): string[] {
  return [...query.getAll(name), ...query.getAll(`${name}[]`)]
    .flatMap((v) => v.split(','))
    .filter((v) => v !== '');
}

function withoutEmpty(body: Json): Json {
  return Object.fromEntries(
    Object.entries(body).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)),
  );
}

function ws(ctx: RouteContext): WorkspaceModel {
  if (!ctx.ws) throw new ApiError(404, 'ENDPOINT_NOT_FOUND', `No API found for '${ctx.method} ${ctx.path}'`);
  return ctx.ws;
}

function requireAccount(ctx: RouteContext): void {
  if (ctx.params.account_id !== ctx.account.accountId) {
    throw new ApiError(
      403,
      'PERMISSION_DENIED',
      `This token is not valid for account ${ctx.params.account_id}`,
    );
  }
}

// ------------------------------------------------------------------------------------------- account

const accountRoutes: Route[] = [
  [
    'GET',
    '/api/2.0/accounts/{account_id}/customer-managed-keys',
    (ctx: RouteContext) => ok([...ctx.account.keyConfigs.values()].map((c) => structuredClone(c))),
  ],
  [
    'POST',
    '/api/2.0/accounts/{account_id}/customer-managed-keys',
    (ctx: RouteContext) => ok(structuredClone(ctx.account.createKeyConfig(ctx.body)), 201),
  ],
  [
    'GET',
    '/api/2.0/accounts/{account_id}/customer-managed-keys/{id}',
    (ctx: RouteContext) => ok(structuredClone(ctx.account.keyConfig(ctx.params.id ?? ''))),
  ],
  [
    'DELETE',
    '/api/2.0/accounts/{account_id}/customer-managed-keys/{id}',
    (ctx: RouteContext) => {
      ctx.account.deleteKeyConfig(ctx.params.id ?? '');
      return ok({});
    },
  ],
  [
    'GET',
    '/api/2.0/accounts/{account_id}/workspaces',
    (ctx: RouteContext) => ok([...ctx.account.workspaces.values()].map((w) => ctx.account.workspaceView(w))),
  ],
  [
    'GET',
    '/api/2.0/accounts/{account_id}/workspaces/{id}',
    (ctx: RouteContext) => ok(ctx.account.workspaceView(ctx.account.workspace(ctx.params.id ?? ''))),
  ],
  [
    'PATCH',
    '/api/2.0/accounts/{account_id}/workspaces/{id}',
    (ctx: RouteContext) =>
      ok(ctx.account.updateWorkspace(ctx.params.id ?? '', ctx.body, ctx.query.get('update_mask'))),
  ],
  [
    'GET',
    '/api/2.0/accounts/{account_id}/credentials',
    (ctx: RouteContext) => ok([...ctx.account.credentials.values()].map((c) => structuredClone(c))),
  ],
  [
    'GET',
    '/api/2.0/accounts/{account_id}/credentials/{id}',
    (ctx: RouteContext) => ok(structuredClone(ctx.account.credential(ctx.params.id ?? ''))),
  ],
].map(([method, pattern, handle]) => ({
  method: method as string,
  pattern: pattern as string,
  scope: 'account' as const,
  handle: (ctx: RouteContext) => {
    requireAccount(ctx);
    return (handle as (ctx: RouteContext) => RouteResult)(ctx);
  },
}));

// ------------------------------------------------------------------------------------------- clusters

const CLUSTER_STATES = new Set<string>(ClusterState.options);
const CLUSTER_SOURCES = new Set<string>(ClusterSource.options);

function listClusters(ctx: RouteContext, paged: boolean): RouteResult {
  const compute = ws(ctx).compute;
  const states = listParam(ctx.query, 'filter_by.cluster_states');
  const sources = listParam(ctx.query, 'filter_by.cluster_sources');
  for (const s of states)
    if (!CLUSTER_STATES.has(s))
      throw invalidParameter(`Invalid cluster state in filter_by.cluster_states: ${s}`);
  for (const s of sources)
    if (!CLUSTER_SOURCES.has(s))
      throw invalidParameter(`Invalid cluster source in filter_by.cluster_sources: ${s}`);
  const pinned = boolParam(ctx.query, 'filter_by.is_pinned');
  const policy = ctx.query.get('filter_by.policy_id');
  const items = [...compute.clusters.values()]
    .map((c) => c.obj)
    .filter((c) => states.length === 0 || states.includes(String(c.state)))
    .filter((c) => sources.length === 0 || sources.includes(String(c.cluster_source)))
    .filter((c) => pinned === undefined || Boolean(c.is_pinned) === pinned)
    .filter((c) => policy === null || c.policy_id === policy);
  const listItem = (c: Json) => {
    const { spec: _spec, ...rest } = structuredClone(c);
    return rest;
  };
  if (!paged) return ok(withoutEmpty({ clusters: items.map(listItem) }));
  // Real default page size is server-chosen; here at most 100 per page, so callers must follow tokens.
  const size = Math.min(intParam(ctx.query, 'page_size', MAX_PAGE, 0, 10_000) || MAX_PAGE, MAX_PAGE);
  const { page, next } = paginate(items, size, ctx.query.get('page_token'), listItem);
  return ok(withoutEmpty({ clusters: page, next_page_token: next }));
}

const clusterRoutes: Array<[string, string, (ctx: RouteContext) => RouteResult]> = ['2.0', '2.1'].flatMap(
  (v) =>
    [
      ['GET', `/api/${v}/clusters/list`, (ctx: RouteContext) => listClusters(ctx, v === '2.1')],
      [
        'GET',
        `/api/${v}/clusters/get`,
        (ctx: RouteContext) =>
          ok(
            structuredClone(ws(ctx).compute.cluster(ctx.query.get('cluster_id') ?? ctx.body.cluster_id).obj),
          ),
      ],
      [
        'POST',
        `/api/${v}/clusters/delete`,
        (ctx: RouteContext) => {
          ws(ctx).compute.terminateCluster(ctx.body.cluster_id);
          return ok({});
        },
      ],
      [
        'POST',
        `/api/${v}/clusters/start`,
        (ctx: RouteContext) => {
          ws(ctx).compute.startCluster(ctx.body.cluster_id);
          return ok({});
        },
      ],
      [
        'POST',
        `/api/${v}/clusters/permanent-delete`,
        () => {
          throw invalidParameter(
            'permanent-delete is refused by the emulator: the rotation must never permanently delete a cluster (use clusters/delete to terminate)',
          );
        },
      ],
    ] as Array<[string, string, (ctx: RouteContext) => RouteResult]>,
);

// ------------------------------------------------------------------------------------------- pools

const poolRoutes: Array<[string, string, (ctx: RouteContext) => RouteResult]> = [
  [
    'GET',
    '/api/2.0/instance-pools/list',
    (ctx) => {
      const compute = ws(ctx).compute;
      return ok(
        withoutEmpty({ instance_pools: [...compute.pools.values()].map((p) => compute.poolView(p)) }),
      );
    },
  ],
  [
    'GET',
    '/api/2.0/instance-pools/get',
    (ctx) => {
      const compute = ws(ctx).compute;
      return ok(
        compute.poolView(compute.pool(ctx.query.get('instance_pool_id') ?? ctx.body.instance_pool_id)),
      );
    },
  ],
  [
    'POST',
    '/api/2.0/instance-pools/edit',
    (ctx) => {
      ws(ctx).compute.editPool(ctx.body);
      return ok({});
    },
  ],
];

// ------------------------------------------------------------------------------------------- warehouses

const warehouseRoutes: Array<[string, string, (ctx: RouteContext) => RouteResult]> = [
  [
    'GET',
    '/api/2.0/sql/warehouses',
    (ctx) => {
      const items = [...ws(ctx).compute.warehouses.values()];
      const size = Math.min(intParam(ctx.query, 'page_size', MAX_PAGE, 0, 10_000) || MAX_PAGE, MAX_PAGE);
      const { page, next } = paginate(items, size, ctx.query.get('page_token'), (h) =>
        structuredClone(h.obj),
      );
      return ok(withoutEmpty({ warehouses: page, next_page_token: next }));
    },
  ],
  [
    'GET',
    '/api/2.0/sql/warehouses/{id}',
    (ctx) => ok(structuredClone(ws(ctx).compute.warehouse(ctx.params.id ?? '').obj)),
  ],
  [
    'POST',
    '/api/2.0/sql/warehouses/{id}/stop',
    (ctx) => {
      ws(ctx).compute.stopWarehouse(ctx.params.id ?? '');
      return ok({});
    },
  ],
  [
    'POST',
    '/api/2.0/sql/warehouses/{id}/start',
    (ctx) => {
      ws(ctx).compute.startWarehouse(ctx.params.id ?? '');
      return ok({});
    },
  ],
];

// ------------------------------------------------------------------------------------------- jobs

/** A `jobs/list` item (`BaseJob`: a `Job` without `run_as_user_name` and paging); tasks only with expand_tasks. */
function jobListItem(job: Json, expandTasks: boolean): Json {
  const { run_as_user_name: _runAs, next_page_token: _next, ...item } = structuredClone(job);
  const settings = (item.settings ?? {}) as Json;
  if (!expandTasks) {
    delete settings.tasks;
    delete settings.job_clusters;
  }
  return withoutEmpty({ ...item, settings });
}

/** A `jobs/get` answer: the job on one page (the emulator does not page a job's arrays). */
function jobView(job: Json): Json {
  const { next_page_token: _next, ...view } = structuredClone(job);
  return view;
}

const jobRoutes: Array<[string, string, (ctx: RouteContext) => RouteResult]> = ['2.1', '2.2'].flatMap(
  (v) =>
    [
      [
        'GET',
        `/api/${v}/jobs/list`,
        (ctx: RouteContext) => {
          const compute = ws(ctx).compute;
          const limit = intParam(ctx.query, 'limit', 20, 1, 100);
          const expand = boolParam(ctx.query, 'expand_tasks') ?? false;
          const name = ctx.query.get('name');
          const items = [...compute.jobs.values()]
            .map((j) => j.obj)
            .filter(
              (j) =>
                name === null ||
                String((j.settings as Json | undefined)?.name ?? '').toLowerCase() === name.toLowerCase(),
            );
          const { page, next } = paginate(items, limit, ctx.query.get('page_token'), (j) =>
            jobListItem(j, expand),
          );
          return ok(withoutEmpty({ jobs: page, has_more: next !== undefined, next_page_token: next }));
        },
      ],
      [
        'GET',
        `/api/${v}/jobs/get`,
        (ctx: RouteContext) =>
          ok(jobView(ws(ctx).compute.job(ctx.query.get('job_id') ?? ctx.body.job_id).obj)),
      ],
      [
        'POST',
        `/api/${v}/jobs/update`,
        (ctx: RouteContext) => {
          ws(ctx).compute.updateJob(ctx.body);
          return ok({});
        },
      ],
      [
        'GET',
        `/api/${v}/jobs/runs/list`,
        (ctx: RouteContext) => {
          const compute = ws(ctx).compute;
          const activeOnly = boolParam(ctx.query, 'active_only') ?? false;
          const completedOnly = boolParam(ctx.query, 'completed_only') ?? false;
          if (activeOnly && completedOnly)
            throw invalidParameter('active_only and completed_only cannot both be true');
          // Databricks: limit must be less than 25; 0 means the maximum.
          const limit = intParam(ctx.query, 'limit', 20, 0, 24) || 24;
          const jobIdRaw = ctx.query.get('job_id');
          const jobId =
            jobIdRaw === null ? undefined : intParam(ctx.query, 'job_id', 0, 1, Number.MAX_SAFE_INTEGER);
          const items = [...compute.runs.values()]
            .filter((r) => jobId === undefined || r.obj.job_id === jobId)
            .filter((r) => !activeOnly || compute.isActive(r))
            .filter((r) => !completedOnly || !compute.isActive(r))
            .sort(
              (a, b) =>
                Number(b.obj.start_time ?? 0) - Number(a.obj.start_time ?? 0) ||
                Number(b.obj.run_id) - Number(a.obj.run_id),
            );
          const { page, next } = paginate(items, limit, ctx.query.get('page_token'), (r) =>
            compute.runView(r, true),
          );
          return ok(withoutEmpty({ runs: page, has_more: next !== undefined, next_page_token: next }));
        },
      ],
      [
        'GET',
        `/api/${v}/jobs/runs/get`,
        (ctx: RouteContext) => {
          const compute = ws(ctx).compute;
          return ok(compute.runView(compute.run(ctx.query.get('run_id') ?? ctx.body.run_id)));
        },
      ],
      [
        'POST',
        `/api/${v}/jobs/runs/cancel`,
        (ctx: RouteContext) => {
          ws(ctx).compute.cancelRun(ctx.body.run_id);
          return ok({});
        },
      ],
    ] as Array<[string, string, (ctx: RouteContext) => RouteResult]>,
);

// ------------------------------------------------------------------------------------------- pipelines

const pipelineRoutes: Array<[string, string, (ctx: RouteContext) => RouteResult]> = [
  [
    'GET',
    '/api/2.0/pipelines',
    (ctx) => {
      const compute = ws(ctx).compute;
      const max = intParam(ctx.query, 'max_results', 25, 1, 100);
      const items = [...compute.pipelines.values()];
      const { page, next } = paginate(items, max, ctx.query.get('page_token'), (p) =>
        compute.pipelineListItem(p),
      );
      return ok(withoutEmpty({ statuses: page, next_page_token: next }));
    },
  ],
  [
    'GET',
    '/api/2.0/pipelines/{id}',
    (ctx) => ok(structuredClone(ws(ctx).compute.pipeline(ctx.params.id ?? '').obj)),
  ],
  [
    'POST',
    '/api/2.0/pipelines/{id}/stop',
    (ctx) => {
      ws(ctx).compute.stopPipeline(ctx.params.id ?? '');
      return ok({});
    },
  ],
  [
    'POST',
    '/api/2.0/pipelines/{id}/updates',
    (ctx) => ok({ update_id: ws(ctx).compute.startPipelineUpdate(ctx.params.id ?? '', ctx.body) }),
  ],
  [
    'GET',
    '/api/2.0/pipelines/{id}/updates',
    (ctx) => ok(withoutEmpty({ updates: ws(ctx).compute.pipelineUpdates(ctx.params.id ?? '') })),
  ],
  [
    'GET',
    '/api/2.0/pipelines/{id}/updates/{update_id}',
    (ctx) => ok({ update: ws(ctx).compute.pipelineUpdate(ctx.params.id ?? '', ctx.params.update_id ?? '') }),
  ],
];

const workspaceRoutes: Route[] = [
  ...clusterRoutes,
  ...poolRoutes,
  ...warehouseRoutes,
  ...jobRoutes,
  ...pipelineRoutes,
].map(([method, pattern, handle]) => ({ method, pattern, scope: 'workspace' as const, handle }));

/** Every API route (the OAuth endpoints are served by the HTTP layer itself). */
export const ROUTES: Route[] = [...accountRoutes, ...workspaceRoutes];

/** Finds the route for a path: `{route, params}`, or the methods the path supports (405), or nothing (404). */
export function matchRoute(
  scope: 'account' | 'workspace',
  method: string,
  path: string,
): { route: Route; params: Record<string, string> } | { allowed: string[] } | undefined {
  const segments = path.split('/');
  const allowed: string[] = [];
  for (const route of ROUTES) {
    if (route.scope !== scope) continue;
    const params = matchPattern(route.pattern, segments);
    if (!params) continue;
    if (route.method === method) return { route, params };
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { allowed } : undefined;
}

function matchPattern(pattern: string, segments: string[]): Record<string, string> | undefined {
  const parts = pattern.split('/');
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? '';
    const seg = segments[i] ?? '';
    if (part.startsWith('{') && part.endsWith('}')) {
      if (seg === '') return undefined;
      params[part.slice(1, -1)] = decodeURIComponent(seg);
    } else if (part !== seg) {
      return undefined;
    }
  }
  return params;
}
