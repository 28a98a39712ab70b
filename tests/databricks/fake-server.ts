import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../lib/clock.ts';

/** A request as the fake server saw it. */
export interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What the fake answers: a status with a JSON (or raw string) body, or a dropped connection. */
export type Reply = { status: number; body?: unknown; headers?: Record<string, string> } | 'drop';

export interface FakeServer {
  url: string;
  /** Every request, in arrival order (token requests included). */
  seen: Seen[];
  /** Requests to any OAuth token endpoint. */
  tokenRequests(): Seen[];
  /** Requests other than token requests. */
  apiRequests(): Seen[];
  close(): Promise<void>;
}

/**
 * A tiny Databricks stand-in for exact control over answers. `handle` decides each reply; requests it leaves
 * unanswered (`undefined`) to a token endpoint get a fresh token `tok-<n>` (1 h), anything else 404.
 */
export async function startFake(
  handle: (req: Seen) => Reply | undefined = () => undefined,
): Promise<FakeServer> {
  const seen: Seen[] = [];
  let tokens = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const request: Seen = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(request);
      let reply = handle(request);
      if (reply === undefined && isToken(request.path)) {
        tokens += 1;
        reply = {
          status: 200,
          body: { access_token: `tok-${tokens}`, token_type: 'Bearer', expires_in: 3600 },
        };
      }
      reply ??= { status: 404, body: { error_code: 'NOT_FOUND', message: `no route ${request.path}` } };
      if (reply === 'drop') {
        req.socket.destroy();
        return;
      }
      const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
      res.writeHead(reply.status, { 'Content-Type': 'application/json', ...reply.headers });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    tokenRequests: () => seen.filter((r) => isToken(r.path)),
    apiRequests: () => seen.filter((r) => !isToken(r.path)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function isToken(path: string): boolean {
  return path.endsWith('/v1/token');
}

/** A clock the test drives: `sleep` records the wait and jumps time forward instantly. */
export function fakeClock(
  start = 1_700_000_000_000,
): Clock & { sleeps: number[]; advance(ms: number): void } {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}
