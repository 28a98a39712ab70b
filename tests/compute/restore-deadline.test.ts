import { describe, expect, it } from 'vitest';
import { extendedDeadline } from '../../lib/compute/restore.ts';

/**
 * The restore deadline after a turn Databricks throttled: later by the time the turn lost, up to the bound
 * the execution's history has room for, and never earlier than the deadline already in force.
 */

const MINUTE = 60_000;
const began = 1_000_000_000;
const original = began + 45 * MINUTE;

describe('The restore deadline after a throttled turn', () => {
  it('moves by the time since the previous turn', () => {
    const now = began + 30 * MINUTE;
    expect(extendedDeadline(original, original, 45, { now, since: now - 2 * MINUTE }, 480)).toBe(
      original + 2 * MINUTE,
    );
  });

  it('stops at the bound after the restore began', () => {
    const deadline = began + 479 * MINUTE;
    const now = began + 470 * MINUTE;
    expect(extendedDeadline(deadline, original, 45, { now, since: now - 5 * MINUTE }, 480)).toBe(
      began + 480 * MINUTE,
    );
  });

  it('never moves a deadline already past a lower bound back to it', () => {
    const deadline = began + 300 * MINUTE;
    const now = began + 200 * MINUTE;
    expect(extendedDeadline(deadline, original, 45, { now, since: now - MINUTE }, 120)).toBe(deadline);
  });

  it('keeps the restore timeout when it is longer than the bound', () => {
    const long = began + 200 * MINUTE;
    const now = began + 10 * MINUTE;
    expect(extendedDeadline(long, long, 200, { now, since: now - MINUTE }, 120)).toBe(long);
  });

  it('does not move for a turn that lost no time', () => {
    const now = began + 10 * MINUTE;
    expect(extendedDeadline(original, original, 45, { now, since: now }, 480)).toBe(original);
  });
});
