import { clip, fieldPath, InvalidSettings, listSome } from './errors.ts';
import * as z from './zod.ts';

/** `true`/`false` (any case) from the environment. */
const flag = z.pipe(
  z.string().check(z.refine((s) => /^(true|false)$/i.test(s.trim()), 'must be true or false')),
  z.transform((s) => s.trim().toLowerCase() === 'true'),
);

/**
 * A Databricks host (or host template): `https://` only, so credentials and tokens never cross the network in
 * clear. Plain `http://` is accepted only for a loopback host (localhost, 127.x.x.x, [::1]): local mode, where
 * the emulator listens on this machine.
 */
const databricksUrl = (what: string) =>
  z.string().check(
    z.refine((u) => /^https?:\/\//i.test(u), `must be a URL starting with https:// (${what})`),
    z.refine(
      (u) => /^https:\/\//i.test(u) || isLoopbackUrl(u),
      `must use https:// (${what}); plain http:// is refused outside local mode (a loopback host)`,
    ),
  );

function isLoopbackUrl(url: string): boolean {
  const host = /^http:\/\/(\[[^\]]+\]|[^/:?#]+)/i.exec(url)?.[1]?.toLowerCase();
  if (!host) return false;
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '[::1]' ||
    /^127(\.\d{1,3}){3}$/.test(host)
  );
}

const csv = z.pipe(
  z.string(),
  z.transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
  ),
);

/**
 * How long the restore loop may go on while Databricks throttles it (minutes after the restore began): each
 * throttled turn moves the restore deadline by the time it lost, up to this bound — a throttled rotation is
 * slower, not failed (lib/compute/restore.ts). A start that fails for any other reason is not helped by it.
 * Only as far as the history budget allows at the deployment's settings (`throttledRestoreMinutes`,
 * lib/plan/history-budget.ts).
 */
export const THROTTLED_RESTORE_MAX_MINUTES = 8 * 60;

/**
 * Upper bounds of the numbers a deployment or an execution input may set (DESIGN §6.10: no execution may
 * outgrow Step Functions' quotas). The poll loops' worst case at these bounds (their waits follow the
 * platform, lib/poll.ts, with a floor that bounds the number of checks) is computed and enforced by
 * `workspaceHistoryWorstCase` / `assertHistoryBudget` in lib/plan/history-budget.ts.
 */
export const LIMITS = {
  /** Workspaces one execution input or WORKSPACE_IDS may name. */
  workspaceIds: 1000,
  /** Old-key retention: 30 days (one Wait state, whose execution can last a year). */
  oldKeyRetentionHours: 720,
  /** Storage wait (one Wait state): Databricks asks for 20 minutes; a day is plenty of margin. */
  storageWaitMinutes: 24 * 60,
  drainTimeoutMinutes: 240,
  computeStopTimeoutMinutes: 120,
  workspaceUpdateTimeoutMinutes: 180,
  computeRestoreTimeoutMinutes: 120,
  recoveryWorkspaceWaitMinutes: 180,
  /** Parallel Databricks calls per step. */
  apiConcurrency: 64,
  /** Workspaces rotated in parallel by the Map. */
  maxConcurrentWorkspaces: 40,
  /** Workspace lock lease: long enough to span the longest storage wait (nothing renews during it). */
  lockLeaseMinutes: 25 * 60,
  /** Grace delay before re-reading a disabled key in use (one Wait state). */
  keyRecheckGraceMinutes: 24 * 60,
} as const;

/**
 * The shortest old-key retention there is: Databricks needs the old key for at least 24 hours after a
 * rotation (DESIGN §1), so announcing it retirable sooner is unsafe, not a preference.
 */
export const MIN_OLD_KEY_RETENTION_HOURS = 24;

/** Why a shorter retention is refused, for the messages of the setting and of the execution input. */
export const OLD_KEY_RETENTION_TOO_SHORT = `must be at least ${MIN_OLD_KEY_RETENTION_HOURS} (hours): Databricks needs the old key for at least ${MIN_OLD_KEY_RETENTION_HOURS} h after a rotation, and data written before it still uses the old key`;

/**
 * Minutes a lease keeps beyond the storage wait: the wait is one Wait state during which nothing renews the
 * lock, and the step before it may itself be retried for a few minutes.
 */
export const LOCK_LEASE_MARGIN_MINUTES = 5;

/** `z.coerce.number()` with an upper bound whose message names the unit and the bound. */
const bounded = (max: number, unit: string) =>
  z.coerce.number().check(z.lte(max, `must be at most ${max} (${unit})`));

