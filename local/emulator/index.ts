import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type EmulatorClock, SimClock } from '../clock.ts';
import type { Scenario } from '../scenario.ts';
import { AccountModel } from './account-model.ts';
import { HttpFrontend } from './server.ts';
import type { ComputeStart } from './sim.ts';
import { Sim } from './sim.ts';

export type { CallLogEntry } from './server.ts';
export type { ComputeStart } from './sim.ts';

/** A running emulator (see local/emulator/README.md). */
export interface StartedEmulator {
  /** `http://127.0.0.1:PORT`: the Account API and its OIDC endpoints at the root. */
  url: string;
  /** Same as `url`: what the product's DATABRICKS_ACCOUNTS_HOST should be. */
  accountsHost: string;
  /** `${url}/ws/{deployment_name}`: the Workspace API of each workspace under a path prefix. */
  workspaceUrlTemplate: string;
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
  close(): Promise<void>;
}

/**
 * Starts the Databricks emulator for `scenario` on 127.0.0.1 (`port` 0 = any free port). Time runs on
 * `clock` (or a new SimClock at `timeScale`, default the scenario's, else 600).
 */
export async function startEmulator(
  scenario: Scenario,
  options: { port?: number; timeScale?: number; clock?: EmulatorClock } = {},
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
  const server = createServer(frontend.listener);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    accountsHost: url,
    workspaceUrlTemplate: `${url}/ws/{deployment_name}`,
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
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
