import { clock } from '../clock.ts';

/** A freshly issued OAuth access token and its lifetime. */
export interface IssuedToken {
  accessToken: string;
  /** `expires_in` from the token response, in seconds. */
  expiresInSeconds: number;
}

/** Refresh this long before expiry at most (the SDK's margin too). */
const MAX_REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * One host's OAuth token: cached until shortly before it expires (5 minutes, or 10% of its lifetime when
 * that is shorter), and fetched once for all concurrent callers — the token endpoint throttles, so a token
 * per call would be both slow and fragile. Expiry runs on the run's `clock()`.
 */
export class TokenCache {
  private token: { value: string; refreshAt: number } | undefined;
  private inFlight: Promise<string> | undefined;

  constructor(private readonly issue: () => Promise<IssuedToken>) {}

  /** A valid token, fetching one only if none is cached or the cached one is due for refresh. */
  get(): Promise<string> {
    if (this.token && clock().now() < this.token.refreshAt) return Promise.resolve(this.token.value);
    if (!this.inFlight) {
      this.inFlight = this.fetch().finally(() => {
        this.inFlight = undefined;
      });
    }
    return this.inFlight;
  }

  /**
   * Drops `rejected` after the API answered 401 to it. A token another caller already replaced is kept, so
   * concurrent 401s cause one refresh, not one each.
   */
  invalidate(rejected: string): void {
    if (this.token?.value === rejected) this.token = undefined;
  }

  private async fetch(): Promise<string> {
    const issuedAt = clock().now();
    const { accessToken, expiresInSeconds } = await this.issue();
    const lifetimeMs = Math.max(0, expiresInSeconds * 1000);
    const margin = Math.min(MAX_REFRESH_MARGIN_MS, lifetimeMs / 10);
    this.token = { value: accessToken, refreshAt: issuedAt + lifetimeMs - margin };
    return accessToken;
  }
}
