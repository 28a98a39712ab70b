import { z } from 'zod';
import { fieldPath, InvalidSettings } from './errors.ts';

const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== ''),
);

/**
 * Deployment settings, read from the Lambda environment (serverless.yml sets them; the local runner sets
 * them from the scenario). Secrets are never settings: only the ARN of the secret that holds them.
 */
const SettingsSchema = z.object({
  DATABRICKS_ACCOUNT_ID: z.string().min(1),
  DATABRICKS_ACCOUNTS_HOST: z.url().default('https://accounts.cloud.databricks.com'),
  /** `{deployment_name}` is replaced by the workspace's deployment name. */
  DATABRICKS_WORKSPACE_URL_TEMPLATE: z
    .string()
    .refine((s) => s.includes('{deployment_name}'), 'must contain {deployment_name}')
    .default('https://{deployment_name}.cloud.databricks.com'),
  DATABRICKS_CREDENTIALS_SECRET_ARN: z.string().min(1),
  /** Databricks' AWS principal (commercial partition default; other partitions differ). */
  DATABRICKS_PRINCIPAL_ARN: z.string().startsWith('arn:').default('arn:aws:iam::414351767826:root'),
  /** Databricks account id(s) for the key policy's `aws:PrincipalTag/DatabricksAccountId` condition. */
  DATABRICKS_POLICY_ACCOUNT_IDS: csv.optional(),
  WATCHED_ALIAS: z.string().startsWith('alias/').optional(),
  /** Comma-separated workspace ids the deployment manages, or empty / `all` for "every workspace on the old key". */
  WORKSPACE_IDS: csv.optional(),
  STORAGE_WAIT_MINUTES: z.coerce.number().int().min(0).default(20),
  OLD_KEY_RETENTION_HOURS: z.coerce.number().min(0).default(24),
  /** Workspaces rotated in parallel by the Map (the execution input's `maxConcurrency` overrides it). */
  MAX_CONCURRENT_WORKSPACES: z.coerce.number().int().min(1).max(40).default(4),
  /** Deadlines of the polling loops, in minutes. */
  COMPUTE_STOP_TIMEOUT_MINUTES: z.coerce.number().min(1).default(30),
  WORKSPACE_UPDATE_TIMEOUT_MINUTES: z.coerce.number().min(1).default(60),
  COMPUTE_RESTORE_TIMEOUT_MINUTES: z.coerce.number().min(1).default(45),
  /** Parallel Databricks calls per step (each still honours 429s). */
  API_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  /** Where compute snapshots are stored: an S3 bucket in AWS, a directory in local mode. */
  SNAPSHOT_BUCKET: z.string().min(1).optional(),
  SNAPSHOT_DIR: z.string().min(1).optional(),
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
  computeRestoreTimeoutMinutes: number;
  snapshotBucket: string | undefined;
  snapshotDir: string | undefined;
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
    if (!/^\d+$/.test(x)) {
      throw new InvalidSettings(`setting WORKSPACE_IDS holds a non-numeric workspace id "${x}"`, {
        details: { field: 'WORKSPACE_IDS' },
      });
    }
    return Number(x);
  });
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
    computeRestoreTimeoutMinutes: s.COMPUTE_RESTORE_TIMEOUT_MINUTES,
    snapshotBucket: s.SNAPSHOT_BUCKET,
    snapshotDir: s.SNAPSHOT_DIR,
  };
}
