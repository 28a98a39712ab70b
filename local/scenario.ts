import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { z } from 'zod';
import { fieldPath, RotatorError } from '../lib/errors.ts';
import { seededToken } from './emulator/random.ts';
import {
  AUTOSCALE_FIELDS,
  AWS_KEY_INFO_FIELDS,
  CLUSTER_FIELDS,
  CLUSTER_INSTANCE_FIELDS,
  CONTINUOUS_FIELDS,
  CRON_SCHEDULE_FIELDS,
  INSTANCE_POOL_FIELDS,
  INSTANCE_POOL_STATS_FIELDS,
  JOB_FIELDS,
  JOB_SETTINGS_FIELDS,
  KEY_CONFIG_FIELDS,
  nearestName,
  PIPELINE_FIELDS,
  PIPELINE_SPEC_FIELDS,
  RUN_EXTENSIONS,
  RUN_FIELDS,
  RUN_STATE_FIELDS,
  TRIGGER_SETTINGS_FIELDS,
  WAREHOUSE_FIELDS,
  WORKSPACE_COLLECTIONS,
  WORKSPACE_FIELDS,
} from './scenario-fields.ts';

/**
 * The scenario file of local mode (format in the README, § Scenarios and reports): what the emulators start from, the settings
 * and the execution input. A Databricks resource object accepts the fields of its API model
 * (`scenario-fields.ts`) and refuses any other; only fields that drive the emulation are validated, and
 * every accepted field is kept and returned as given, so real API output can be pasted in.
 */

/** A scenario file is malformed; the message names the field (`databricks.workspaces[0].clusters[2].state`). */
export class InvalidScenario extends RotatorError {}

const KeyUseCase = z.enum(['MANAGED_SERVICES', 'STORAGE']);
const WorkspaceStatus = z.enum([
  'NOT_PROVISIONED',
  'PROVISIONING',
  'RUNNING',
  'FAILED',
  'BANNED',
  'CANCELLING',
]);
export const ClusterState = z.enum([
  'PENDING',
  'RUNNING',
  'RESTARTING',
  'RESIZING',
  'TERMINATING',
  'TERMINATED',
  'ERROR',
  'UNKNOWN',
]);
export const ClusterSource = z.enum([
  'UI',
  'API',
  'JOB',
  'PIPELINE',
  'PIPELINE_MAINTENANCE',
  'SQL',
  'MODELS',
]);
const WarehouseState = z.enum(['STARTING', 'RUNNING', 'STOPPING', 'STOPPED', 'DELETING', 'DELETED']);
const PipelineState = z.enum([
  'DEPLOYING',
  'STARTING',
  'RUNNING',
  'STOPPING',
  'IDLE',
  'FAILED',
  'RECOVERING',
  'RESETTING',
  'DELETED',
]);
const RunLifeCycleState = z.enum([
  'QUEUED',
  'PENDING',
  'RUNNING',
  'TERMINATING',
  'TERMINATED',
  'SKIPPED',
  'INTERNAL_ERROR',
  'BLOCKED',
  'WAITING_FOR_RETRY',
]);
const PauseStatus = z.enum(['PAUSED', 'UNPAUSED']);
const KeyState = z.enum([
  'Creating',
  'Enabled',
  'Disabled',
  'PendingDeletion',
  'PendingImport',
  'PendingReplicaDeletion',
  'Unavailable',
  'Updating',
]);
const KeySpec = z.enum([
  'SYMMETRIC_DEFAULT',
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
  'HMAC_224',
  'HMAC_256',
  'HMAC_384',
  'HMAC_512',
  'SM2',
  'ML_DSA_44',
  'ML_DSA_65',
  'ML_DSA_87',
]);
const KeyUsage = z.enum(['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT']);
const KeyOrigin = z.enum(['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE']);

export const DEFAULT_AWS_ACCOUNT_ID = '111122223333';
export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
export const DEFAULT_DATABRICKS_ACCOUNT_ID = '0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e';
export const DEFAULT_SECRET_NAME = 'databricks/cmk-rotator';
export const DEFAULT_SERVICE_PRINCIPAL = {
  clientId: '7f3c2a10-5b4d-4c2e-9d1b-000000000001',
  clientSecret: 'dose-local-emulator-secret-not-real',
};
export const DEFAULT_WORKSPACE = {
  workspace_id: 1234567890123456,
  workspace_name: 'prod',
  deployment_name: 'acme-prod',
};

const DEFAULT_TIMINGS = {
  clusterTerminate: [30, 120],
  clusterStart: [180, 420],
  warehouseStop: [20, 60],
  warehouseStart: [60, 180],
  poolIdleRelease: [10, 60],
  /** Launch of idle instances when a pool refills up to `min_idle_instances`. */
  poolIdleFill: [60, 180],
  pipelineStop: [30, 90],
  pipelineStart: [60, 240],
  /** A cancelled job run stays TERMINATING this long. */
  runCancel: [5, 20],
  workspaceUpdate: [300, 1200],
  /** Round trip of one Databricks API call, drawn per call (simulated milliseconds). */
  apiLatencyMs: [50, 300],
} as const satisfies Record<string, readonly [number, number]>;