/**
 * Deployment settings, read from the Lambda environment (serverless.yml sets them; the local runner sets
 * them from the scenario). Secrets are never settings: only the ARN of the secret that holds them.
 */
const SettingsSchema = z.object({
  DATABRICKS_ACCOUNT_ID: z.string().check(z.minLength(1)),
  DATABRICKS_ACCOUNTS_HOST: z._default(
    databricksUrl('the Databricks accounts host'),
    'https://accounts.cloud.databricks.com',
  ),
  /** `{deployment_name}` is replaced by the workspace's deployment name. */
  DATABRICKS_WORKSPACE_URL_TEMPLATE: z._default(
    databricksUrl('the workspace URL template').check(
      z.refine((s) => s.includes('{deployment_name}'), 'must contain {deployment_name}'),
    ),
    'https://{deployment_name}.cloud.databricks.com',
  ),
  DATABRICKS_CREDENTIALS_SECRET_ARN: z.string().check(z.minLength(1)),
  /** Databricks' AWS principal (commercial partition default; other partitions differ). */
  DATABRICKS_PRINCIPAL_ARN: z._default(
    z.string().check(z.startsWith('arn:')),
    'arn:aws:iam::414351767826:root',
  ),
  /** Databricks account id(s) for the key policy's `aws:PrincipalTag/DatabricksAccountId` condition. */
  DATABRICKS_POLICY_ACCOUNT_IDS: z.optional(csv),
  WATCHED_ALIAS: z.optional(z.string().check(z.startsWith('alias/'))),
  /** Comma-separated workspace ids the deployment manages, or empty / `all` for "every workspace on the old key". */
  WORKSPACE_IDS: z.optional(csv),
  STORAGE_WAIT_MINUTES: z._default(
    bounded(LIMITS.storageWaitMinutes, 'minutes').check(z.int(), z.gte(0)),
    20,
  ),
  OLD_KEY_RETENTION_HOURS: z._default(
    bounded(LIMITS.oldKeyRetentionHours, 'hours, 30 days').check(
      z.gte(MIN_OLD_KEY_RETENTION_HOURS, OLD_KEY_RETENTION_TOO_SHORT),
    ),
    MIN_OLD_KEY_RETENTION_HOURS,
  ),
  /** Workspaces rotated in parallel by the Map (the execution input's `maxConcurrency` overrides it). */
  MAX_CONCURRENT_WORKSPACES: z._default(
    bounded(LIMITS.maxConcurrentWorkspaces, 'workspaces').check(z.int(), z.gte(1)),
    4,
  ),
  /** Deadlines of the polling loops, in minutes (bounded by the execution's history, see `LIMITS`). */
  COMPUTE_STOP_TIMEOUT_MINUTES: z._default(
    bounded(LIMITS.computeStopTimeoutMinutes, 'minutes').check(z.gte(1)),
    30,
  ),
  /** A customer-managed network can take over an hour to apply a key change: the default is generous. */
  WORKSPACE_UPDATE_TIMEOUT_MINUTES: z._default(
    bounded(LIMITS.workspaceUpdateTimeoutMinutes, 'minutes').check(z.gte(1)),
    120,
  ),
  /** After a failure at or after the PATCH: how long recovery waits for the workspace to stop updating. */
  RECOVERY_WORKSPACE_WAIT_MINUTES: z._default(
    bounded(LIMITS.recoveryWorkspaceWaitMinutes, 'minutes').check(z.gte(1)),
    180,
  ),
  COMPUTE_RESTORE_TIMEOUT_MINUTES: z._default(
    bounded(LIMITS.computeRestoreTimeoutMinutes, 'minutes').check(z.gte(1)),
    45,
  ),
  /** Parallel Databricks calls per step (each still honours 429s). */
  API_CONCURRENCY: z._default(bounded(LIMITS.apiConcurrency, 'parallel calls').check(z.int(), z.gte(1)), 8),
  /** Where compute snapshots are stored: an S3 bucket in AWS, a directory in local mode. */
  SNAPSHOT_BUCKET: z.optional(z.string().check(z.minLength(1))),
  SNAPSHOT_DIR: z.optional(z.string().check(z.minLength(1))),
  /**
   * The DynamoDB table of the workspace locks and of the EventBridge event ids already handled (lib/lock).
   * serverless.yml sets it on the functions that use it; a step that needs it and finds it unset fails
   * with `InvalidSettings` naming it (`requireLockTable`).
   */
  LOCK_TABLE: z.optional(z.string().check(z.minLength(1), z.maxLength(255))),
  /** How long a workspace lock lasts without renewal: what an execution that dies unseen blocks at most. */
  LOCK_LEASE_MINUTES: z._default(bounded(LIMITS.lockLeaseMinutes, 'minutes').check(z.int(), z.gte(1)), 30),
  /**
   * The AWS account this deployment runs in (serverless.yml: `AWS::AccountId`): an event of another account
   * is not acted on. Unset, the account of DATABRICKS_CREDENTIALS_SECRET_ARN stands for it.
   */
  DEPLOYMENT_ACCOUNT_ID: z.optional(
    z.string().check(z.regex(/^\d{12}$/, 'must be a 12-digit AWS account id')),
  ),
  /** The region this deployment runs in (Lambda sets AWS_REGION): an event of another region is not acted on. */
  AWS_REGION: z.optional(z.string().check(z.regex(/^[a-z0-9-]{1,32}$/, 'must be an AWS region name'))),
  /**
   * A key in use was disabled, scheduled for deletion or lost its material: minutes to wait before reading
   * it again (a mistaken DisableKey is often undone within minutes; nothing is touched meanwhile).
   */
  KEY_RECHECK_GRACE_MINUTES: z._default(
    bounded(LIMITS.keyRecheckGraceMinutes, 'minutes').check(z.gte(0)),
    10,
  ),
  /**
   * Opt-in: a key in use that is still unusable after the grace delay moves its workspaces to the watched
   * alias's key (downtime, and it does not rescue data only the old key can read). Default: alarm only.
   */
  EMERGENCY_ROTATION: z._default(flag, false),
  /**
   * After KMS rotated a key's material: re-grant Databricks in a key policy that no longer does. Default
   * false: a missing grant may be a deliberate revocation, so it is reported (KeyPolicyDrift), not undone.
   */
  REPAIR_POLICY_ON_ROTATION: z._default(flag, false),
});

