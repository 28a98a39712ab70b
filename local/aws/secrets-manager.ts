import { createHash } from 'node:crypto';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { SdkClient } from '../../lib/aws/clients.ts';
import { awsError } from './faults.ts';

/**
 * The ARN Secrets Manager gives a secret: its name, `-`, and 6 random characters that make the ARN of a
 * re-created secret differ from the deleted one's (Secrets Manager API reference, CreateSecret `ARN`). The
 * stand-in derives the 6 characters from the name, so a scenario's secret has the same ARN on every run,
 * and the local runner configures the product with this ARN.
 */
export function secretArn(name: string, accountId: string, region: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const digest = createHash('sha256').update(name).digest();
  const suffix = [...digest.subarray(0, 6)].map((b) => alphabet[b % alphabet.length]).join('');
  return `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${suffix}`;
}

/**
 * A stand-in for Secrets Manager's `GetSecretValue` in one account and region, behind the SDK client's
 * `send(command)`. It finds a secret as Secrets Manager does (API reference, GetSecretValue `SecretId`):
 * - by its name;
 * - by its complete ARN, which ends in the secret's own `-` + 6 characters (`secretArn`);
 * - by a partial ARN, without those 7 characters — unless the name part itself ends in `-` and 6
 *   characters: "those characters cause Secrets Manager to assume that you're specifying a complete ARN";
 * and nothing else: a complete ARN with another suffix, a name with the suffix, an ARN of another region
 * or account are `ResourceNotFoundException` ("If you do include the random suffix added by Secrets
 * Manager, you receive either a ResourceNotFoundException or an AccessDeniedException error"). moto 5
 * answers the same, except that it also resolves a partial ARN whose name ends in `-` + 6 characters.
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

  /** The complete ARN of the stand-in's secret `name`. */
  arnOf(name: string): string {
    return secretArn(name, this.accountId, this.region);
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
      throw awsError(
        'secretsManager',
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret.",
      );
    }
    const value = this.secrets.get(name);
    return {
      ARN: this.arnOf(name),
      Name: name,
      VersionId: '00000000-0000-4000-8000-000000000001',
      SecretString: typeof value === 'string' ? value : JSON.stringify(value),
      VersionStages: ['AWSCURRENT'],
      CreatedDate: new Date(0),
      $metadata: { httpStatusCode: 200 },
    };
  }

  private nameOf(secretId: string): string | undefined {
    const arn = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/.exec(secretId);
    if (!arn) return this.secrets.has(secretId) ? secretId : undefined;
    const [, region, account, namePart = ''] = arn;
    if (region !== this.region || account !== this.accountId) return undefined;
    const complete = [...this.secrets.keys()].find((name) => this.arnOf(name) === secretId);
    if (complete !== undefined) return complete;
    if (/-[A-Za-z0-9]{6}$/.test(namePart)) return undefined;
    return this.secrets.has(namePart) ? namePart : undefined;
  }
}
