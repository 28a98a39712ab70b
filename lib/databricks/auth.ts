import { clock } from '../clock.ts';
import { DatabricksAuthError } from './errors.ts';

/** A freshly issued OAuth access token and its lifetime. */
export interface IssuedToken {
  accessToken: string;
  /** `expires_in` from the token response, in seconds. */
  expiresInSeconds: number;
}

/** Refresh this long before expiry at most (the SDK's margin too). */
const MAX_REFRESH_MARGIN_MS = 5 * 60_000;

/** OAuth `error` codes with which a token endpoint refuses the client's credentials (RFC 6749 §5.2). */
const REFUSED_CLIENT = new Set(['invalid_client', 'unauthorized_client']);

/**
 * Whether `error` is the token endpoint refusing the client credentials: 401, or 400 `invalid_client` /
 * `unauthorized_client` (a throttled token request is retried by the transport and never lands here).
 */
export function isCredentialsRefusal(error: unknown): boolean {
  if (!(error instanceof DatabricksAuthError)) return false;
  return error.status === 401 || (error.status === 400 && REFUSED_CLIENT.has(error.errorCode.toLowerCase()));
}

export interface TokenCacheOptions {
  /**
   * Called when Databricks refused a token (the API answered 401 to the cached token) or the client
   * credentials (the token endpoint refused them): drop the cached client secret so the next token is
   * issued with what Secrets Manager holds now. Returns `true` when what it dropped may have been stale
   * (it was served from a cache): the token request is then tried once more at once.
   */
  onAuthFailure?: () => boolean | undefined;
}

/**
 * One host's OAuth token: cached until shortly before it expires (5 minutes, or 10% of its lifetime when
 * that is shorter), and fetched once for all concurrent callers — the token endpoint throttles, so a token
 * per call would be both slow and fragile. Expiry runs on the run's `clock()`. An auth failure drops the
 * token and (through `onAuthFailure`) the cached client secret, so a rotated secret is picked up.
 */
export class TokenCache {
  private token: { value: string; refreshAt: number } | undefined;
  private inFlight: Promise<string> | undefined;

  constructor(
    private readonly issue: () => Promise<IssuedToken>,
    private readonly options: TokenCacheOptions = {},
  ) {}

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
   * Drops `rejected` after the API answered 401 to it, and the cached client secret with it. A token another
   * caller already replaced is kept, so concurrent 401s cause one refresh (and one secret read), not one each.
   */
  invalidate(rejected: string): void {
    if (this.token?.value !== rejected) return;
    this.token = undefined;
    this.options.onAuthFailure?.();
  }

  private async fetch(): Promise<string> {
    const issuedAt = clock().now();
    const { accessToken, expiresInSeconds } = await this.issueOnce();
    const lifetimeMs = Math.max(0, expiresInSeconds * 1000);
    const margin = Math.min(MAX_REFRESH_MARGIN_MS, lifetimeMs / 10);
    this.token = { value: accessToken, refreshAt: issuedAt + lifetimeMs - margin };
    return accessToken;
  }

  /**
   * One token request; when the token endpoint refuses the client credentials, the token and the cached
   * secret are dropped, and the request is tried once more if the refused secret came from a cache (it may
   * have been rotated since). The error of a second refusal is thrown as it is.
   */
  private async issueOnce(): Promise<IssuedToken> {
    try {
      return await this.issue();
    } catch (error) {
      if (!isCredentialsRefusal(error)) throw error;
      this.token = undefined;
      if (this.options.onAuthFailure?.() !== true) throw error;
    }
    try {
      return await this.issue();
    } catch (error) {
      if (isCredentialsRefusal(error)) this.options.onAuthFailure?.();
      throw error;
    }
  }
}