export interface Settings {
  databricksAccountId: string;
  accountsHost: string;
  workspaceUrlTemplate: string;
  credentialsSecretArn: string;
  databricksPrincipalArn: string;
  policyAccountIds: string[];
  watchedAlias: string | undefined;
  /** `undefined` = every workspace that uses the old key. */
  workspaceIds: number[] | undefined;
  storageWaitMinutes: number;
  oldKeyRetentionHours: number;
  apiConcurrency: number;
  maxConcurrentWorkspaces: number;
  computeStopTimeoutMinutes: number;
  workspaceUpdateTimeoutMinutes: number;
  recoveryWorkspaceWaitMinutes: number;
  computeRestoreTimeoutMinutes: number;
  snapshotBucket: string | undefined;
  snapshotDir: string | undefined;
  /** `undefined` outside a deployment that has the lock table; see `requireLockTable`. */
  lockTable: string | undefined;
  lockLeaseMinutes: number;
  /** The AWS account of this deployment: events of other accounts are no-ops. */
  deploymentAccountId: string | undefined;
  /** The AWS region of this deployment: events of other regions are no-ops. */
  deploymentRegion: string | undefined;
  keyRecheckGraceMinutes: number;
  emergencyRotation: boolean;
  repairPolicyOnRotation: boolean;
}

