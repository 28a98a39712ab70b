import { describe, expect, it } from 'vitest';
import { databricksFor } from '../../lib/databricks/index.ts';
import {
  asInvocation,
  currentContainer,
  type LearntPace,
  learntPace,
  newestPace,
  notePace,
  pacingHint,
} from '../../lib/invocation.ts';
import type { Settings } from '../../lib/settings.ts';

/**
 * What one Lambda invocation knows beyond its input (lib/invocation.ts): its function, which keys the
 * clients a container keeps, and the request pace an earlier step learnt, which rides along in the step
 * results so that a new container does not learn Databricks' limit again from refusals.
 */

const pace = (at: number, rate: number): LearntPace => ({ at, hosts: { 'workspace a': { limit: 2, rate } } });

describe('newestPace', () => {
  it('takes the newest pace among the results a state carries', () => {
    const state = {
      workspace: { workspaceId: 1 },
      compute: { snapshotKey: 'k', databricksPace: pace(100, 3) },
      computeCheck: { status: 'STOPPED', databricksPace: pace(300, 5) },
      update: { patched: true, databricksPace: pace(200, 4) },
    };
    expect(newestPace(state)).toEqual(pace(300, 5));
  });

  it('reads a pace at the top level too, and ignores malformed ones', () => {
    expect(newestPace({ databricksPace: pace(1, 2) })).toEqual(pace(1, 2));
    for (const bad of [
      { at: 'x', hosts: {} },
      { at: 5, hosts: { h: { limit: 0 } } },
      { at: 5, hosts: { h: { limit: 2, rate: -1 } } },
      { at: 5, hosts: { h: { limit: 2, rate: 0.001 } } },
      { at: 5, hosts: [] },
      'fast',
    ]) {
      expect(newestPace({ r: { databricksPace: bad } })).toBeUndefined();
    }
    expect(newestPace(null)).toBeUndefined();
    // The smallest valid pace: one request in flight, one per second; a window alone is a pace too.
    for (const hosts of [{ h: { limit: 1, rate: 1 } }, { h: { limit: 3 } }]) {
      expect(newestPace({ r: { databricksPace: { at: 5, hosts } } })).toEqual({ at: 5, hosts });
    }
    for (const h of ['fast', null, { limit: '2' }, { limit: 2, rate: '3' }]) {
      expect(newestPace({ r: { databricksPace: { at: 5, hosts: { h } } } })).toBeUndefined();
    }
    expect(newestPace([{ databricksPace: pace(1, 2) }])).toBeUndefined();
  });
});

describe('an invocation', () => {
  it('hands on nothing when no host was ever paced', () => {
    const out = asInvocation({ functionName: 'f' }, () => {
      notePace('workspace a', undefined);
      return learntPace(10);
    });
    expect(out).toBeUndefined();
  });

  it('hands on what it learnt, and what it was handed and did not contradict', () => {
    const out = asInvocation({ functionName: 'f', pace: pace(1, 3) }, () => {
      const hint = pacingHint('workspace a');
      notePace('account', { limit: 4 });
      return { hint, learnt: learntPace(10) };
    });
    expect(out.hint).toEqual({ limit: 2, rate: 3 });
    expect(out.learnt).toEqual({
      at: 10,
      hosts: { 'workspace a': { limit: 2, rate: 3 }, account: { limit: 4 } },
    });
  });

  it('hands on a pace it learnt with none handed in', () => {
    const out = asInvocation({ functionName: 'f' }, () => {
      notePace('account', { limit: 4, rate: 2 });
      return learntPace(10);
    });
    expect(out).toEqual({ at: 10, hosts: { account: { limit: 4, rate: 2 } } });
  });

  it('is harmless outside any invocation, and nameless when no function is known', () => {
    expect(() => notePace('account', { limit: 1 })).not.toThrow();
    expect(learntPace(10)).toBeUndefined();
    expect(asInvocation({}, () => currentContainer())).toBe('');
  });

  it('adds nothing when it made no Databricks call, even with a pace handed in', () => {
    const out = asInvocation({ functionName: 'release', pace: pace(1, 3) }, () => learntPace(10));
    expect(out).toBeUndefined();
  });

  it('says so when a host handed in is no longer paced, so that the older pace is not used again', () => {
    const out = asInvocation({ functionName: 'f', pace: pace(1, 3) }, () => {
      notePace('workspace a', undefined);
      return learntPace(10);
    });
    expect(out).toEqual({ at: 10, hosts: {} });
    // The state then carries both; the newest (nothing paced) wins.
    expect(newestPace({ a: { databricksPace: pace(1, 3) }, b: { databricksPace: out } })).toEqual(out);
  });

  it('keeps its own store when invocations run at once in one process', async () => {
    const seen = await Promise.all(
      ['one', 'two'].map((name) =>
        asInvocation({ functionName: name }, async () => {
          await new Promise((r) => setTimeout(r, 5));
          return currentContainer();
        }),
      ),
    );
    expect(seen).toEqual(['one', 'two']);
    expect(currentContainer()).toBe('');
    expect(pacingHint('workspace a')).toBeUndefined();
  });
});

describe('databricksFor', () => {
  const settings = {
    databricksAccountId: 'acc',
    accountsHost: 'https://accounts.example',
    workspaceUrlTemplate: 'https://{deploymentName}.example',
    apiConcurrency: 4,
    credentialsSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:x',
  } as Settings;

  it('keeps one client per Lambda function: steps of other functions never share what one learnt', () => {
    const a1 = asInvocation({ functionName: 'stop-compute' }, () => databricksFor(settings));
    const a2 = asInvocation({ functionName: 'stop-compute' }, () => databricksFor(settings));
    const b = asInvocation({ functionName: 'check-compute-stopped' }, () => databricksFor(settings));
    expect(a2).toBe(a1);
    expect(b).not.toBe(a1);
  });

  it('keeps one client per container: another log stream of the same function is another container', () => {
    const inContainer = (logStreamName: string) =>
      asInvocation({ functionName: 'stop-compute', logStreamName }, () => databricksFor(settings));
    const first = inContainer('2026/12/01/[$LATEST]a');
    expect(inContainer('2026/12/01/[$LATEST]a')).toBe(first);
    expect(inContainer('2026/12/01/[$LATEST]b')).not.toBe(first);
    expect(asInvocation({ functionName: 'stop-compute', logStreamName: 'x' }, () => currentContainer())).toBe(
      'stop-compute|x',
    );
  });
});
