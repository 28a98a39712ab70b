import { afterEach, describe, expect, it } from 'vitest';
import { kmsClient } from '../../lib/aws/kms.ts';
import { replaceAwsClient, type SdkClient, setAwsClients } from '../../lib/aws/shared.ts';
import { snsClient } from '../../lib/aws/sns.ts';

const stub = (): SdkClient => ({ send: async () => ({}) });

describe('lib/aws: the shared clients', () => {
  afterEach(() => {
    replaceAwsClient('kms', undefined);
    replaceAwsClient('sns', undefined);
  });

  it('creates a real client once per container, on first use', () => {
    // Act
    const first = kmsClient();
    // Assess
    expect(first.constructor.name).toBe('KMSClient');
    expect(kmsClient()).toBe(first);
  });

  it('answers with the client given to setAwsClients, and keeps the others', () => {
    // Prepare
    const kms = stub();
    const sns = stub();
    // Act
    setAwsClients({ kms });
    setAwsClients({ sns, kms: undefined });
    // Assess: a client left out or undefined keeps the one set before
    expect(kmsClient()).toBe(kms);
    expect(snsClient()).toBe(sns);
  });

  it('goes back to the real client when the replacement is withdrawn', () => {
    // Prepare
    const real = kmsClient();
    setAwsClients({ kms: stub() });
    // Act
    replaceAwsClient('kms', undefined);
    // Assess
    expect(kmsClient()).toBe(real);
  });
});
