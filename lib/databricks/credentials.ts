import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import type { SdkClient } from '../aws/clients.ts';
import { RotatorError } from '../errors.ts';

/** The Databricks service principal's OAuth M2M credentials. Never log or return them. */
export interface ServicePrincipalCredentials {
  clientId: string;
  clientSecret: string;
}

/** The credentials secret is missing, unreadable or not `{"client_id": …, "client_secret": …}`. */
export class InvalidCredentialsSecret extends RotatorError {}

const SecretSchema = z.object({ client_id: z.string().min(1), client_secret: z.string().min(1) });

const cache = new Map<string, Promise<ServicePrincipalCredentials>>();

/**
 * Reads the service principal's credentials from Secrets Manager, once per container and secret ARN.
 * Errors name the secret ARN and the missing field, never the value.
 */
export function loadCredentials(
  secretsManager: SdkClient,
  secretArn: string,
): Promise<ServicePrincipalCredentials> {
  let pending = cache.get(secretArn);
  if (!pending) {
    pending = fetchCredentials(secretsManager, secretArn);
    cache.set(secretArn, pending);
    // A failed read is not cached: the next invocation tries again.
    pending.catch(() => cache.delete(secretArn));
  }
  return pending;
}

/** Forget cached credentials (tests, secret rotation). */
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
