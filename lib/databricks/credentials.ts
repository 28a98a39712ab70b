import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { SdkClient } from '../aws/clients.ts';
import { clock } from '../clock.ts';
import { RotatorError } from '../errors.ts';
import { currentContainer } from '../invocation.ts';
import * as z from '../zod.ts';

/** The Databricks service principal's OAuth M2M credentials. Never log or return them. */
export interface ServicePrincipalCredentials {
  clientId: string;
  clientSecret: string;
}

/** The credentials secret is missing, unreadable or not `{"client_id": …, "client_secret": …}`. */
export class InvalidCredentialsSecret extends RotatorError {}

const SecretSchema = z.object({
  client_id: z.string().check(z.minLength(1)),
  client_secret: z.string().check(z.minLength(1)),
});

/**
 * How long a read secret is used before Secrets Manager is asked again (run clock). A rotated client secret
 * is picked up within this time without a redeploy, or at once after Databricks refuses the old one
 * (`forgetCredentials`).
 */
export const CREDENTIALS_TTL_MS = 5 * 60_000;

interface CacheEntry {
  pending: Promise<ServicePrincipalCredentials>;
  /** Run-clock ms when the read started. */
  readAt: number;
  /** Callers served from this entry after the one that read it. */
  hits: number;
}

/** By container (lib/invocation.ts) and secret ARN. */
const cache = new Map<string, CacheEntry>();
const cacheKey = (secretArn: string) => `${currentContainer()}|${secretArn}`;

/**
 * Reads the service principal's credentials from Secrets Manager, at most once per `CREDENTIALS_TTL_MS`
 * (on the run's `clock()`) per container and secret ARN; concurrent callers share one read.
 * Errors name the secret ARN and the missing field, never the value.
 */
export function loadCredentials(
  secretsManager: SdkClient,
  secretArn: string,
): Promise<ServicePrincipalCredentials> {
  const now = clock().now();
  const key = cacheKey(secretArn);
  const cached = cache.get(key);
  // A clock that went back (another run's virtual clock) also expires the entry.
  if (cached && now >= cached.readAt && now - cached.readAt < CREDENTIALS_TTL_MS) {
    cached.hits += 1;
    return cached.pending;
  }
  const entry: CacheEntry = { pending: fetchCredentials(secretsManager, secretArn), readAt: now, hits: 0 };
  cache.set(key, entry);
  // A failed read is not cached: the next call tries again.
  entry.pending.catch(() => {
    if (cache.get(key) === entry) cache.delete(key);
  });
  return entry.pending;
}

/**
 * Drops the cached credentials of `secretArn` after Databricks refused them or a token made from them (a
 * client secret rotated in Secrets Manager is then read on the next use). Returns whether what was dropped
 * had been served from the cache, i.e. may have been stale: worth one more try with a fresh read.
 */
export function forgetCredentials(secretArn: string): boolean {
  const key = cacheKey(secretArn);
  const cached = cache.get(key);
  if (!cached) return false;
  cache.delete(key);
  return cached.hits > 0;
}

/** Forget all cached credentials (tests, local runner between scenarios). */
export function clearCredentialsCache(): void {
  cache.clear();
}

async function fetchCredentials(
  secretsManager: SdkClient,
  secretArn: string,
): Promise<ServicePrincipalCredentials> {
  let secretString: unknown;
  try {
    const out = await secretsManager.send(new GetSecretValueCommand({ SecretId: secretArn }));
    secretString = out?.SecretString;
  } catch (error) {
    const name = (error as { name?: string }).name ?? 'Error';
    throw new InvalidCredentialsSecret(
      `cannot read the Databricks credentials secret ${secretArn}: ${name}. Check that it exists and that this function's role may call secretsmanager:GetSecretValue on it.`,
      { details: { secretArn, awsError: name } },
    );
  }
  if (typeof secretString !== 'string') {
    throw new InvalidCredentialsSecret(`the Databricks credentials secret ${secretArn} has no SecretString`, {
      details: { secretArn },
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(secretString);
  } catch {
    throw new InvalidCredentialsSecret(
      `the Databricks credentials secret ${secretArn} is not JSON; expected {"client_id": "…", "client_secret": "…"}`,
      { details: { secretArn } },
    );
  }
  const parsed = SecretSchema.safeParse(json);
  if (!parsed.success) {
    const field = String(parsed.error.issues[0]?.path[0] ?? 'client_id');
    throw new InvalidCredentialsSecret(
      `the Databricks credentials secret ${secretArn} lacks a non-empty "${field}"; expected {"client_id": "…", "client_secret": "…"}`,
      { details: { secretArn, field } },
    );
  }
  return { clientId: parsed.data.client_id, clientSecret: parsed.data.client_secret };
}
