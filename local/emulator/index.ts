import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type EmulatorClock, SimClock } from '../clock.ts';
import type { Scenario } from '../scenario.ts';
import { AccountModel } from './account-model.ts';
import { HttpFrontend } from './server.ts';
import type { ComputeStart, WorkspaceUpdate } from './sim.ts';
import { Sim } from './sim.ts';

export type { CallLogEntry } from './server.ts';
export type { ComputeStart, WorkspaceUpdate } from './sim.ts';

/** A running emulator (see local/emulator/README.md). */
export interface StartedEmulator {
  /** `http://127.0.0.1:PORT`: the Account API and its OIDC endpoints at the root. */
  url: string;
  /** Same as `url`: what the product's DATABRICKS_ACCOUNTS_HOST should be. */
  accountsHost: string;
  /** `${url}/ws/{deployment_name}`: the Workspace API of each workspace under a path prefix. */
  workspaceUrlTemplate: string;
  /**
   * With `workspaceHosts`: deployment name → `http://127.0.0.1:PORT`, an origin of its own per workspace, as
   * on Databricks (where the SDKs keep only the origin of a host: a `/ws/…` prefix is dropped). Else empty.
   */
  workspaceHosts: Record<string, string>;
  clock: EmulatorClock;
  /**
   * The same API in process, as a `fetch` function for `url`'s host and the workspace URLs (no socket: the
   * local runner uses it, so virtual time sees each request from start to answer).
   */
  fetch: typeof fetch;
  /** Every request so far, in arrival order (a copy). */
  callLog(): import('./server.ts').CallLogEntry[];
  /** Current values, in the shape of the scenario's `databricks` section. */
  state(): { keyConfigs: unknown[]; workspaces: unknown[] };
  /**
   * Platform timings drawn for a workspace (for the report's platformMinimumSeconds): slowest
   * terminate/stop/release of what was running at start, workspace update time, slowest start.
   */
  platformTimings(workspaceId: number): {
    slowestStopSeconds: number;
    workspaceUpdateSeconds: number;
    slowestStartSeconds: number;
  };
  /** Compute started so far, by an API call or by an injected fault, with simulated time. */
  computeStarts(): ComputeStart[];
  /**
   * Every workspace update so far (a PATCH that changed something): when it was accepted and, once it is
   * over, when it ended and how, in simulated time. An update still running has no `endedAt`.
   */
  workspaceUpdates(): WorkspaceUpdate[];
  close(): Promise<void>;
}

/**
 * Starts the Databricks emulator for `scenario` on 127.0.0.1 (`port` 0 = any free port). Time runs on
 * `clock` (or a new SimClock at `timeScale`, default the scenario's, else 600). `workspaceHosts` also gives
 * every workspace a listener of its own: on `port + 1`, `port + 2`, … in scenario order when `port` is set,
 * else on free ports.
 */
export async function startEmulator(
  scenario: Scenario,
  options: { port?: number; timeScale?: number; clock?: EmulatorClock; workspaceHosts?: boolean } = {},
): Promise<StartedEmulator> {
  const clock = options.clock ?? new SimClock({ timeScale: options.timeScale ?? scenario.timeScale ?? 600 });
  const sim = new Sim(clock, scenario.databricks.seed, scenario.databricks.timings);
  sim.catchUp();
  const account = new AccountModel(sim, scenario);
  const timings = new Map(
    [...account.workspaces.values()].map((w) => [
      w.id,
      { ...w.compute.platformTimings(), workspaceUpdateSeconds: sim.peek('workspaceUpdate', String(w.id)) },
    ]),
  );
  const frontend = new HttpFrontend(scenario, account, sim, clock);
  const servers: Server[] = [];
  const port = await listen(servers, frontend.listener, options.port ?? 0);
  const url = `http://127.0.0.1:${port}`;
  const workspaceHosts: Record<string, string> = {};
  if (options.workspaceHosts) {
    try {
      let next = options.port ? options.port + 1 : 0;
      for (const w of account.workspaces.values()) {
        const own = await listen(servers, frontend.listenerFor(w.deployment), next);
        workspaceHosts[w.deployment] = `http://127.0.0.1:${own}`;
        if (next !== 0) next++;
      }
    } catch (error) {
      await closeAll(servers);
      throw error;
    }
  }
  return {
    url,
    accountsHost: url,
    workspaceUrlTemplate: `${url}/ws/{deployment_name}`,
    workspaceHosts,
    clock,
    fetch: frontend.fetch as typeof fetch,
    callLog: () => frontend.log.map((e) => ({ ...e })),
    state: () => {
      sim.catchUp();
      return account.state();
    },
    platformTimings: (workspaceId) => {
      const t = timings.get(workspaceId);
      if (!t) throw new RangeError(`workspace ${workspaceId} is not in the scenario`);
      return { ...t };
    },
    computeStarts: () => {
      sim.catchUp();
      return sim.starts.map((s) => ({ ...s }));
    },
    workspaceUpdates: () => {
      sim.catchUp();
      return sim.updates.map((u) => ({ ...u, changes: structuredClone(u.changes) }));
    },
    close: () => closeAll(servers),
  };
}

/** A `node:http` server for `listener` on 127.0.0.1:`port` (0 = any free port); adds it to `servers`. */
async function listen(
  servers: Server[],
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  port: number,
): Promise<number> {
  const server = createServer(listener);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

function closeAll(servers: Server[]): Promise<void> {
  return Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
          server.closeAllConnections();
        }),
    ),
  ).then(() => undefined);
}