const Range = z
  .tuple([z.number().min(0), z.number().min(0)])
  .refine(([min, max]) => min <= max, 'expected [min, max] with min <= max');

const rangeWithDefault = (name: keyof typeof DEFAULT_TIMINGS) =>
  Range.default([...DEFAULT_TIMINGS[name]] as [number, number]);

const TimingsSchema = z.strictObject({
  clusterTerminate: rangeWithDefault('clusterTerminate'),
  clusterStart: rangeWithDefault('clusterStart'),
  warehouseStop: rangeWithDefault('warehouseStop'),
  warehouseStart: rangeWithDefault('warehouseStart'),
  poolIdleRelease: rangeWithDefault('poolIdleRelease'),
  poolIdleFill: rangeWithDefault('poolIdleFill'),
  pipelineStop: rangeWithDefault('pipelineStop'),
  pipelineStart: rangeWithDefault('pipelineStart'),
  runCancel: rangeWithDefault('runCancel'),
  workspaceUpdate: rangeWithDefault('workspaceUpdate'),
  apiLatencyMs: rangeWithDefault('apiLatencyMs'),
});
export type Timings = z.output<typeof TimingsSchema>;
export type TimingName = keyof Timings;

const PolicySchema = z.record(z.string(), z.unknown());
const defaultPolicy = (accountId: string) => ({
  Version: '2012-10-17',
  Id: 'key-default-1',
  Statement: [
    {
      Sid: 'Enable IAM User Permissions',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${accountId}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
  ],
});

const KeySchema = z.looseObject({
  keyId: z.string().min(1),
  region: z.string().min(1).optional(),
  state: KeyState.default('Enabled'),
  keySpec: KeySpec.default('SYMMETRIC_DEFAULT'),
  keyUsage: KeyUsage.default('ENCRYPT_DECRYPT'),
  origin: KeyOrigin.default('AWS_KMS'),
  aliases: z.array(z.string().startsWith('alias/')).default([]),
  policy: PolicySchema.optional(),
  /** The key's state changes during the run (the security team disables, re-enables, cancels a deletion). */
  stateChanges: z.array(z.strictObject({ afterSeconds: z.number().min(0), state: KeyState })).optional(),
});

/**
 * A fault of an AWS call (README § Scenarios and reports: `aws.faults`): the `times` matching calls after the first `skip`
 * fail with the error `error` (a name, e.g. `KMSInternalException`, `ThrottlingException`, `SlowDown`) and/or
 * HTTP `status`, shaped as the AWS SDK v3 raises it (its class, `name`, `$fault`, `$metadata.httpStatusCode`;
 * a missing status is the one the service answers that error with, e.g. S3 `SlowDown` 503,
 * `ConditionalRequestConflict` 409, `PreconditionFailed` 412: `awsError` in local/aws/faults.ts).
 * `after: true` makes the call take effect first (a lost response). `service: "lambda"`
 * fails a Task of the state machine instead: `operation` is the state's name (`Update workspace`) and
 * `error` the Step Functions error (`Lambda.Unknown`, `States.Timeout`, `Sandbox.Timedout`); `after`
 * runs the handler first (its side effects happen, its answer is lost).
 */
export const AwsFaultSchema = z
  .strictObject({
    service: z.enum(['kms', 'secretsManager', 's3', 'lambda']),
    /** The API operation (`PutKeyPolicy`, `GetObject`) or, for lambda, the Task state's name; omitted: any. */
    operation: z.string().min(1).optional(),
    error: z.string().min(1).optional(),
    status: z.number().int().min(400).max(599).optional(),
    times: z.number().int().min(1).default(1),
    skip: z.number().int().min(0).default(0),
    after: z.boolean().default(false),
  })
  .refine((f) => f.error !== undefined || f.status !== undefined, {
    message: 'needs an error name or an HTTP status',
    path: ['error'],
  });
export type AwsFault = z.output<typeof AwsFaultSchema>;

/** An IAM role or user ARN (`arn:aws:iam::111122223333:role/KeyAdmins`), as a key policy's `Principal.AWS`. */
const IamPrincipalArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/.+$/, 'expected an IAM role or user ARN');

const AwsSchema = z.strictObject({
  accountId: z
    .string()
    .regex(/^\d{12}$/, 'expected a 12-digit AWS account id')
    .default(DEFAULT_AWS_ACCOUNT_ID),
  region: z.string().min(1).default(DEFAULT_REGION),
  keys: z.array(KeySchema).optional(),
  /** Secret name → value: an object (stored as its JSON) or a raw SecretString. */
  secrets: z.record(z.string(), z.union([z.string(), z.record(z.string(), z.unknown())])).optional(),
  faults: z.array(AwsFaultSchema).default([]),
  /**
   * IAM roles and users that exist in this world besides those the key policies name at the start (KMS
   * refuses a key policy naming a principal that does not exist; see `knownPrincipals` in local/aws/kms.ts).
   */
  principals: z.array(IamPrincipalArn).default([]),
});

