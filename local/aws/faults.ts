import type { SdkClient } from '../../lib/aws/clients.ts';
import type { AwsFault } from '../scenario.ts';

/**
 * Fault injection for the AWS stand-ins (scenario `aws.faults`): wraps a client's `send(command)` so the
 * matching calls fail the way the SDK fails — an error whose `name` is the service's error code and whose
 * `$metadata.httpStatusCode` is the status — before the call, or after it took effect (`after`: a lost
 * response). Also used for Lambda faults of the runner (see `FaultPlan.take`).
 */
export class FaultPlan {
  private readonly faults: Array<AwsFault & { left: number; seen: number }>;

  constructor(faults: readonly AwsFault[]) {
    this.faults = faults.map((f) => ({ ...f, left: f.times, seen: 0 }));
  }

  /** The fault for this call, if one matches and has `times` left (consumed). */
  take(service: AwsFault['service'], operation: string): AwsFault | undefined {
    for (const f of this.faults) {
      if (f.service !== service || f.left <= 0) continue;
      if (f.operation !== undefined && f.operation !== operation) continue;
      f.seen++;
      if (f.seen <= f.skip) continue;
      f.left--;
      return f;
    }
    return undefined;
  }

  /** `client` with the faults of `service` applied to its calls. */
  wrap(service: AwsFault['service'], client: SdkClient): SdkClient {
    return {
      // biome-ignore lint/suspicious/noExplicitAny: the SDK client's `send` is untyped at this seam.
      send: async (command: any): Promise<any> => {
        const operation = String(command?.constructor?.name ?? '').replace(/Command$/, '');
        const fault = this.take(service, operation);
        if (!fault) return client.send(command);
        if (fault.after) await client.send(command);
        throw faultError(fault, `${service}.${operation}`);
      },
    };
  }
}

/** The error a fault raises: named like the service's error, with the HTTP status in `$metadata`. */
export function faultError(fault: AwsFault, where: string): Error {
  const status = fault.status ?? (/Throttl|SlowDown|TooManyRequests/i.test(fault.error ?? '') ? 429 : 500);
  const name = fault.error ?? (status >= 500 ? 'InternalError' : 'ClientError');
  const error = new Error(`Injected fault (scenario): ${where} fails with ${name} (HTTP ${status})`);
  error.name = name;
  Object.assign(error, {
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
  return error;
}
