import { describe, expect, it } from 'vitest';
import { parseErrorBody } from '../../lib/databricks/errors.ts';
import { buildUrl } from '../../lib/databricks/http.ts';
import { collectPages, mergeJobPages } from '../../lib/databricks/pagination.ts';
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  retryReason,
} from '../../lib/databricks/retry.ts';

describe('parseRetryAfter', () => {
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000);
  });

  it('reads an HTTP date relative to now', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
  });

  it('never returns a negative wait for a date in the past', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2020 00:00:00 GMT', Date.parse('2025-01-01T00:00:00Z'))).toBe(0);
  });

  it('ignores absent or unreadable values', () => {
    expect([parseRetryAfter(null, 0), parseRetryAfter('', 0), parseRetryAfter('soon', 0)]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe('backoffDelay', () => {
  it('stays within the doubling ceiling and the cap', () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8].map((retry) =>
      backoffDelay(retry, DEFAULT_RETRY_POLICY, () => 0.9999999),
    );
    expect(ceilings).toEqual([999, 1999, 3999, 7999, 15999, 31999, 59999, 59999]);
  });

  it('can wait not at all (full jitter)', () => {
    expect(backoffDelay(5, DEFAULT_RETRY_POLICY, () => 0)).toBe(0);
  });
});

describe('retryReason', () => {
  it('retries 429 and 503 whatever the call', () => {
    expect([retryReason(429, false), retryReason(503, false)]).toEqual(['throttled', 'unavailable']);
  });

  it('retries a network error or timeout only for idempotent calls (a PATCH answer may be lost)', () => {
    expect([retryReason(0, true), retryReason(0, false)]).toEqual(['unavailable', undefined]);
  });

  it('retries other 5xx only for idempotent calls', () => {
    expect([retryReason(500, true), retryReason(500, false), retryReason(504, false)]).toEqual([
      'unavailable',
      undefined,
      undefined,
    ]);
  });

  it('does not retry client errors', () => {
    expect([400, 401, 403, 404, 409].map((s) => retryReason(s, true))).toEqual(Array(5).fill(undefined));
  });
});

describe('parseErrorBody', () => {
  it('reads the API 2.x shape', () => {
    expect(parseErrorBody(400, '{"error_code":"INVALID_STATE","message":"busy"}')).toEqual({
      errorCode: 'INVALID_STATE',
      message: 'busy',
    });
  });

  it('reads the OAuth shape', () => {
    expect(parseErrorBody(401, '{"error":"invalid_client","error_description":"nope"}')).toEqual({
      errorCode: 'invalid_client',
      message: 'nope',
    });
  });

  it('falls back to the status text for an HTML page', () => {
    expect(parseErrorBody(503, '<html></html>').errorCode).toBe('SERVICE_UNAVAILABLE');
  });
});

describe('buildUrl', () => {
  it('repeats array keys, keeps dotted keys and skips undefined values', () => {
    expect(
      buildUrl('http://h', '/api/2.1/clusters/list', {
        'filter_by.cluster_states': ['RUNNING', 'PENDING'],
        page_size: 100,
        page_token: undefined,
      }),
    ).toBe(
      'http://h/api/2.1/clusters/list?filter_by.cluster_states=RUNNING&filter_by.cluster_states=PENDING&page_size=100',
    );
  });

  it('encodes values but keeps update_mask commas literal', () => {
    expect(buildUrl('http://h', '/p', { update_mask: 'a,b', page_token: 'x&y=z' })).toBe(
      'http://h/p?update_mask=a,b&page_token=x%26y%3Dz',
    );
  });
});

describe('collectPages', () => {
  it('stops when the server repeats the token it was given', async () => {
    let calls = 0;
    const all = await collectPages(async () => {
      calls += 1;
      return { items: [calls], nextPageToken: 'same' };
    });
    expect(all).toEqual([1, 2]);
  });
});

describe('mergeJobPages', () => {
  it('appends array fields and keeps the rest of the first page', () => {
    const merged = mergeJobPages(
      { job_id: 1, settings: { name: 'a', tasks: [1], job_clusters: [9] } },
      { job_id: 1, settings: { name: 'ignored', tasks: [2], job_clusters: [] } },
    );
    expect(merged).toEqual({ job_id: 1, settings: { name: 'a', tasks: [1, 2], job_clusters: [9] } });
  });
});
