import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInput } from '../../lib/errors.ts';
import { type FakeServer, type Seen, startFake } from './fake-server.ts';
import { ACCOUNT_ID, clientFor, thrown, useFakeClock } from './setup.ts';

const WS = '/ws/acme-prod';

/** Serves `items` under `field`, `pageSize` at a time, with `page_token` = the offset. */
function paged(
  path: string,
  field: string,
  items: unknown[],
  pageSize: number,
  tokenField = 'next_page_token',
) {
  return (req: Seen) => {
    if (req.path !== path) return undefined;
    const offset = Number(req.query.get('page_token') ?? '0');
    const next = offset + pageSize < items.length ? String(offset + pageSize) : '';
    return { status: 200, body: { [field]: items.slice(offset, offset + pageSize), [tokenField]: next } };
  };
}

describe('DatabricksClient: endpoints', () => {
  useFakeClock();
  let fake: FakeServer;
  afterEach(() => fake.close());

  describe('pagination', () => {
    it('lists every cluster over several pages', async () => {
      // Prepare
      const clusters = Array.from({ length: 250 }, (_, i) => ({ cluster_id: `c-${i}`, state: 'RUNNING' }));
      fake = await startFake(paged(`${WS}/api/2.1/clusters/list`, 'clusters', clusters, 100));
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const listed = await ws.listClusters({ cluster_sources: ['UI', 'API'] });

      // Assess
      expect(listed.map((c) => c.cluster_id)).toEqual(clusters.map((c) => c.cluster_id));
      const requests = fake.apiRequests();
      expect(requests.map((r) => r.query.get('page_token'))).toEqual([null, '100', '200']);
      expect(requests[0]?.query.getAll('filter_by.cluster_sources')).toEqual(['UI', 'API']);
      expect(requests[0]?.query.get('page_size')).toBe('100');
      expect(requests[2]?.query.getAll('filter_by.cluster_sources')).toEqual(['UI', 'API']);
    });

    it('sends a state filter in the SDK encoding, and one page is the whole answer', async () => {
      // Prepare
      const clusters = Array.from({ length: 40 }, (_, i) => ({ cluster_id: `c-${i}`, state: 'RUNNING' }));
      fake = await startFake(paged(`${WS}/api/2.1/clusters/list`, 'clusters', clusters, 100));
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const listed = await ws.listClusters({
        cluster_states: ['RUNNING', 'PENDING'],
        cluster_sources: ['UI', 'API'],
      });

      // Assess
      expect(listed).toHaveLength(40);
      const requests = fake.apiRequests();
      expect(requests).toHaveLength(1);
      expect(requests[0]?.query.getAll('filter_by.cluster_states')).toEqual(['RUNNING', 'PENDING']);
      expect(requests[0]?.query.getAll('filter_by.cluster_sources')).toEqual(['UI', 'API']);
      expect(requests[0]?.query.has('page_token')).toBe(false);
    });

    it('never skips a cluster when the state-filtered set shifts between pages', async () => {
      // Prepare: 100 clusters terminating, then 100 running; the server filters by state and pages by
      // position. Right after the first page, 50 of the terminating clusters finish and leave the filtered
      // set, so its second page would start 50 clusters too far and skip 50 running ones.
      const clusters = [
        ...Array.from({ length: 100 }, (_, i) => ({ cluster_id: `t-${i}`, state: 'TERMINATING' })),
        ...Array.from({ length: 100 }, (_, i) => ({ cluster_id: `r-${i}`, state: 'RUNNING' })),
      ];
      let pagesServed = 0;
      fake = await startFake((req) => {
        if (req.path !== `${WS}/api/2.1/clusters/list`) return undefined;
        const states = req.query.getAll('filter_by.cluster_states');
        const selected = states.length > 0 ? clusters.filter((c) => states.includes(c.state)) : clusters;
        const offset = Number(req.query.get('page_token') ?? '0');
        const page = selected.slice(offset, offset + 100);
        pagesServed++;
        if (pagesServed === 1) for (const c of clusters.slice(0, 50)) c.state = 'TERMINATED';
        const next = offset + 100 < selected.length ? String(offset + 100) : '';
        return { status: 200, body: { clusters: page, next_page_token: next } };
      });
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const listed = await ws.listClusters({
        cluster_states: ['RUNNING', 'TERMINATING'],
        cluster_sources: ['UI', 'API'],
      });

      // Assess: every running cluster, and only clusters in the asked states.
      const ids = listed.map((c) => c.cluster_id);
      expect(ids.filter((id) => id.startsWith('r-'))).toHaveLength(100);
      expect(ids).toEqual([
        ...Array.from({ length: 50 }, (_, i) => `t-${50 + i}`),
        ...Array.from({ length: 100 }, (_, i) => `r-${i}`),
      ]);
      // The first page filtered; then the whole list without the state filter (sources kept).
      const requests = fake.apiRequests();
      expect(requests.map((r) => r.query.getAll('filter_by.cluster_states').length > 0)).toEqual([
        true,
        false,
        false,
      ]);
      expect(requests.every((r) => r.query.getAll('filter_by.cluster_sources').join() === 'UI,API')).toBe(
        true,
      );
    });

    it('reads the state-filtered list to its end instead when the whole list is too long to read at every check', async () => {
      // Prepare: 150 running clusters among 5,100 terminated ones (53 pages: past CONSISTENT_READ_PAGES)
      const clusters = [
        ...Array.from({ length: 5_100 }, (_, i) => ({ cluster_id: `old-${i}`, state: 'TERMINATED' })),
        ...Array.from({ length: 150 }, (_, i) => ({ cluster_id: `r-${i}`, state: 'RUNNING' })),
      ];
      fake = await startFake((req) => {
        if (req.path !== `${WS}/api/2.1/clusters/list`) return undefined;
        const states = req.query.getAll('filter_by.cluster_states');
        const selected = states.length > 0 ? clusters.filter((c) => states.includes(c.state)) : clusters;
        const offset = Number(req.query.get('page_token') ?? '0');
        const next = offset + 100 < selected.length ? String(offset + 100) : '';
        return {
          status: 200,
          body: { clusters: selected.slice(offset, offset + 100), next_page_token: next },
        };
      });
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const listed = await ws.listClusters({ cluster_states: ['RUNNING'] });

      // Assess: the 150 running ones; one filtered page, 50 whole-list pages, then the filtered list again
      expect(listed.map((c) => c.cluster_id)).toEqual(clusters.slice(5_100).map((c) => c.cluster_id));
      const filtered = fake.apiRequests().map((r) => r.query.getAll('filter_by.cluster_states').length > 0);
      expect(filtered).toEqual([true, ...Array.from({ length: 50 }, () => false), true, true]);
    });

    it('stops at an empty page even if a token is given', async () => {
      // Prepare
      fake = await startFake((req) =>
        req.path === `${WS}/api/2.1/clusters/list`
          ? { status: 200, body: { clusters: [], next_page_token: 'more' } }
          : undefined,
      );
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const listed = await ws.listClusters();

      // Assess
      expect(listed).toEqual([]);
      expect(fake.apiRequests()).toHaveLength(1);
    });

    it('lists jobs 100 at a time without tasks', async () => {
      // Prepare
      const jobs = Array.from({ length: 150 }, (_, i) => ({ job_id: i + 1, settings: { name: `job-${i}` } }));
      fake = await startFake(paged(`${WS}/api/2.2/jobs/list`, 'jobs', jobs, 100));
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const listed = await ws.listJobs();

      // Assess
      expect(listed).toHaveLength(150);
      const first = fake.apiRequests()[0];
      expect(first?.query.get('limit')).toBe('100');
      expect(first?.query.get('expand_tasks')).toBe('false');
    });

    it('lists active runs with limit 24', async () => {
      // Prepare
      const runs = Array.from({ length: 30 }, (_, i) => ({
        run_id: i + 1,
        state: { life_cycle_state: 'RUNNING' },
      }));
      fake = await startFake(paged(`${WS}/api/2.2/jobs/runs/list`, 'runs', runs, 24));
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const listed = await ws.listRuns({ jobId: 11 });

      // Assess
      expect(listed).toHaveLength(30);
      const first = fake.apiRequests()[0];
      expect(first?.query.get('limit')).toBe('24');
      expect(first?.query.get('active_only')).toBe('true');
      expect(first?.query.get('job_id')).toBe('11');
    });

    it('lists pipelines and warehouses over every page', async () => {
      // Prepare
      const pipelines = Array.from({ length: 120 }, (_, i) => ({ pipeline_id: `p-${i}`, state: 'IDLE' }));
      const warehouses = Array.from({ length: 3 }, (_, i) => ({ id: `w-${i}`, state: 'RUNNING' }));
      const pipelinePages = paged(`${WS}/api/2.0/pipelines`, 'statuses', pipelines, 100);
      const warehousePages = paged(`${WS}/api/2.0/sql/warehouses`, 'warehouses', warehouses, 2);
      fake = await startFake((req) => pipelinePages(req) ?? warehousePages(req));
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const listedPipelines = await ws.listPipelines();
      const listedWarehouses = await ws.listWarehouses();

      // Assess
      expect(listedPipelines).toHaveLength(120);
      expect(listedWarehouses.map((w) => w.id)).toEqual(['w-0', 'w-1', 'w-2']);
      expect(fake.apiRequests()[0]?.query.get('max_results')).toBe('100');
    });

    it('merges the task pages of a Jobs 2.2 job', async () => {
      // Prepare
      fake = await startFake((req) => {
        if (req.path !== `${WS}/api/2.2/jobs/get`) return undefined;
        const second = req.query.get('page_token') === 'p2';
        const tasks = second ? [{ task_key: 'c' }] : [{ task_key: 'a' }, { task_key: 'b' }];
        const clusters = second ? [] : [{ job_cluster_key: 'main' }];
        return {
          status: 200,
          body: {
            job_id: 11,
            settings: { name: 'nightly', tasks, job_clusters: clusters },
            ...(second ? {} : { next_page_token: 'p2' }),
          },
        };
      });
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const job = await ws.getJob(11);

      // Assess
      expect(job.settings?.tasks).toEqual([{ task_key: 'a' }, { task_key: 'b' }, { task_key: 'c' }]);
      expect(job.settings?.job_clusters).toEqual([{ job_cluster_key: 'main' }]);
      expect(job.settings?.name).toBe('nightly');
      expect(job).not.toHaveProperty('next_page_token');
    });
  });

  describe('workspace PATCH', () => {
    const workspacePath = `/api/2.0/accounts/${ACCOUNT_ID}/workspaces/1234`;

    it('sends only the managed-services key field, named in update_mask', async () => {
      // Prepare
      fake = await startFake((req) =>
        req.path === workspacePath ? { status: 200, body: { workspace_id: 1234 } } : undefined,
      );
      const account = clientFor(fake).account;

      // Act
      await account.updateWorkspaceKeys(1234, { managed_services_customer_managed_key_id: 'cmk-new' });

      // Assess
      const [patch] = fake.apiRequests();
      expect(patch?.method).toBe('PATCH');
      expect(patch?.query.get('update_mask')).toBe('managed_services_customer_managed_key_id');
      expect(JSON.parse(patch?.body ?? '')).toEqual({ managed_services_customer_managed_key_id: 'cmk-new' });
      expect(patch?.headers['content-type']).toBe('application/json');
    });

    it('names both key fields, comma-separated, when both change', async () => {
      // Prepare
      fake = await startFake((req) =>
        req.path === workspacePath ? { status: 200, body: { workspace_id: 1234 } } : undefined,
      );
      const account = clientFor(fake).account;

      // Act
      await account.updateWorkspaceKeys(1234, {
        managed_services_customer_managed_key_id: 'cmk-new',
        storage_customer_managed_key_id: 'cmk-new',
      });

      // Assess
      const [patch] = fake.apiRequests();
      expect(patch?.query.get('update_mask')).toBe(
        'managed_services_customer_managed_key_id,storage_customer_managed_key_id',
      );
      expect(Object.keys(JSON.parse(patch?.body ?? ''))).toHaveLength(2);
    });

    it('refuses an empty change before calling Databricks', async () => {
      // Prepare
      fake = await startFake();
      const account = clientFor(fake).account;

      // Act
      const error = await thrown(async () => account.updateWorkspaceKeys(1234, {}));

      // Assess
      expect(error).toBeInstanceOf(InvalidInput);
      expect(error.message).toContain('workspace 1234');
      expect(fake.seen).toHaveLength(0);
    });
  });

  describe('starts that may already have happened', () => {
    const invalidState = {
      status: 400,
      body: { error_code: 'INVALID_STATE', message: 'Cluster c-1 is in unexpected state Pending.' },
    };

    it('treats INVALID_STATE from clusters/start as success when the cluster is already pending', async () => {
      // Prepare
      fake = await startFake((req) => {
        if (req.path === `${WS}/api/2.1/clusters/start`) return invalidState;
        if (req.path === `${WS}/api/2.1/clusters/get`)
          return { status: 200, body: { cluster_id: 'c-1', state: 'PENDING' } };
        return undefined;
      });
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      await ws.startCluster('c-1');

      // Assess
      expect(fake.apiRequests().map((r) => r.path)).toEqual([
        `${WS}/api/2.1/clusters/start`,
        `${WS}/api/2.1/clusters/get`,
      ]);
    });

    it('keeps the INVALID_STATE error when the cluster is not starting', async () => {
      // Prepare
      fake = await startFake((req) => {
        if (req.path === `${WS}/api/2.1/clusters/start`) return invalidState;
        if (req.path === `${WS}/api/2.1/clusters/get`)
          return { status: 200, body: { cluster_id: 'c-1', state: 'TERMINATING' } };
        return undefined;
      });
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const error = await thrown(() => ws.startCluster('c-1'));

      // Assess
      expect(error.errorCode).toBe('INVALID_STATE');
      expect(error.message).toContain(
        'POST /api/2.1/clusters/start (workspace acme-prod) failed: 400 INVALID_STATE',
      );
    });

    it('starts a pipeline update without a full refresh', async () => {
      // Prepare
      fake = await startFake((req) =>
        req.path === `${WS}/api/2.0/pipelines/p-1/updates`
          ? { status: 200, body: { update_id: 'u-9' } }
          : undefined,
      );
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const started = await ws.startPipelineUpdate('p-1', { cause: 'API_CALL' });

      // Assess
      expect(started).toEqual({ update_id: 'u-9' });
      expect(JSON.parse(fake.apiRequests()[0]?.body ?? '')).toEqual({
        full_refresh: false,
        cause: 'API_CALL',
      });
    });

    it('treats a 409 from a pipeline start as success when the pipeline already runs', async () => {
      // Prepare
      fake = await startFake((req) => {
        if (req.path === `${WS}/api/2.0/pipelines/p-1/updates`) {
          return {
            status: 409,
            body: { error_code: 'RESOURCE_CONFLICT', message: 'An active update exists' },
          };
        }
        if (req.path === `${WS}/api/2.0/pipelines/p-1`) {
          return {
            status: 200,
            body: {
              pipeline_id: 'p-1',
              state: 'RUNNING',
              latest_updates: [{ update_id: 'u-live', state: 'RUNNING' }],
            },
          };
        }
        return undefined;
      });
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const started = await ws.startPipelineUpdate('p-1');

      // Assess
      expect(started).toEqual({ update_id: 'u-live' });
    });

    it('keeps the conflict when the pipeline is idle', async () => {
      // Prepare
      fake = await startFake((req) => {
        if (req.path === `${WS}/api/2.0/pipelines/p-1/updates`) {
          return { status: 409, body: { error_code: 'RESOURCE_CONFLICT', message: 'conflict' } };
        }
        if (req.path === `${WS}/api/2.0/pipelines/p-1`)
          return { status: 200, body: { pipeline_id: 'p-1', state: 'IDLE' } };
        return undefined;
      });
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      const error = await thrown(() => ws.startPipelineUpdate('p-1'));

      // Assess
      expect(error.status).toBe(409);
    });
  });

  describe('paths', () => {
    it('calls each account endpoint at its documented path', async () => {
      // Prepare
      fake = await startFake((req) => {
        if (req.path.endsWith('/v1/token')) return undefined;
        if (req.path.endsWith('/customer-managed-keys') || req.path.endsWith('/workspaces'))
          return { status: 200, body: [] };
        return { status: 200, body: {} };
      });
      const account = clientFor(fake).account;

      // Act
      await account.listKeyConfigs();
      await account.getKeyConfig('cmk-1');
      await account.deleteKeyConfig('cmk-1');
      await account.listWorkspaces();
      await account.getCredential('cred-1');

      // Assess
      const prefix = `/api/2.0/accounts/${ACCOUNT_ID}`;
      expect(fake.apiRequests().map((r) => `${r.method} ${r.path}`)).toEqual([
        `GET ${prefix}/customer-managed-keys`,
        `GET ${prefix}/customer-managed-keys/cmk-1`,
        `DELETE ${prefix}/customer-managed-keys/cmk-1`,
        `GET ${prefix}/workspaces`,
        `GET ${prefix}/credentials/cred-1`,
      ]);
    });

    it('calls each workspace endpoint at its documented path and API version', async () => {
      // Prepare
      fake = await startFake((req) =>
        req.path.endsWith('/v1/token') ? undefined : { status: 200, body: {} },
      );
      const ws = clientFor(fake).workspace('acme-prod');

      // Act
      await ws.getCluster('c-1');
      await ws.listInstancePools();
      await ws.getInstancePool('pool-1');
      await ws.getWarehouse('w-1');
      await ws.startWarehouse('w-1');
      await ws.getRun(901);
      await ws.getPipeline('p-1');

      // Assess
      expect(fake.apiRequests().map((r) => `${r.method} ${r.path.slice(WS.length)}?${r.query}`)).toEqual([
        'GET /api/2.1/clusters/get?cluster_id=c-1',
        'GET /api/2.0/instance-pools/list?',
        'GET /api/2.0/instance-pools/get?instance_pool_id=pool-1',
        'GET /api/2.0/sql/warehouses/w-1?',
        'POST /api/2.0/sql/warehouses/w-1/start?',
        'GET /api/2.2/jobs/runs/get?run_id=901',
        'GET /api/2.0/pipelines/p-1?',
      ]);
    });

    it('refuses a deployment name that is not a host label', async () => {
      // Prepare
      fake = await startFake();
      const client = clientFor(fake);

      // Act
      const error = await thrown(async () => client.workspace('evil.com/x'));

      // Assess
      expect(error).toBeInstanceOf(InvalidInput);
    });
  });
});
