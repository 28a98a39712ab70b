import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import type { SdkClient } from '../aws/clients.ts';
import {
  fromKmsError,
  KeyDisabled,
  KeyInvalidState,
  KeyNotFound,
  KeyNotSymmetric,
  KeyRegionMismatch,
  KeyWrongUsage,
} from './errors.ts';

/** What the product needs to know about a KMS key (from `DescribeKey`). */
export interface KeyFacts {
  keyId: string;
  arn: string;
  region: string;
  /** KMS `KeyState`: Enabled, Disabled, PendingDeletion, PendingImport, Unavailable, … */
  state: string;
  keySpec: string;
  keyUsage: string;
  origin?: string;
}

/**
 * The AWS partitions, as an ARN spells them: a made-up one (`arn:awsfoo:`) is not a KMS ARN, so it is refused
 * as malformed input instead of being sent to KMS.
 */
export const AWS_PARTITION = 'aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc';

const KMS_ARN = new RegExp(`^arn:(${AWS_PARTITION}):kms:([a-z0-9-]+):(\\d{12}):(key|alias)\\/(.+)$`);

/** The parts of a KMS key or alias ARN, or `undefined` when `arn` is neither. */
export function parseKmsArn(
  arn: string,
): { partition: string; region: string; accountId: string; kind: 'key' | 'alias'; name: string } | undefined {
  const m = KMS_ARN.exec(arn);
  if (!m) return undefined;
  const [, partition, region, accountId, kind, name] = m;
  return {
    partition: partition as string,
    region: region as string,
    accountId: accountId as string,
    kind: kind as 'key' | 'alias',
    name: name as string,
  };
}

/** True for a KMS key ARN (`arn:aws:kms:<region>:<account>:key/<id>`), not an alias ARN. */
export function isKeyArn(value: string): boolean {
  return parseKmsArn(value)?.kind === 'key';
}

/**
 * The region of a KMS key ARN. Databricks infers a key's region from its ARN, so this is the region the
 * key must share with the workspace.
 */
export function keyRegion(arn: string): string {
  const parsed = parseKmsArn(arn);
  if (!parsed) throw new KeyNotFound(`"${arn}" is not a KMS key ARN`, { details: { keyId: arn } });
  return parsed.region;
}

/** The key id of a KMS key ARN (`…:key/<id>` → `<id>`). */
export function keyIdOf(arn: string): string {
  const parsed = parseKmsArn(arn);
  return parsed?.kind === 'key' ? parsed.name : arn;
}

/**
 * Describes a key by key id, key ARN, alias name (`alias/x`) or alias ARN. KMS errors become the named
 * key errors of `./errors.ts` (`KeyNotFound`, `KmsAccessDenied`, `KmsThrottled`, …).
 */
export async function describeKey(kms: SdkClient, keyIdArnOrAlias: string): Promise<KeyFacts> {
  let out: { KeyMetadata?: Record<string, unknown> } | undefined;
  try {
    out = await kms.send(new DescribeKeyCommand({ KeyId: keyIdArnOrAlias }));
  } catch (error) {
    throw fromKmsError(error, { keyId: keyIdArnOrAlias, operation: 'DescribeKey' });
  }
  const meta = out?.KeyMetadata;
  const arn = typeof meta?.Arn === 'string' ? meta.Arn : undefined;
  if (!meta || !arn) {
    throw new KeyNotFound(`KMS DescribeKey returned no metadata for ${keyIdArnOrAlias}`, {
      details: { keyId: keyIdArnOrAlias },
    });
  }
  return {
    keyId: typeof meta.KeyId === 'string' ? meta.KeyId : keyIdOf(arn),
    arn,
    region: keyRegion(arn),
    state: String(meta.KeyState ?? (meta.Enabled === false ? 'Disabled' : 'Enabled')),
    keySpec: String(meta.KeySpec ?? meta.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT'),
    keyUsage: String(meta.KeyUsage ?? 'ENCRYPT_DECRYPT'),
    ...(typeof meta.Origin === 'string' ? { origin: meta.Origin } : {}),
  };
}

/**
 * The reason a key cannot protect a Databricks workspace in `workspaceRegion`, or `undefined` when it can:
 * Databricks needs an enabled symmetric `ENCRYPT_DECRYPT` key in the workspace's own region.
 */
export function keyUnusableReason(key: KeyFacts, workspaceRegion: string): Error | undefined {
  const details = { keyArn: key.arn, keyState: key.state, workspaceRegion };
  if (key.state === 'Disabled') {
    return new KeyDisabled(
      `KMS key ${key.arn} is disabled; enable it (kms:EnableKey) or choose another key before rotating to it`,
      { details },
    );
  }
  if (key.state !== 'Enabled') {
    return new KeyInvalidState(
      `KMS key ${key.arn} is in state ${key.state}, not Enabled; cancel its deletion, import its key material or choose another key`,
      { details },
    );
  }
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') {
    return new KeyNotSymmetric(
      `KMS key ${key.arn} has key spec ${key.keySpec}; Databricks needs a symmetric key (SYMMETRIC_DEFAULT)`,
      { details: { ...details, keySpec: key.keySpec } },
    );
  }
  if (key.keyUsage !== 'ENCRYPT_DECRYPT') {
    return new KeyWrongUsage(
      `KMS key ${key.arn} has key usage ${key.keyUsage}; Databricks needs ENCRYPT_DECRYPT`,
      { details: { ...details, keyUsage: key.keyUsage } },
    );
  }
  if (key.region !== workspaceRegion) {
    return new KeyRegionMismatch(
      `KMS key ${key.arn} is in ${key.region} but the workspace is in ${workspaceRegion}; use a key (or a multi-Region replica) in ${workspaceRegion}`,
      { details: { ...details, keyRegion: key.region } },
    );
  }
  return undefined;
}

/** Throws the named key error (`KeyDisabled`, `KeyInvalidState`, `KeyNotSymmetric`, `KeyWrongUsage`, `KeyRegionMismatch`) unless the key is usable. */
export function assertKeyUsable(key: KeyFacts, workspaceRegion: string): void {
  const reason = keyUnusableReason(key, workspaceRegion);
  if (reason) throw reason;
}