const KeyArn = z.string().regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/.+$/, 'expected a KMS key ARN');

/**
 * A Databricks API object of a scenario: a field outside `fields` (its API model's names, plus any format
 * extension) is refused, naming the nearest valid name, before `shape` (the fields that drive the emulation)
 * is validated. Every accepted field is kept.
 */
function apiObject<Shape extends z.ZodRawShape>(model: string, fields: readonly string[], shape: Shape) {
  const unlisted = Object.keys(shape).filter((key) => !fields.includes(key));
  if (unlisted.length > 0) throw new Error(`${model} schema reads fields it refuses: ${unlisted.join(', ')}`);
  return z
    .unknown()
    .superRefine((value, ctx) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
      for (const key of Object.keys(value)) {
        if (fields.includes(key)) continue;
        const near = nearestName(key, fields);
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `unknown field, not in the Databricks API's ${model}${near ? `; did you mean \`${near}\`?` : ''}`,
        });
      }
    })
    .pipe(z.looseObject(shape));
}

const KeyConfigSchema = apiObject('CustomerManagedKey', KEY_CONFIG_FIELDS, {
  customer_managed_key_id: z.string().min(1),
  use_cases: z.array(KeyUseCase).min(1),
  aws_key_info: apiObject('AwsKeyInfo', AWS_KEY_INFO_FIELDS, {
    key_arn: KeyArn,
    key_region: z.string().optional(),
    key_alias: z.string().optional(),
    reuse_key_for_cluster_volumes: z.boolean().optional(),
  }),
  creation_time: z.number().optional(),
  account_id: z.string().optional(),
});

const ClusterSchema = apiObject('ClusterDetails', CLUSTER_FIELDS, {
  cluster_id: z.string().min(1).optional(),
  cluster_name: z.string().optional(),
  state: ClusterState.default('RUNNING'),
  cluster_source: ClusterSource.default('UI'),
  num_workers: z.number().int().min(0).optional(),
  autoscale: apiObject('AutoScale', AUTOSCALE_FIELDS, {
    min_workers: z.number().int().min(0),
    max_workers: z.number().int().min(0),
  }).optional(),
  instance_pool_id: z.string().optional(),
});

const PoolSchema = apiObject('InstancePoolAndStats', INSTANCE_POOL_FIELDS, {
  instance_pool_id: z.string().min(1).optional(),
  instance_pool_name: z.string().optional(),
  node_type_id: z.string().default('i3.xlarge'),
  min_idle_instances: z.number().int().min(0).default(0),
  max_capacity: z.number().int().min(1).optional(),
  idle_instance_autotermination_minutes: z.number().int().min(0).max(10000).optional(),
  state: z.enum(['ACTIVE', 'STOPPED', 'DELETED']).default('ACTIVE'),
  stats: apiObject('InstancePoolStats', INSTANCE_POOL_STATS_FIELDS, {
    idle_count: z.number().int().min(0).optional(),
    used_count: z.number().int().min(0).optional(),
    pending_idle_count: z.number().int().min(0).optional(),
    pending_used_count: z.number().int().min(0).optional(),
  }).optional(),
});

const WarehouseSchema = apiObject('EndpointInfo', WAREHOUSE_FIELDS, {
  id: z.string().min(1).optional(),
  name: z.string().optional(),
  state: WarehouseState.default('RUNNING'),
  warehouse_type: z.enum(['CLASSIC', 'PRO', 'TYPE_UNSPECIFIED']).default('PRO'),
  enable_serverless_compute: z.boolean().default(false),
});

const SchedulePart = apiObject('CronSchedule', CRON_SCHEDULE_FIELDS, {
  quartz_cron_expression: z.string().min(1),
  timezone_id: z.string().min(1),
  pause_status: PauseStatus.optional(),
});
const ContinuousPart = apiObject('Continuous', CONTINUOUS_FIELDS, { pause_status: PauseStatus.optional() });
const TriggerPart = apiObject('TriggerSettings', TRIGGER_SETTINGS_FIELDS, {
  pause_status: PauseStatus.optional(),
});

const JobSchema = apiObject('BaseJob', JOB_FIELDS, {
  job_id: z.number().int().positive().optional(),
  settings: apiObject('JobSettings', JOB_SETTINGS_FIELDS, {
    name: z.string().optional(),
    schedule: SchedulePart.optional(),
    continuous: ContinuousPart.optional(),
    trigger: TriggerPart.optional(),
  })
    .refine((s) => !(s.schedule && s.continuous), 'a job has either schedule or continuous, not both')
    .default({}),
  created_time: z.number().optional(),
  creator_user_name: z.string().optional(),
});

const RunSchema = apiObject('BaseRun', [...RUN_FIELDS, ...RUN_EXTENSIONS], {
  run_id: z.number().int().positive().optional(),
  job_id: z.number().int().positive().optional(),
  state: apiObject('RunState', RUN_STATE_FIELDS, {
    life_cycle_state: RunLifeCycleState.default('RUNNING'),
    result_state: z.string().optional(),
    state_message: z.string().optional(),
  }).default({ life_cycle_state: 'RUNNING' }),
  /** Emulator-only: an active run ends by itself (SUCCESS) this many simulated seconds after start. */
  remainingSeconds: z.number().min(0).nullable().optional(),
  cluster_instance: apiObject('ClusterInstance', CLUSTER_INSTANCE_FIELDS, {
    cluster_id: z.string().optional(),
  }).optional(),
});

const PipelineSchema = apiObject('GetPipelineResponse', PIPELINE_FIELDS, {
  pipeline_id: z.string().min(1).optional(),
  name: z.string().optional(),
  state: PipelineState.default('RUNNING'),
  spec: apiObject('PipelineSpec', PIPELINE_SPEC_FIELDS, {
    continuous: z.boolean().optional(),
    serverless: z.boolean().optional(),
  }).default({}),
  cluster_id: z.string().optional(),
});

/**
 * A workspace: the Account API `Workspace` plus its resources. The pools may be given as `instancePools`
 * (the format's spelling) or `instance_pools` (the list answer's); they end up in `instancePools`.
 */
const WorkspaceSchema = apiObject('Workspace', [...WORKSPACE_FIELDS, ...WORKSPACE_COLLECTIONS], {
  workspace_id: z.number().int().positive(),
  workspace_name: z.string().min(1).optional(),
  deployment_name: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'expected a DNS label (lowercase letters, digits, hyphens)')
    .optional(),
  aws_region: z.string().min(1).optional(),
  workspace_status: WorkspaceStatus.default('RUNNING'),
  /** Emulator-only: `customer-managed` VPCs stay RUNNING during an update. */
  network: z.enum(['databricks-managed', 'customer-managed']).optional(),
  managed_services_customer_managed_key_id: z.string().min(1).nullable().optional(),
  storage_customer_managed_key_id: z.string().min(1).nullable().optional(),
  credentials_id: z.string().min(1).optional(),
  clusters: z.array(ClusterSchema).default([]),
  instancePools: z.array(PoolSchema).optional(),
  instance_pools: z.array(PoolSchema).optional(),
  warehouses: z.array(WarehouseSchema).default([]),
  jobs: z.array(JobSchema).default([]),
  runs: z.array(RunSchema).default([]),
  pipelines: z.array(PipelineSchema).default([]),
})
  .refine((w) => w.instancePools === undefined || w.instance_pools === undefined, {
    message: 'give the pools once, as instancePools or as instance_pools',
    path: ['instance_pools'],
  })
  .transform((w) => {
    const pools = w.instancePools ?? w.instance_pools ?? [];
    delete w.instance_pools;
    return Object.assign(w, { instancePools: pools });
  });

const CredentialSchema = z.looseObject({
  credentials_id: z.string().min(1),
  credentials_name: z.string().optional(),
  aws_credentials: z.looseObject({ sts_role: z.looseObject({ role_arn: z.string().min(1) }) }),
});

/**
 * A fault that answers matching requests with `status` instead of serving them. `status: 0` drops the
 * connection without an answer (a network error or timeout as the client sees it). `after: true` serves
 * the request first — it takes effect — and then replaces the answer: a lost response.
 */
const StatusFaultSchema = z.strictObject({
  method: z
    .string()
    .transform((m) => m.toUpperCase())
    .pipe(z.enum(['GET', 'POST', 'PATCH', 'PUT', 'DELETE']))
    .optional(),
  /** Path without the query string (and without `/ws/{deployment}`); `*` matches one segment. */
  path: z.string().startsWith('/'),
  status: z
    .number()
    .int()
    .refine((n) => n === 0 || (n >= 100 && n <= 599), 'expected an HTTP status (100-599) or 0 (dropped)'),
  times: z.number().int().min(1).default(1),
  after: z.boolean().default(false),
  /** Only from the n-th matching request on (1 = the first); earlier ones are served normally. */
  skip: z.number().int().min(0).default(0),
  retryAfterSeconds: z.number().min(0).optional(),
  workspace_id: z.number().int().positive().optional(),
  error_code: z.string().min(1).optional(),
  message: z.string().optional(),
});
const KindFaultSchemas = {
  silentRevert: z.strictObject({
    kind: z.literal('silentRevert'),
    workspace_id: z.number().int().positive(),
    times: z.number().int().min(1).default(1),
  }),
  failUpdate: z.strictObject({
    kind: z.literal('failUpdate'),
    workspace_id: z.number().int().positive(),
    message: z.string().optional(),
    times: z.number().int().min(1).default(1),
  }),
  autoStartWarehouse: z.strictObject({
    kind: z.literal('autoStartWarehouse'),
    id: z.string().min(1),
    afterSeconds: z.number().min(0),
    workspace_id: z.number().int().positive().optional(),
  }),
  shortList: z.strictObject({
    kind: z.literal('shortList'),
    /** A list endpoint (`/api/2.1/clusters/list`, `/api/2.0/sql/warehouses`, …); `*` matches one segment. */
    path: z.string().startsWith('/'),
    /** Ids left out of the answer (cluster_id, id, pipeline_id, instance_pool_id or job_id). */
    omit: z.array(z.union([z.string(), z.number()])).min(1),
    times: z.number().int().min(1).default(1),
    workspace_id: z.number().int().positive().optional(),
  }),
  startCluster: z
    .strictObject({
      kind: z.literal('startCluster'),
      cluster_id: z.string().min(1),
      /** "A user" starts it this long after it reaches TERMINATED (once). */
      afterSeconds: z.number().min(0).optional(),
      /** Or at this simulated second of the run, if it is TERMINATED then (e.g. one that never ran). */
      atSeconds: z.number().min(0).optional(),
      /** Or this long after the first `clusters/delete` call in its workspace (the stop has begun). */
      afterStopSeconds: z.number().min(0).optional(),
      workspace_id: z.number().int().positive().optional(),
    })
    .refine(
      (f) => [f.afterSeconds, f.atSeconds, f.afterStopSeconds].filter((x) => x !== undefined).length === 1,
      {
        message: 'give exactly one of afterSeconds, atSeconds and afterStopSeconds',
        path: ['afterSeconds'],
      },
    ),
};
export type StatusFault = z.output<typeof StatusFaultSchema>;
export type KindFault = {
  [K in keyof typeof KindFaultSchemas]: z.output<(typeof KindFaultSchemas)[K]>;
}[keyof typeof KindFaultSchemas];
export type Fault = StatusFault | KindFault;

const DatabricksSchema = z.strictObject({
  accountId: z.string().min(1).default(DEFAULT_DATABRICKS_ACCOUNT_ID),
  servicePrincipal: z
    .strictObject({ clientId: z.string().min(1), clientSecret: z.string().min(1) })
    .default({ ...DEFAULT_SERVICE_PRINCIPAL }),
  keyConfigs: z.array(KeyConfigSchema).default([]),
  credentials: z.array(CredentialSchema).default([]),
  workspaces: z.array(WorkspaceSchema).optional(),
  timings: TimingsSchema.default(TimingsSchema.parse({})),
  rateLimits: z
    .strictObject({
      workspace: z.number().positive().nullable().default(null),
      account: z.number().positive().nullable().default(null),
      /** Token requests per simulated second per OAuth token endpoint (account, each workspace). */
      token: z.number().positive().nullable().default(null),
    })
    .default({ workspace: null, account: null, token: null }),
  faults: z.array(z.record(z.string(), z.unknown())).default([]),
  /**
   * Per-endpoint round trips overriding `timings.apiLatencyMs`: the first entry whose `method` (if given) and
   * `path` (`*` = one segment, as in faults) match the request wins.
   */
  latency: z
    .array(z.strictObject({ method: z.string().optional(), path: z.string().startsWith('/'), ms: Range }))
    .default([]),
  seed: z.number().int().default(42),
});

/** Deployment settings of the product for this scenario (free-form, common ones typed). */
const SettingsSchema = z.looseObject({
  watchedAlias: z.string().startsWith('alias/').optional(),
  workspaceIds: z.union([z.array(z.number().int().positive()), z.literal('all')]).optional(),
  storageWaitMinutes: z.number().min(0).optional(),
  oldKeyRetentionHours: z.number().min(24).optional(),
  maxConcurrentWorkspaces: z.number().int().min(1).optional(),
  apiConcurrency: z.number().int().min(1).optional(),
  policyAccountIds: z.array(z.string()).optional(),
  databricksPrincipalArn: z.string().startsWith('arn:').optional(),
  /** EMERGENCY_ROTATION: rotate away from a key in use still unusable after the grace delay (default false). */
  emergencyRotation: z.boolean().optional(),
  /** REPAIR_POLICY_ON_ROTATION: re-grant Databricks after a KMS rotation event (default false: KeyPolicyDrift). */
  repairPolicyOnRotation: z.boolean().optional(),
  /** KEY_RECHECK_GRACE_MINUTES: how long to wait before reading a disabled key in use again (default 10). */
  keyRecheckGraceMinutes: z.number().min(0).optional(),
});

/** A scenario's `settings` fields and the environment variable (deployment setting) each one sets. */
export const SCENARIO_SETTINGS: Readonly<Record<string, string>> = {
  watchedAlias: 'WATCHED_ALIAS',
  workspaceIds: 'WORKSPACE_IDS',
  storageWaitMinutes: 'STORAGE_WAIT_MINUTES',
  oldKeyRetentionHours: 'OLD_KEY_RETENTION_HOURS',
  maxConcurrentWorkspaces: 'MAX_CONCURRENT_WORKSPACES',
  databricksPrincipalArn: 'DATABRICKS_PRINCIPAL_ARN',
  policyAccountIds: 'DATABRICKS_POLICY_ACCOUNT_IDS',
  apiConcurrency: 'API_CONCURRENCY',
  computeStopTimeoutMinutes: 'COMPUTE_STOP_TIMEOUT_MINUTES',
  workspaceUpdateTimeoutMinutes: 'WORKSPACE_UPDATE_TIMEOUT_MINUTES',
  computeRestoreTimeoutMinutes: 'COMPUTE_RESTORE_TIMEOUT_MINUTES',
  recoveryWorkspaceWaitMinutes: 'RECOVERY_WORKSPACE_WAIT_MINUTES',
  emergencyRotation: 'EMERGENCY_ROTATION',
  repairPolicyOnRotation: 'REPAIR_POLICY_ON_ROTATION',
  keyRecheckGraceMinutes: 'KEY_RECHECK_GRACE_MINUTES',
};

const ScenarioSchema = z.strictObject({
  name: z.string().min(1).optional(),
  timeScale: z.number().positive().optional(),
  aws: AwsSchema.default(AwsSchema.parse({})),
  databricks: DatabricksSchema.default(DatabricksSchema.parse({})),
  settings: SettingsSchema.default({}),
  input: z.unknown().optional(),
  /**
   * Several executions on the same clock and emulators (concurrency, duplicate deliveries), instead of
   * `input`: each starts `startAtSeconds` after the run begins.
   */
  executions: z
    .array(
      z.strictObject({
        input: z.unknown(),
        startAtSeconds: z.number().min(0).default(0),
        /** Execution name (`$$.Execution.Name`); default `local-<scenario>-<n>`. */
        name: z.string().min(1).max(80).optional(),
      }),
    )
    .min(1)
    .optional(),
});

/**
 * Parses a scenario (JSON already read), fills every default, and checks the cross-references the
 * emulator relies on (pool ids, key configuration ids, fault targets). Raises `InvalidScenario` naming
 * the first bad field.
 */
export function parseScenario(json: unknown, source?: string) {
  const parsed = ScenarioSchema.safeParse(json);
  if (!parsed.success) throw fromZod(parsed.error, source);
  const raw = parsed.data;
  if (raw.input !== undefined && raw.executions !== undefined) {
    throw new InvalidScenario('scenario fields input and executions exclude each other: give one', {
      details: { field: 'executions', source },
    });
  }
  const faults = raw.databricks.faults.map((f, i) => parseFault(f, i, source));
  const scenario = applyDefaults(raw, faults, source);
  checkReferences(scenario, source);
  return scenario;
}

/** Reads and parses a scenario file; a missing file or bad JSON is an `InvalidScenario` too. */
export async function loadScenario(path: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new InvalidScenario(`cannot read scenario file ${path}: ${(error as Error).message}`, {
      details: { source: path },
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InvalidScenario(`scenario file ${path} is not valid JSON: ${(error as Error).message}`, {
      details: { source: path },
    });
  }
  return parseScenario(json, path);
}

export type Scenario = ReturnType<typeof applyDefaults>;
export type ScenarioWorkspace = Scenario['databricks']['workspaces'][number];
export type ScenarioCluster = ScenarioWorkspace['clusters'][number];
export type ScenarioPool = ScenarioWorkspace['instancePools'][number];
export type ScenarioWarehouse = ScenarioWorkspace['warehouses'][number];
export type ScenarioJob = ScenarioWorkspace['jobs'][number];
export type ScenarioRun = ScenarioWorkspace['runs'][number];
export type ScenarioPipeline = ScenarioWorkspace['pipelines'][number];
export type ScenarioKeyConfig = Scenario['databricks']['keyConfigs'][number];
export type ScenarioKey = Scenario['aws']['keys'][number];

type RawScenario = z.output<typeof ScenarioSchema>;
type RawWorkspace = z.output<typeof WorkspaceSchema>;

function applyDefaults(raw: RawScenario, faults: Fault[], source: string | undefined) {
  const { aws, databricks } = raw;
  const seed = databricks.seed;
  const keys = (
    aws.keys ?? [KeySchema.parse({ keyId: DEFAULT_KEY_ID, aliases: ['alias/databricks-managed-services'] })]
  ).map((k) => ({ ...k, region: k.region ?? aws.region, policy: k.policy ?? defaultPolicy(aws.accountId) }));
  const sp = databricks.servicePrincipal;
  const secrets = aws.secrets ?? {
    [DEFAULT_SECRET_NAME]: { client_id: sp.clientId, client_secret: sp.clientSecret },
  };
  const rawWorkspaces: RawWorkspace[] = databricks.workspaces ?? [
    WorkspaceSchema.parse({ ...DEFAULT_WORKSPACE }),
  ];
  const credentials = [...databricks.credentials];
  const workspaces = rawWorkspaces.map((w) => {
    const deployment =
      w.deployment_name ??
      `dbc-${seededToken(seed, `deployment:${w.workspace_id}`, 8)}-${seededToken(seed, `deployment2:${w.workspace_id}`, 4)}`;
    let credentialsId = w.credentials_id;
    if (credentialsId === undefined) {
      credentialsId = `${seededToken(seed, `cred:${w.workspace_id}`, 8)}-0000-4000-8000-${seededToken(seed, `cred2:${w.workspace_id}`, 12)}`;
      credentials.push(
        CredentialSchema.parse({
          credentials_id: credentialsId,
          credentials_name: `${deployment}-credentials`,
          account_id: databricks.accountId,
          aws_credentials: {
            sts_role: {
              role_arn: `arn:aws:iam::${aws.accountId}:role/databricks-cross-account-${deployment}`,
              external_id: databricks.accountId,
            },
          },
        }),
      );
    }
    return {
      ...w,
      workspace_name: w.workspace_name ?? deployment,
      deployment_name: deployment,
      aws_region: w.aws_region ?? aws.region,
      account_id: typeof w.account_id === 'string' ? w.account_id : databricks.accountId,
      network: w.network ?? (typeof w.network_id === 'string' ? 'customer-managed' : 'databricks-managed'),
      // A customer-managed VPC is a network configuration of the account: the Account API's workspace
      // object names it in `network_id` (absent for a Databricks-managed VPC).
      ...(w.network === 'customer-managed' && typeof w.network_id !== 'string'
        ? {
            network_id: `${seededToken(seed, `network:${w.workspace_id}`, 8)}-0000-4000-8000-${seededToken(seed, `network2:${w.workspace_id}`, 12)}`,
          }
        : {}),
      managed_services_customer_managed_key_id: w.managed_services_customer_managed_key_id ?? null,
      storage_customer_managed_key_id: w.storage_customer_managed_key_id ?? null,
      credentials_id: credentialsId,
      clusters: w.clusters.map((c, i) => ({
        ...c,
        cluster_id:
          c.cluster_id ??
          `0101-000000-${seededToken(seed, `cluster:${w.workspace_id}:${i}`, 8, 'abcdefghijklmnopqrstuvwxyz0123456789')}`,
        cluster_name: c.cluster_name ?? `cluster-${i + 1}`,
      })),
      instancePools: w.instancePools.map((p, i) => ({
        ...p,
        instance_pool_id:
          p.instance_pool_id ?? `0101-000000-pool${seededToken(seed, `pool:${w.workspace_id}:${i}`, 8)}`,
        instance_pool_name: p.instance_pool_name ?? `pool-${i + 1}`,
      })),
      warehouses: w.warehouses.map((h, i) => ({
        ...h,
        id: h.id ?? seededToken(seed, `warehouse:${w.workspace_id}:${i}`, 16),
        name: h.name ?? `warehouse-${i + 1}`,
      })),
      jobs: w.jobs.map((j, i) => ({ ...j, job_id: j.job_id ?? 1000 + i })),
      runs: w.runs.map((r, i) => ({ ...r, run_id: r.run_id ?? 100000 + i })),
      pipelines: w.pipelines.map((p, i) => ({
        ...p,
        pipeline_id:
          p.pipeline_id ??
          `${seededToken(seed, `pipeline:${w.workspace_id}:${i}`, 8)}-0000-4000-8000-${String(i).padStart(12, '0')}`,
        name: p.name ?? `pipeline-${i + 1}`,
      })),
    };
  });
  return {
    name: raw.name ?? (source ? basename(source).replace(/\.json$/i, '') : 'scenario'),
    timeScale: raw.timeScale,
    aws: {
      accountId: aws.accountId,
      region: aws.region,
      keys,
      secrets,
      faults: aws.faults,
      principals: aws.principals,
    },
    databricks: { ...databricks, credentials, workspaces, faults },
    settings: raw.settings,
    input: raw.input,
    executions: raw.executions,
  };
}

function parseFault(value: Record<string, unknown>, index: number, source: string | undefined): Fault {
  const where = ['databricks', 'faults', index];
  if ('kind' in value) {
    const kind = value.kind;
    const schema =
      typeof kind === 'string' ? KindFaultSchemas[kind as keyof typeof KindFaultSchemas] : undefined;
    if (!schema || !Object.hasOwn(KindFaultSchemas, String(kind))) {
      throw scenarioError(
        `${fieldPath([...where, 'kind'])}: unknown fault kind ${JSON.stringify(kind)}; expected one of ${Object.keys(KindFaultSchemas).join(', ')}, or a status fault {method, path, status, times}`,
        [...where, 'kind'],
        source,
      );
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw fromZod(parsed.error, source, where);
    return parsed.data;
  }
  const parsed = StatusFaultSchema.safeParse(value);
  if (!parsed.success) throw fromZod(parsed.error, source, where);
  return parsed.data;
}

function checkReferences(scenario: Scenario, source: string | undefined): void {
  const fail = (path: Array<string | number>, message: string): never => {
    throw scenarioError(`${fieldPath(path)}: ${message}`, path, source);
  };
  const configIds = new Set<string>();
  scenario.databricks.keyConfigs.forEach((c, i) => {
    if (configIds.has(c.customer_managed_key_id)) {
      fail(
        ['databricks', 'keyConfigs', i, 'customer_managed_key_id'],
        `duplicate id ${c.customer_managed_key_id}`,
      );
    }
    configIds.add(c.customer_managed_key_id);
  });
  const wsIds = new Set<number>();
  const deployments = new Set<string>();
  const warehouseIds = new Set<string>();
  const clusterIds = new Set<string>();
  scenario.databricks.workspaces.forEach((w, wi) => {
    const at = (...rest: Array<string | number>) => ['databricks', 'workspaces', wi, ...rest];
    if (wsIds.has(w.workspace_id)) fail(at('workspace_id'), `duplicate workspace id ${w.workspace_id}`);
    wsIds.add(w.workspace_id);
    if (deployments.has(w.deployment_name))
      fail(at('deployment_name'), `duplicate deployment name ${w.deployment_name}`);
    deployments.add(w.deployment_name);
    for (const field of [
      'managed_services_customer_managed_key_id',
      'storage_customer_managed_key_id',
    ] as const) {
      const id = w[field];
      if (id !== null && !configIds.has(id)) {
        fail(at(field), `key configuration ${id} is not in databricks.keyConfigs`);
      }
    }
    const pools = new Set<string>();
    w.instancePools.forEach((p, i) => {
      if (pools.has(p.instance_pool_id)) fail(at('instancePools', i, 'instance_pool_id'), 'duplicate id');
      pools.add(p.instance_pool_id);
    });
    const local = new Set<string>();
    w.clusters.forEach((c, i) => {
      if (local.has(c.cluster_id)) fail(at('clusters', i, 'cluster_id'), `duplicate id ${c.cluster_id}`);
      local.add(c.cluster_id);
      clusterIds.add(c.cluster_id);
      if (c.instance_pool_id !== undefined && !pools.has(c.instance_pool_id)) {
        fail(
          at('clusters', i, 'instance_pool_id'),
          `instance pool ${c.instance_pool_id} is not in this workspace's instancePools`,
        );
      }
    });
    const whs = new Set<string>();
    w.warehouses.forEach((h, i) => {
      if (whs.has(h.id)) fail(at('warehouses', i, 'id'), `duplicate id ${h.id}`);
      whs.add(h.id);
      warehouseIds.add(h.id);
    });
    const jobs = new Set<number>();
    w.jobs.forEach((j, i) => {
      if (jobs.has(j.job_id)) fail(at('jobs', i, 'job_id'), `duplicate id ${j.job_id}`);
      jobs.add(j.job_id);
    });
    const runs = new Set<number>();
    w.runs.forEach((r, i) => {
      if (runs.has(r.run_id)) fail(at('runs', i, 'run_id'), `duplicate id ${r.run_id}`);
      runs.add(r.run_id);
      if (r.job_id !== undefined && !jobs.has(r.job_id))
        fail(at('runs', i, 'job_id'), `job ${r.job_id} is not in this workspace's jobs`);
      const cid = r.cluster_instance?.cluster_id;
      if (cid !== undefined && !local.has(cid))
        fail(
          at('runs', i, 'cluster_instance', 'cluster_id'),
          `cluster ${cid} is not in this workspace's clusters`,
        );
    });
    const pipelines = new Set<string>();
    w.pipelines.forEach((p, i) => {
      if (pipelines.has(p.pipeline_id))
        fail(at('pipelines', i, 'pipeline_id'), `duplicate id ${p.pipeline_id}`);
      pipelines.add(p.pipeline_id);
      if (p.cluster_id !== undefined && !local.has(p.cluster_id))
        fail(at('pipelines', i, 'cluster_id'), `cluster ${p.cluster_id} is not in this workspace's clusters`);
    });
  });
  scenario.databricks.faults.forEach((f, i) => {
    const at = (field: string) => ['databricks', 'faults', i, field];
    if ('workspace_id' in f && f.workspace_id !== undefined && !wsIds.has(f.workspace_id)) {
      fail(at('workspace_id'), `workspace ${f.workspace_id} is not in databricks.workspaces`);
    }
    if ('kind' in f && f.kind === 'autoStartWarehouse' && !warehouseIds.has(f.id)) {
      fail(at('id'), `warehouse ${f.id} is not in any workspace's warehouses`);
    }
    if ('kind' in f && f.kind === 'startCluster' && !clusterIds.has(f.cluster_id)) {
      fail(at('cluster_id'), `cluster ${f.cluster_id} is not in any workspace's clusters`);
    }
  });
}

function scenarioError(
  message: string,
  path: Array<string | number>,
  source: string | undefined,
): InvalidScenario {
  const where = source ? ` (${source})` : '';
  return new InvalidScenario(`scenario field ${message}${where}`, {
    details: { field: fieldPath(path), source },
  });
}

function fromZod(
  error: z.ZodError,
  source: string | undefined,
  prefix: Array<string | number> = [],
): InvalidScenario {
  const issue = error.issues[0];
  const where = source ? ` (${source})` : '';
  if (!issue) return new InvalidScenario(`scenario is invalid${where}`, { details: { source } });
  const path = [...prefix, ...(issue.path as Array<string | number>)];
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.join(', ');
    const at = path.length > 0 ? ` in ${fieldPath(path)}` : '';
    return new InvalidScenario(`scenario has unknown field(s)${at}: ${keys}${where}`, {
      details: { field: path.length > 0 ? `${fieldPath(path)}.${keys}` : keys, source },
    });
  }
  return new InvalidScenario(`scenario field ${fieldPath(path)}: ${issue.message}${where}`, {
    details: { field: fieldPath(path), source },
  });
}
