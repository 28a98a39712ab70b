import { createHash } from 'node:crypto';
import { GetSecretValueCommand, ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import type { SdkClient } from '../../lib/aws/clients.ts';

/**
 * The ARN Secrets Manager gives a secret: its name plus a 6-character suffix. The suffix is derived from
 * the name so a scenario's secret has the same ARN on every run.
 */
export function secretArn(name: string, accountId: string, region: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const digest = createHash('sha256').update(name).digest();
  const suffix = [...digest.subarray(0, 6)].map((b) => alphabet[b % alphabet.length]).join('');
  return `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${suffix}`;
}

/**
 * A stand-in for Secrets Manager's `GetSecretValue`, behind the SDK client's `send(command)`. A secret is
 * found by name or by any ARN whose name part matches (with or without the random suffix), like the
 * real service; an unknown one raises the SDK's own `ResourceNotFoundException`.
 */
export class LocalSecretsManager implements SdkClient {
  private readonly secrets: Map<string, unknown>;
  private readonly accountId: string;
  private readonly region: string;

  constructor(
    secrets: Record<string, unknown>,
    options: { accountId: string; region: string } = { accountId: '111122223333', region: 'us-east-1' },
  ) {
    this.secrets = new Map(Object.entries(secrets));
    this.accountId = options.accountId;
    this.region = options.region;
  }

  // biome-ignore lint/suspicious/noExplicitAny: the SDK client's `send` is untyped at this seam.
  async send(command: any): Promise<any> {
    if (!(command instanceof GetSecretValueCommand)) {
      const name = (command as { constructor?: { name?: string } })?.constructor?.name ?? typeof command;
      throw new Error(`LocalSecretsManager does not support ${name}; it answers GetSecretValue`);
    }
    const secretId = command.input.SecretId ?? '';
    const name = this.nameOf(secretId);
    if (name === undefined) {
      throw new ResourceNotFoundException({
        message: "Secrets Manager can't find the specified secret.",
        $metadata: {},
      });
    }
    const value = this.secrets.get(name);
    return {
      ARN: secretArn(name, this.accountId, this.region),
      Name: name,
      VersionId: '00000000-0000-4000-8000-000000000001',
      SecretString: typeof value === 'string' ? value : JSON.stringify(value),
      VersionStages: ['AWSCURRENT'],
      CreatedDate: new Date(0),
      $metadata: {},
    };
  }

  private nameOf(secretId: string): string | undefined {
    if (this.secrets.has(secretId)) return secretId;
    const arn = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:(.+)$/.exec(secretId);
    if (!arn) return undefined;
    const namePart = arn[1] as string;
    if (this.secrets.has(namePart)) return namePart;
    const withoutSuffix = /^(.+)-[A-Za-z0-9]{6}$/.exec(namePart)?.[1];
    return withoutSuffix !== undefined && this.secrets.has(withoutSuffix) ? withoutSuffix : undefined;
  }
}
