import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { SdkClient } from '../../lib/aws/clients.ts';
import { awsError } from './faults.ts';

/**
 * An in-memory stand-in for the S3 calls of the snapshot store (PutObject with `If-None-Match: *`,
 * GetObject, DeleteObject), behind the SDK client's `send(command)`, with S3's own answers: a conditional
 * put of an existing key is `412 PreconditionFailed`, a missing key `NoSuchKey` (404 — the product's roles
 * hold s3:ListBucket, without which S3 answers 403), a delete of a missing key succeeds. Calls are
 * atomic here, so the `409 ConditionalRequestConflict` S3 answers a conditional write racing another write
 * of the same key only comes from a scenario fault (`aws.faults`, service `s3`; `awsError`).
 */
export class LocalS3 implements SdkClient {
  private readonly objects = new Map<string, string>();

  // biome-ignore lint/suspicious/noExplicitAny: the SDK client's `send` is untyped at this seam.
  async send(command: any): Promise<any> {
    const input = command.input as { Bucket: string; Key: string; Body?: unknown; IfNoneMatch?: string };
    const id = `${input.Bucket}/${input.Key}`;
    if (command instanceof PutObjectCommand) {
      if (input.IfNoneMatch === '*' && this.objects.has(id)) {
        throw awsError(
          's3',
          'PreconditionFailed',
          'At least one of the pre-conditions you specified did not hold',
        );
      }
      this.objects.set(id, String(input.Body ?? ''));
      return { $metadata: { httpStatusCode: 200 } };
    }
    if (command instanceof GetObjectCommand) {
      const text = this.objects.get(id);
      if (text === undefined) {
        throw awsError('s3', 'NoSuchKey', 'The specified key does not exist.');
      }
      return { Body: { transformToString: async () => text }, $metadata: { httpStatusCode: 200 } };
    }
    if (command instanceof DeleteObjectCommand) {
      this.objects.delete(id);
      return { $metadata: { httpStatusCode: 204 } };
    }
    throw new Error(`the local S3 stand-in does not implement ${command?.constructor?.name}`);
  }

  /** The keys stored (tests). */
  keys(): string[] {
    return [...this.objects.keys()];
  }
}