/** Parses the settings from an environment; a bad one raises `InvalidSettings` naming the variable. */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const parsed = SettingsSchema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')),
  );
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue ? fieldPath(issue.path) : '(unknown)';
    throw new InvalidSettings(`setting ${field} is invalid: ${issue?.message ?? 'unknown problem'}`, {
      details: { field },
    });
  }
  const s = parsed.data;
  const ids = s.WORKSPACE_IDS?.filter((x) => x.toLowerCase() !== 'all');
  const workspaceIds = ids?.map((x) => {
    const id = Number(x);
    if (!/^\d+$/.test(x) || !Number.isSafeInteger(id) || id <= 0) {
      throw new InvalidSettings(
        `setting WORKSPACE_IDS holds "${clip(x, 40)}", which is not a workspace id (a whole number from 1 to ${Number.MAX_SAFE_INTEGER})`,
        { details: { field: 'WORKSPACE_IDS' } },
      );
    }
    return id;
  });
  if (workspaceIds && workspaceIds.length > LIMITS.workspaceIds) {
    throw new InvalidSettings(
      `setting WORKSPACE_IDS lists ${workspaceIds.length} workspaces; at most ${LIMITS.workspaceIds} are allowed (split them across deployments or executions)`,
      { details: { field: 'WORKSPACE_IDS' } },
    );
  }
  const repeated = workspaceIds?.filter((id, index) => workspaceIds.indexOf(id) !== index) ?? [];
  if (repeated.length > 0) {
    throw new InvalidSettings(
      `setting WORKSPACE_IDS repeats workspace id(s) ${listSome([...new Set(repeated)])}; list each workspace once`,
      { details: { field: 'WORKSPACE_IDS' } },
    );
  }
  if (s.LOCK_LEASE_MINUTES < s.STORAGE_WAIT_MINUTES + LOCK_LEASE_MARGIN_MINUTES) {
    throw new InvalidSettings(
      `setting LOCK_LEASE_MINUTES (${s.LOCK_LEASE_MINUTES}) must be at least STORAGE_WAIT_MINUTES (${s.STORAGE_WAIT_MINUTES}) + ${LOCK_LEASE_MARGIN_MINUTES}: nothing renews the workspace lock during the storage wait, and a lease that ran out there would let another execution take the workspace`,
      { details: { field: 'LOCK_LEASE_MINUTES' } },
    );
  }
  return {
    databricksAccountId: s.DATABRICKS_ACCOUNT_ID,
    accountsHost: s.DATABRICKS_ACCOUNTS_HOST.replace(/\/+$/, ''),
    workspaceUrlTemplate: s.DATABRICKS_WORKSPACE_URL_TEMPLATE.replace(/\/+$/, ''),
    credentialsSecretArn: s.DATABRICKS_CREDENTIALS_SECRET_ARN,
    databricksPrincipalArn: s.DATABRICKS_PRINCIPAL_ARN,
    policyAccountIds: s.DATABRICKS_POLICY_ACCOUNT_IDS ?? [s.DATABRICKS_ACCOUNT_ID],
    watchedAlias: s.WATCHED_ALIAS,
    workspaceIds: workspaceIds && workspaceIds.length > 0 ? workspaceIds : undefined,
    storageWaitMinutes: s.STORAGE_WAIT_MINUTES,
    oldKeyRetentionHours: s.OLD_KEY_RETENTION_HOURS,
    apiConcurrency: s.API_CONCURRENCY,
    maxConcurrentWorkspaces: s.MAX_CONCURRENT_WORKSPACES,
    computeStopTimeoutMinutes: s.COMPUTE_STOP_TIMEOUT_MINUTES,
    workspaceUpdateTimeoutMinutes: s.WORKSPACE_UPDATE_TIMEOUT_MINUTES,
    recoveryWorkspaceWaitMinutes: s.RECOVERY_WORKSPACE_WAIT_MINUTES,
    computeRestoreTimeoutMinutes: s.COMPUTE_RESTORE_TIMEOUT_MINUTES,
    snapshotBucket: s.SNAPSHOT_BUCKET,
    snapshotDir: s.SNAPSHOT_DIR,
    lockTable: s.LOCK_TABLE,
    lockLeaseMinutes: s.LOCK_LEASE_MINUTES,
    deploymentAccountId: s.DEPLOYMENT_ACCOUNT_ID ?? arnPart(s.DATABRICKS_CREDENTIALS_SECRET_ARN, 4),
    deploymentRegion: s.AWS_REGION ?? arnPart(s.DATABRICKS_CREDENTIALS_SECRET_ARN, 3),
    keyRecheckGraceMinutes: s.KEY_RECHECK_GRACE_MINUTES,
    emergencyRotation: s.EMERGENCY_ROTATION,
    repairPolicyOnRotation: s.REPAIR_POLICY_ON_ROTATION,
  };
}

/** Field `index` of an ARN (3 = region, 4 = account), when it is one and the field is not empty. */
function arnPart(arn: string, index: 3 | 4): string | undefined {
  const parts = arn.split(':');
  return parts[0] === 'arn' && parts.length >= 6 && parts[index] ? parts[index] : undefined;
}

/**
 * The lock table's name, or `InvalidSettings` naming LOCK_TABLE: a step that must lock a workspace or
 * recognise a duplicate event never goes on without the table (that would silently drop DESIGN §6.6).
 */
export function requireLockTable(settings: Pick<Settings, 'lockTable'>, why: string): string {
  if (settings.lockTable) return settings.lockTable;
  throw new InvalidSettings(
    `setting LOCK_TABLE is not set, and it is needed to ${why}; set it to the name of the lock table (serverless.yml passes the LockTable it deploys)`,
    { details: { field: 'LOCK_TABLE' } },
  );
}
