import { afterEach, describe, expect, it } from 'vitest';
import { type FakeServer, type Seen, startFake } from './fake-server.ts';
import { CLIENT_ID, CLIENT_SECRET, clientFor, thrown, useFakeClock } from './setup.ts';

const TOKEN = 'tok-very-private-access-token';
const BASIC = Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64');

/** Every way the error could leak: message, stack, JSON, details, and its own enumerable fields. */
function everythingIn(error: Error & Record<string, unknown>): string {
  return [
    error.message,
    error.stack ?? '',
    JSON.stringify(error),
    JSON.stringify(error.details),
    JSON.stringify({ ...error }),
  ].join('\n');
}

describe('DatabricksClient: secrets stay out of errors', () => {
  useFakeClock();
  let fake: FakeServer;
  afterEach(() => fake.close());

  const token = (req: Seen) =>
    req.path.endsWith('/v1/token')
      ? { status: 200, body: { access_token: TOKEN, expires_in: 3600 } }
      : undefined;

  it.each([
    [
      'a refused token request',
      (req: Seen) =>
        req.path.endsWith('/v1/token')
          ? {
              status: 401,
              body: { error: 'invalid_client', error_description: `bad secret ${CLIENT_SECRET} (${BASIC})` },
            }
          : undefined,
    ],
    [
      'a 401 that echoes the token',
      (req: Seen) =>
        token(req) ?? {
          status: 401,
          body: { error_code: 'UNAUTHENTICATED', message: `token ${TOKEN} rejected` },
        },
    ],
    [
      'a 500 that echoes the Authorization header',
      (req: Seen) =>
        token(req) ?? { status: 500, body: { error_code: 'INTERNAL_ERROR', message: `Bearer ${TOKEN}` } },
    ],
    ['a dropped connection', (req: Seen) => token(req) ?? ('drop' as const)],
  ])('keeps the client secret and the token out of %s', async (_, handle) => {
    // Prepare
    fake = await startFake(handle);
    const client = clientFor(fake, { maxAttempts: 2 });

    // Act
    const error = await thrown(() => client.workspace('acme-prod').getCluster('c-1'));

    // Assess
    const text = everythingIn(error);
    expect(error.name).toMatch(/^Databricks/);
    expect(text).not.toContain(CLIENT_SECRET);
    expect(text).not.toContain(BASIC);
    expect(text).not.toContain(TOKEN);
    expect(error.cause).toBeUndefined();
  });
});
