import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LOCK_WAIT_MINUTES } from '../../lib/plan/plan.ts';
import { LIMITS, THROTTLED_RESTORE_MAX_MINUTES } from '../../lib/settings.ts';

/**
 * Both state machines carry an execution timeout (so a run that hangs ends TIMED_OUT and the timed-out alarm
 * fires), and it is longer than the longest run the settings' upper bounds allow: no legitimate rotation is
 * cut short. Standard executions may last at most one year.
 */
const asl = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../statemachines/${name}.asl.json`, import.meta.url), 'utf8')) as {
    TimeoutSeconds?: number;
  };

/**
 * The longest one workspace's rotation can take at the settings' bounds, compensation included; a restore
 * Databricks throttles may go on for THROTTLED_RESTORE_MAX_MINUTES.
 */
const longestChildMinutes =
  LIMITS.drainTimeoutMinutes +
  LIMITS.computeStopTimeoutMinutes +
  LIMITS.workspaceUpdateTimeoutMinutes +
  LIMITS.storageWaitMinutes +
  THROTTLED_RESTORE_MAX_MINUTES +
  LIMITS.recoveryWorkspaceWaitMinutes +
  THROTTLED_RESTORE_MAX_MINUTES;

const YEAR_SECONDS = 365 * 24 * 3600;

describe('Execution timeouts', () => {
  it('gives rotate-one-workspace a timeout beyond its longest rotation', () => {
    const timeout = asl('rotate-one-workspace').TimeoutSeconds;
    expect(timeout).toBeGreaterThan(longestChildMinutes * 60);
    expect(timeout).toBeLessThanOrEqual(YEAR_SECONDS);
  });

  it('gives rotate-workspace-key a timeout beyond the key re-check, the lock wait, a rotation and the longest retention', () => {
    const timeout = asl('rotate-workspace-key').TimeoutSeconds;
    const longest =
      (LIMITS.keyRecheckGraceMinutes + LOCK_WAIT_MINUTES + longestChildMinutes) * 60 +
      LIMITS.oldKeyRetentionHours * 3600;
    expect(timeout).toBeGreaterThan(longest);
    expect(timeout).toBeLessThanOrEqual(YEAR_SECONDS);
  });
});
