import {
  DeleteObjectCommand,
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { SdkClient } from '../../lib/aws/clients.ts';

/**
 * An in-memory stand-in for the S3 calls of the snapshot store (PutObject with `If-None-Match: *`,
 * GetObject, DeleteObject), behind the SDK client's `send(command)`, with S3's own answers: a conditional
 * put of an existing key is `412 PreconditionFailed`, a missing key `NoSuchKey` (404 — the product's roles
 * hold s3:ListBucket, without which S3 answers 403), a delete of a missing key succeeds.
 */
export class LocalS3 implements SdkClient {
  private readonly objects = new Map<string, string>();

  // biome-ignore lint/suspicious/noExplicitAny: the SDK client's `send` is untyped at this seam.
  async send(command: any): Promise<any> {
    const input = command.input as { Bucket: string; Key: string; Body?: unknown; IfNoneMatch?: string };
    const id = `${input.Bucket}/${input.Key}`;
    if (command instanceof PutObjectCommand) {
      if (input.IfNoneMatch === '*' && this.objects.has(id)) {
        throw new S3ServiceException({
          name: 'PreconditionFailed',
          $fault: 'client',
          $metadata: { httpStatusCode: 412 },
          message: 'At least one of the pre-conditions you specified did not hold',
        });
      }
      this.objects.set(id, String(input.Body ?? ''));
      return { $metadata: { httpStatusCode: 200 } };
    }
    if (command instanceof GetObjectCommand) {
      const text = this.objects.get(id);
      if (text === undefined) {
        throw new NoSuchKey({
          $metadata: { httpStatusCode: 404 },
          message: 'The specified key does not exist.',
        });
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
