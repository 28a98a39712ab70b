/** One page of a list call: its items and the token of the next page (absent or `''` on the last one). */
export interface Page<T> {
  items: T[];
  nextPageToken?: string | null;
}

/** A guard against a server that never stops handing out tokens (a bug there must not spin a Lambda). */
const MAX_PAGES = 10_000;

/**
 * Follows `next_page_token` and returns every item. Stops on an empty/absent token or an empty page (the
 * SDK's iterators do the same), and on a token that repeats the one just used.
 */
export async function collectPages<T>(
  fetchPage: (pageToken: string | undefined) => Promise<Page<T>>,
): Promise<T[]> {
  return (await collectPagesUpTo(fetchPage, MAX_PAGES)).items;
}

/** Like `collectPages`, but stops after `maxPages` pages: `complete` says whether the list ended. */
export async function collectPagesUpTo<T>(
  fetchPage: (pageToken: string | undefined) => Promise<Page<T>>,
  maxPages: number,
): Promise<{ items: T[]; complete: boolean }> {
  const items: T[] = [];
  let token: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const next = await fetchPage(token);
    items.push(...next.items);
    if (next.items.length === 0 || !next.nextPageToken || next.nextPageToken === token) {
      return { items, complete: true };
    }
    token = next.nextPageToken;
  }
  return { items, complete: false };
}

/**
 * Merges the pages of a Jobs API 2.2 `jobs/get`: array fields of `settings` (tasks, job_clusters,
 * environments, parameters) come 100 at a time; later pages carry empty arrays for exhausted ones.
 */
export function mergeJobPages<J extends { settings?: Record<string, unknown> }>(first: J, next: J): J {
  if (!next.settings) return first;
  const settings: Record<string, unknown> = { ...(first.settings ?? {}) };
  for (const [field, value] of Object.entries(next.settings)) {
    const existing = settings[field];
    if (Array.isArray(value) && Array.isArray(existing)) settings[field] = [...existing, ...value];
    else if (Array.isArray(value) && existing === undefined) settings[field] = value;
  }
  return { ...first, settings };
}
