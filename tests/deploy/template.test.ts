import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildAllBundles, type FunctionBundle } from '../../bench/bundles.ts';
import { LOCK_TABLE_SCHEMA, LOCK_TABLE_TTL_ATTRIBUTE } from '../../lib/lock/index.ts';
import { matchesPattern } from './event-pattern.ts';
import { parseIamTable, sortRows, templateIamRows } from './iam-table.ts';
import {
  actionsOf,
  type Cfn,
  evaluateCondition,
  fixture,
  fixtureNames,
  packageService,
  ROOT,
  resolve,
  resourcesOfType,
  roleStatements,
  type Statement,
  type Template,
} from './template.ts';

const MACHINE = 'RotateWorkspaceKeyStateMachine';
/** The per-workspace machine the rotation's Map starts once per workspace (states:startExecution.sync:2). */
const CHILD_MACHINE = 'RotateOneWorkspaceStateMachine';
const TOPIC = 'NotificationTopic';
/** The target of the two notification rules. */
const NOTIFIER = 'NotifyExecutionEndedLambdaFunction';
/** The fixture's execution events stand for this stack's machine. */
const MACHINE_ARN = fixture('sfn-execution-failed').detail.stateMachineArn as string;

/** The fourteen steps: ASL placeholder → functions/<file>.ts. */
const STEPS: Record<string, string> = {
  PlanFunctionArn: 'plan',
  PatchKeyPolicyFunctionArn: 'patch-key-policy',
  RegisterKeyConfigFunctionArn: 'register-key-config',
  StopComputeFunctionArn: 'stop-compute',
  CheckComputeStoppedFunctionArn: 'check-compute-stopped',
  UpdateWorkspaceFunctionArn: 'update-workspace',
  CheckWorkspaceFunctionArn: 'check-workspace',
  RestoreComputeFunctionArn: 'restore-compute',
  CheckComputeRestoredFunctionArn: 'check-compute-restored',
  CheckWorkspaceSettledFunctionArn: 'check-workspace-settled',
  ReportComputeNotRestoredFunctionArn: 'report-compute-not-restored',
  VerifyFunctionArn: 'verify',
  FinishRotationFunctionArn: 'finish-rotation',
  AnnounceRetentionFunctionArn: 'announce-retention',
};
const logicalId = (placeholder: string) => placeholder.replace(/FunctionArn$/, '');
/** The lock steps: Tasks of the per-workspace machine (rotate-one-workspace). */
const LOCK_STEPS: Record<string, string> = {
  AcquireWorkspaceLockFunctionArn: 'acquire-workspace-lock',
  ReleaseWorkspaceLockFunctionArn: 'release-workspace-lock',
  LoadWorkspacePlanFunctionArn: 'load-workspace-plan',
};
/**
 * Each state machine: its ASL file, and what its placeholders are bound to — the functions of its own Tasks,
 * and the machines it starts.
 */
const MACHINES: Record<string, { file: string; functions: string[]; machines: Record<string, string> }> = {
  [MACHINE]: {
    file: 'rotate-workspace-key.asl.json',
    functions: [
      'PlanFunctionArn',
      'VerifyFunctionArn',
      'FinishRotationFunctionArn',
      'AnnounceRetentionFunctionArn',
    ],
    machines: { RotateOneWorkspaceStateMachineArn: CHILD_MACHINE },
  },
  [CHILD_MACHINE]: {
    file: 'rotate-one-workspace.asl.json',
    functions: [
      ...Object.keys(LOCK_STEPS),
      'PatchKeyPolicyFunctionArn',
      'RegisterKeyConfigFunctionArn',
      'StopComputeFunctionArn',
      'CheckComputeStoppedFunctionArn',
      'UpdateWorkspaceFunctionArn',
      'CheckWorkspaceFunctionArn',
      'RestoreComputeFunctionArn',
      'CheckComputeRestoredFunctionArn',
      'CheckWorkspaceSettledFunctionArn',
      'ReportComputeNotRestoredFunctionArn',
    ],
    machines: {},
  },
};
/** Every function a Task calls: ASL placeholder → functions/<file>.ts. */
const TASK_FUNCTIONS: Record<string, string> = { ...STEPS, ...LOCK_STEPS };
/** The only Task that calls no Lambda: the rotation starting a workspace's own execution. */
const START_CHILD = 'arn:aws:states:::states:startExecution.sync:2';
/** Functions that no Task calls: targets of EventBridge rules. */
const EVENT_TARGETS = ['release-locks-on-abort', 'notify-execution-ended'];
const ALL_FUNCTIONS = [...Object.values(STEPS), ...Object.values(LOCK_STEPS), ...EVENT_TARGETS].sort();
const DLQ = 'EventDeliveryDeadLetterQueue';
const LOCK_TABLE = 'LockTable';

const LOGS = ['logs:CreateLogStream', 'logs:PutLogEvents'];
const SECRET = ['secretsmanager:GetSecretValue'];
const SNAPSHOTS = ['s3:GetObject', 's3:PutObject', 's3:ListBucket'];
const SNAPSHOT_READ = ['s3:GetObject', 's3:ListBucket'];
const TAKE_LOCK = ['dynamodb:PutItem', 'dynamodb:GetItem'];
/** The polls renew the workspace lock's lease. */
const RENEW_LOCK = ['dynamodb:UpdateItem', 'dynamodb:GetItem'];
/** The steps that change something renew the lease first, or take a lapsed lock nobody took again. */
const HOLD_LOCK = ['dynamodb:UpdateItem', 'dynamodb:GetItem', 'dynamodb:PutItem'];
/** What each function's role may do, and nothing else. */
const EXPECTED_ACTIONS: Record<string, string[]> = {
  plan: [
    ...LOGS,
    ...SECRET,
    'kms:DescribeKey',
    'kms:GetKeyPolicy',
    ...TAKE_LOCK,
    's3:PutObject',
    's3:GetObject',
    's3:ListBucket',
  ],
  'patch-key-policy': [
    ...LOGS,
    ...SECRET,
    ...HOLD_LOCK,
    'kms:DescribeKey',
    'kms:GetKeyPolicy',
    'kms:PutKeyPolicy',
  ],
  'register-key-config': [...LOGS, ...SECRET, ...HOLD_LOCK],
  'stop-compute': [...LOGS, ...SECRET, ...SNAPSHOTS, ...HOLD_LOCK],
  'check-compute-stopped': [...LOGS, ...SECRET, ...SNAPSHOTS, ...RENEW_LOCK],
  'update-workspace': [...LOGS, ...SECRET, ...HOLD_LOCK, 'kms:DescribeKey', 'kms:GetKeyPolicy'],
  'check-workspace': [...LOGS, ...SECRET, ...SNAPSHOTS, ...RENEW_LOCK],
  'restore-compute': [...LOGS, ...SECRET, ...SNAPSHOTS, ...HOLD_LOCK],
  'check-compute-restored': [...LOGS, ...SECRET, ...SNAPSHOTS, 's3:DeleteObject', ...RENEW_LOCK],
  'check-workspace-settled': [...LOGS, ...SECRET, ...SNAPSHOTS, ...RENEW_LOCK],
  'report-compute-not-restored': [...LOGS, ...SECRET, ...SNAPSHOT_READ],
  verify: [...LOGS, ...SECRET, 'kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:PutKeyPolicy', 's3:GetObject'],
  'finish-rotation': [...LOGS],
  'announce-retention': [...LOGS, 'sns:Publish'],
  'acquire-workspace-lock': [...LOGS, ...TAKE_LOCK],
  'release-workspace-lock': [...LOGS, 'dynamodb:DeleteItem'],
  'load-workspace-plan': [...LOGS, 's3:GetObject'],
  'release-locks-on-abort': [...LOGS, 'dynamodb:Query', 'dynamodb:DeleteItem', 'sqs:SendMessage'],
  'notify-execution-ended': [...LOGS, 'states:DescribeExecution', 'sns:Publish', 'sqs:SendMessage'],
};
/** The functions whose code calls Databricks (through `env.databricks()` or the compute steps' deps). */
const DATABRICKS_CALLERS = [
  'plan',
  'patch-key-policy',
  'register-key-config',
  'stop-compute',
  'check-compute-stopped',
  'update-workspace',
  'check-workspace',
  'check-workspace-settled',
  'report-compute-not-restored',
  'restore-compute',
  'check-compute-restored',
  'verify',
].sort();
/** Functions that only read KMS: never a KMS write, whatever else they do. */
const KMS_READ_ONLY = ['plan', 'update-workspace'];
/** KMS calls that change a key or its policy. */
const KMS_READ_ACTIONS = new Set(['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:ListAliases']);
/** The tag the security team marks keys with (params keyTagKey and keyTagValue, defaults). */
const KEY_TAG_CONDITION = { StringEquals: { 'aws:ResourceTag/cmk-rotator:managed': 'true' } };

/** Trigger rule → the fixture it exists for. */
const TRIGGERS: Record<string, string> = {
  KeyRotationRule: 'kms-cmk-rotation',
  KeyDeletionRule: 'kms-cmk-deletion',
  ImportedKeyMaterialExpirationRule: 'kms-imported-material-expiration',
  DisableKeyRule: 'cloudtrail-disable-key',
  ScheduleKeyDeletionRule: 'cloudtrail-schedule-key-deletion',
  AliasMovedRule: 'cloudtrail-update-alias',
};
const RULE_FIXTURES: Record<string, string> = {
  ...TRIGGERS,
  ExecutionFailedNotificationRule: 'sfn-execution-failed',
};

const ALARMS: Record<string, string> = {
  ExecutionsFailedAlarm: 'ExecutionsFailed',
  ExecutionsTimedOutAlarm: 'ExecutionsTimedOut',
  ExecutionsAbortedAlarm: 'ExecutionsAborted',
  ExecutionThrottledAlarm: 'ExecutionThrottled',
};

/** Actions AWS offers no resource-level permission for; only these may use Resource "*". */
const STAR_RESOURCE_ALLOWED = new Set([
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
]);

let template: Template;
let artifacts: string[];
let functions: Record<string, Cfn>;
const aslText = (machineId: string) =>
  readFileSync(path.join(ROOT, 'statemachines', MACHINES[machineId]?.file ?? ''), 'utf8');

/** Every Task of the ASL (nested Map processors included). */
function tasks(states: Record<string, Cfn>): Cfn[] {
  return Object.values(states).flatMap((s) => [
    ...(s.Type === 'Task' ? [s] : []),
    ...(s.ItemProcessor ? tasks(s.ItemProcessor.States) : []),
    ...(s.Iterator ? tasks(s.Iterator.States) : []),
    ...(s.Branches ?? []).flatMap((b: Cfn) => tasks(b.States)),
  ]);
}

const fnFile = (fn: Cfn): string => /^functions\/(.+)\.handler$/.exec(fn.Properties.Handler)?.[1] ?? '';
const roleOf = (file: string): string => {
  const fn = Object.values(functions).find((f) => fnFile(f) === file);
  return fn?.Properties.Role['Fn::GetAtt'][0];
};
const allStatements = (): { where: string; statement: Statement }[] => [
  ...Object.keys(resourcesOfType(template, 'AWS::IAM::Role')).flatMap((id) =>
    roleStatements(template, id).map((statement) => ({ where: id, statement })),
  ),
  ...Object.entries({
    ...resourcesOfType(template, 'AWS::SNS::TopicPolicy'),
    ...resourcesOfType(template, 'AWS::S3::BucketPolicy'),
  }).flatMap(([id, r]) =>
    (resolve(template, r.Properties.PolicyDocument).Statement as Statement[]).map((statement) => ({
      where: id,
      statement,
    })),
  ),
];

beforeAll(async () => {
  ({ template, artifacts } = await packageService(150_000));
  functions = resourcesOfType(template, 'AWS::Lambda::Function');
}, 180_000);

describe('npm run package', () => {
  it('packages every function offline, without AWS credentials', () => {
    expect(artifacts.sort()).toHaveLength(ALL_FUNCTIONS.length);
    expect(Object.keys(functions)).toHaveLength(ALL_FUNCTIONS.length);
  });
});

describe('functions', () => {
  it('deploys one Lambda per step file on nodejs22.x arm64', () => {
    const files = Object.values(functions).map(fnFile).sort();
    expect(files).toEqual(ALL_FUNCTIONS);
    for (const fn of Object.values(functions)) {
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(existsSync(path.join(ROOT, 'functions', `${fnFile(fn)}.ts`))).toBe(true);
    }
  });

  it('gives every function a role of its own', () => {
    const roles = Object.values(functions).map((fn) => fn.Properties.Role['Fn::GetAtt']?.[0]);
    expect(new Set(roles).size).toBe(ALL_FUNCTIONS.length);
    for (const role of roles) expect(template.Resources[role]?.Type).toBe('AWS::IAM::Role');
    expect(template.Resources.IamRoleLambdaExecution).toBeUndefined();
  });

  it("ends every Lambda before its Task's TimeoutSeconds, in every state machine", () => {
    const dir = path.join(ROOT, 'statemachines');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.asl.json'))) {
      const machine = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
      for (const task of tasks(machine.States)) {
        const placeholder = /^\$\{(\w+FunctionArn)\}$/.exec(task.Resource)?.[1];
        if (placeholder === undefined) {
          // The one service integration: a child execution has no Lambda behind it.
          expect(task.Resource, file).toBe(START_CHILD);
          continue;
        }
        const fn = functions[`${logicalId(placeholder)}LambdaFunction`];
        expect(fn, `${file}: ${task.Resource}`).toBeDefined();
        expect(fn.Properties.Timeout, `${file}: ${task.Resource}`).toBeLessThan(task.TimeoutSeconds);
      }
    }
  });

  it('sets only environment variables the code reads', () => {
    const sources = [
      ...readdirSync(path.join(ROOT, 'lib'), { recursive: true, encoding: 'utf8' }).map((f) => `lib/${f}`),
      ...readdirSync(path.join(ROOT, 'functions'), { recursive: true, encoding: 'utf8' }).map(
        (f) => `functions/${f}`,
      ),
    ]
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFileSync(path.join(ROOT, f), 'utf8'))
      .join('\n');
    for (const fn of Object.values(functions)) {
      for (const name of Object.keys(fn.Properties.Environment.Variables)) {
        if (name.startsWith('POWERTOOLS_')) continue; // read by Powertools itself
        expect(sources, `${fnFile(fn)}: ${name}`).toContain(name);
      }
    }
  });

  it('passes the snapshot bucket to the compute steps and the topic to the two publishers only', () => {
    for (const fn of Object.values(functions)) {
      const vars = fn.Properties.Environment.Variables;
      // The compute steps, and the plan and its loader (a long plan is kept in the snapshot bucket).
      const compute = /compute|^check-workspace|^plan$|^load-workspace-plan$|^verify$/.test(fnFile(fn));
      expect(vars.SNAPSHOT_BUCKET, fnFile(fn)).toEqual(compute ? { Ref: 'SnapshotBucket' } : undefined);
      expect(vars.NOTIFICATION_TOPIC_ARN, fnFile(fn)).toEqual(
        ['announce-retention', 'notify-execution-ended'].includes(fnFile(fn)) ? { Ref: TOPIC } : undefined,
      );
    }
  });

  it('holds the ARN of the credentials secret, never a secret value', () => {
    for (const fn of Object.values(functions)) {
      const vars = fn.Properties.Environment.Variables;
      expect(vars.DATABRICKS_CREDENTIALS_SECRET_ARN).toMatch(/^arn:aws:secretsmanager:/);
      expect(Object.keys(vars).filter((k) => /SECRET(?!_ARN)|TOKEN|PASSWORD/.test(k))).toEqual([]);
    }
  });
});

describe('state machines', () => {
  const machineIds = Object.keys(MACHINES);
  const props = (id: string) => template.Resources[id]?.Properties;
  const role = () => {
    const roles = new Set(machineIds.map((id) => props(id)?.RoleArn['Fn::GetAtt'][0]));
    expect(roles.size).toBe(1);
    return [...roles][0] as string;
  };
  /** The ARNs, as `Fn::Sub` strings, of the per-workspace machine and of its executions. */
  const machineArn = (resource: 'stateMachine' | 'execution', machineId: string) =>
    `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:${resource}:${props(machineId).StateMachineName}`;
  const childArn = (resource: 'stateMachine' | 'execution') => machineArn(resource, CHILD_MACHINE);

  it('deploys every file of statemachines/, and only those, as a state machine of this template', () => {
    const files = readdirSync(path.join(ROOT, 'statemachines')).filter((f) => f.endsWith('.asl.json'));
    expect(files.sort()).toEqual(machineIds.map((id) => MACHINES[id]?.file).sort());
    expect(Object.keys(resourcesOfType(template, 'AWS::StepFunctions::StateMachine')).sort()).toEqual(
      [...machineIds].sort(),
    );
  });

  it.each(machineIds)('deploys the ASL file of %s unchanged', (id) => {
    expect(props(id)?.Definition).toEqual(JSON.parse(aslText(id)));
  });

  it.each(machineIds)(
    'substitutes exactly the placeholders of the ASL file of %s, each with its own function or machine',
    (id) => {
      const own = MACHINES[id] as (typeof MACHINES)[string];
      const placeholders = new Set([...aslText(id).matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]));
      const substitutions = props(id)?.DefinitionSubstitutions;
      expect(Object.keys(substitutions).sort()).toEqual([...placeholders].sort());
      expect(Object.keys(substitutions).sort()).toEqual(
        [...own.functions, ...Object.keys(own.machines)].sort(),
      );
      for (const [placeholder, value] of Object.entries(substitutions)) {
        const machine = own.machines[placeholder];
        if (machine !== undefined) {
          expect(value, placeholder).toEqual({ Ref: machine });
          expect(template.Resources[machine]?.Type).toBe('AWS::StepFunctions::StateMachine');
          continue;
        }
        const fnId = `${logicalId(placeholder)}LambdaFunction`;
        expect(value, placeholder).toEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
        expect(fnFile(functions[fnId]), placeholder).toBe(TASK_FUNCTIONS[placeholder]);
      }
    },
  );

  it('gives every Task function to exactly one machine', () => {
    const given = machineIds.flatMap((id) => MACHINES[id]?.functions ?? []);
    expect(given.sort()).toEqual(Object.keys(TASK_FUNCTIONS).sort());
  });

  it('names the machines after the stage', () => {
    expect(props(MACHINE).StateMachineName).toBe('rotate-workspace-key-local');
    expect(props(CHILD_MACHINE).StateMachineName).toBe('rotate-one-workspace-local');
  });

  it.each(machineIds)(
    'runs %s as a STANDARD machine under the state-machine role, logging errors to the state-machine log group by default',
    (id) => {
      const p = props(id);
      expect(p.StateMachineType).toBe('STANDARD');
      expect(p.RoleArn).toEqual({ 'Fn::GetAtt': ['StateMachineRole', 'Arn'] });
      expect(p.LoggingConfiguration.Level).toBe('ERROR');
      expect(p.LoggingConfiguration.Destinations).toEqual([
        { CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': ['StateMachineLogGroup', 'Arn'] } } },
      ]);
      expect(resolve(template, p.TracingConfiguration)).toEqual({ Enabled: false });
    },
  );

  it('may invoke the seventeen Task functions and nothing else', () => {
    const statements = roleStatements(template, role());
    const invoke = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('lambda:')));
    expect(invoke.flatMap(actionsOf)).toEqual(['lambda:InvokeFunction']);
    const invoked = invoke.flatMap((s) => s.Resource).map((r: Cfn) => r['Fn::GetAtt'][0]);
    expect(invoked).toHaveLength(17);
    expect(invoked.sort()).toEqual(
      Object.keys(TASK_FUNCTIONS)
        .map((p) => `${logicalId(p)}LambdaFunction`)
        .sort(),
    );
    // Besides invoking, running the child executions (next test) and what has no resource-level permission.
    const others = statements
      .filter((s) => !invoke.includes(s))
      .flatMap(actionsOf)
      .filter((a) => !a.startsWith('states:') && !a.startsWith('events:'));
    for (const action of others) expect(STAR_RESOURCE_ALLOWED.has(action), action).toBe(true);
  });

  it('may start, follow and stop executions of the per-workspace machine only, as .sync needs and no more', () => {
    const sync = roleStatements(template, role())
      .filter((s) => actionsOf(s).some((a) => a.startsWith('states:') || a.startsWith('events:')))
      .map((s) => ({
        Effect: s.Effect,
        Action: [...actionsOf(s)].sort(),
        Resource: s.Resource,
        Condition: s.Condition,
      }));
    // Step Functions developer guide, "IAM policies for AWS Step Functions" (synchronous StartExecution).
    expect(sync).toEqual([
      {
        Effect: 'Allow',
        Action: ['states:StartExecution'],
        Resource: { 'Fn::Sub': childArn('stateMachine') },
        Condition: undefined,
      },
      {
        Effect: 'Allow',
        Action: ['states:DescribeExecution', 'states:StopExecution'],
        Resource: { 'Fn::Sub': `${childArn('execution')}:*` },
        Condition: undefined,
      },
      {
        Effect: 'Allow',
        Action: ['events:DescribeRule', 'events:PutRule', 'events:PutTargets'],
        Resource: {
          'Fn::Sub':
            // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string.
            'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule',
        },
        Condition: undefined,
      },
    ]);
  });

  it('leaves Step Functions actions to the state-machine role, EventBridge starting the rotation, and the notifier reading how an execution ended', () => {
    for (const { where, statement } of allStatements()) {
      if (statement.Effect !== 'Allow' || !actionsOf(statement).some((a) => a.startsWith('states:')))
        continue;
      if (where === 'NotifyExecutionEndedRole') {
        expect(actionsOf(statement)).toEqual(['states:DescribeExecution']);
        // Executions of this stage's two machines, and nothing else.
        expect(statement.Resource).toEqual([
          { 'Fn::Sub': `${machineArn('execution', MACHINE)}:*` },
          { 'Fn::Sub': `${machineArn('execution', CHILD_MACHINE)}:*` },
        ]);
        continue;
      }
      expect(['StateMachineRole', 'StartExecutionRole'], where).toContain(where);
    }
  });
});

describe('EventBridge rules', () => {
  const pattern = (ruleId: string) =>
    resolve(template, template.Resources[ruleId]?.Properties.EventPattern, { [MACHINE]: MACHINE_ARN });

  it.each(Object.entries(RULE_FIXTURES))('%s matches %s and no other fixture', (ruleId, own) => {
    for (const name of fixtureNames()) {
      expect(matchesPattern(pattern(ruleId), fixture(name)), `${ruleId} vs ${name}`).toBe(name === own);
    }
  });

  it('starts a rotation for CreateAlias as well as UpdateAlias of the watched alias', () => {
    const created = fixture('cloudtrail-update-alias');
    created.detail.eventName = 'CreateAlias';
    expect(matchesPattern(pattern('AliasMovedRule'), created)).toBe(true);
  });

  it('ignores alias changes of any other alias', () => {
    const other = fixture('cloudtrail-update-alias');
    other.detail.requestParameters.aliasName = 'alias/databricks-managed-services-old';
    expect(matchesPattern(pattern('AliasMovedRule'), other)).toBe(false);
  });

  it('ignores CloudTrail calls that failed', () => {
    for (const ruleId of ['DisableKeyRule', 'ScheduleKeyDeletionRule', 'AliasMovedRule']) {
      const refused = fixture(TRIGGERS[ruleId] as string);
      refused.detail.errorCode = 'AccessDenied';
      expect(matchesPattern(pattern(ruleId), refused), ruleId).toBe(false);
    }
  });

  it('starts the state machine with the raw event, through the start-execution role', () => {
    for (const ruleId of Object.keys(TRIGGERS)) {
      const targets = template.Resources[ruleId]?.Properties.Targets;
      expect(targets, ruleId).toEqual([
        {
          Id: 'rotate-workspace-key',
          Arn: { Ref: MACHINE },
          RoleArn: { 'Fn::GetAtt': ['StartExecutionRole', 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [DLQ, 'Arn'] } },
        },
      ]);
    }
  });

  it('lets EventBridge start this state machine and do nothing else', () => {
    expect(roleStatements(template, 'StartExecutionRole')).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'states:StartExecution',
        Resource: { Ref: MACHINE },
      }),
    ]);
    const trust = template.Resources.StartExecutionRole?.Properties.AssumeRolePolicyDocument.Statement;
    expect(trust.map((s: Cfn) => s.Principal)).toEqual([{ Service: 'events.amazonaws.com' }]);
  });

  it('switches every trigger with its own setting, all on by default', () => {
    const conditions = new Set<string>();
    for (const ruleId of Object.keys(TRIGGERS)) {
      const state = template.Resources[ruleId]?.Properties.State;
      expect(state['Fn::If'].slice(1), ruleId).toEqual(['ENABLED', 'DISABLED']);
      conditions.add(state['Fn::If'][0]);
      expect(resolve(template, state), ruleId).toBe('ENABLED');
    }
    expect(conditions.size).toBe(Object.keys(TRIGGERS).length);
  });
});

describe('alarms and notifications', () => {
  it.each(Object.entries(ALARMS))(
    '%s alarms on AWS/States %s of this machine to the topic',
    (alarmId, metric) => {
      const props = template.Resources[alarmId]?.Properties;
      expect(props).toMatchObject({
        Namespace: 'AWS/States',
        MetricName: metric,
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: MACHINE } }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: TOPIC }],
      });
    },
  );

  it('notifies FAILED, TIMED_OUT and ABORTED executions of this machine only', () => {
    const rule = resolve(
      template,
      template.Resources.ExecutionFailedNotificationRule?.Properties.EventPattern,
      {
        [MACHINE]: MACHINE_ARN,
      },
    );
    const event = fixture('sfn-execution-failed');
    const withStatus = (status: string) => ({ ...event, detail: { ...event.detail, status } });
    for (const status of ['FAILED', 'TIMED_OUT', 'ABORTED'])
      expect(matchesPattern(rule, withStatus(status))).toBe(true);
    for (const status of ['RUNNING', 'SUCCEEDED'])
      expect(matchesPattern(rule, withStatus(status))).toBe(false);
    const otherMachine = { ...event, detail: { ...event.detail, stateMachineArn: `${MACHINE_ARN}-other` } };
    expect(matchesPattern(rule, otherMachine)).toBe(false);
  });

  it.each(['ExecutionFailedNotificationRule', 'ExecutionSucceededNotificationRule'])(
    'sends %s to notify-execution-ended as it is, which only that rule may invoke',
    (ruleId) => {
      const rule = template.Resources[ruleId];
      expect(rule?.Properties.Targets).toEqual([
        {
          Id: 'notify-execution-ended',
          Arn: { 'Fn::GetAtt': [NOTIFIER, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [DLQ, 'Arn'] } },
        },
      ]);
      expect(fnFile(functions[NOTIFIER])).toBe('notify-execution-ended');
      const permissions = Object.values(resourcesOfType(template, 'AWS::Lambda::Permission')).filter(
        (p) => p.Properties.SourceArn?.['Fn::GetAtt']?.[0] === ruleId,
      );
      expect(permissions).toHaveLength(1);
      expect(permissions[0]?.Condition).toBe(rule?.Condition);
      expect(permissions[0]?.Properties).toEqual({
        FunctionName: { 'Fn::GetAtt': [NOTIFIER, 'Arn'] },
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
      });
    },
  );

  it("never sends an execution's input: no rule transforms an event or picks $.detail.input", () => {
    for (const [ruleId, rule] of Object.entries(resourcesOfType(template, 'AWS::Events::Rule'))) {
      for (const target of rule.Properties.Targets as Cfn[]) {
        expect(target.InputTransformer, ruleId).toBeUndefined();
        expect(target.InputPath, ruleId).toBeUndefined();
        expect(target.Input, ruleId).toBeUndefined();
        // Only the state machine (triggers, which need the event) and the two functions are targets.
        const arn = target.Arn.Ref ?? target.Arn['Fn::GetAtt']?.[0];
        expect([MACHINE, NOTIFIER, 'ReleaseLocksOnAbortLambdaFunction'], ruleId).toContain(arn);
      }
    }
    expect(JSON.stringify(template)).not.toMatch(/\$\.detail\.(input|output)/);
    // Nothing but the functions' roles and CloudWatch alarms can publish to the topic.
    const rulesToTopic = Object.values(resourcesOfType(template, 'AWS::Events::Rule')).flatMap((r) =>
      (r.Properties.Targets as Cfn[]).filter((t) => t.Arn?.Ref === TOPIC),
    );
    expect(rulesToTopic).toEqual([]);
  });

  it('dead-letters a notification the function keeps failing to send', () => {
    expect(template.Resources.NotifyExecutionEndedInvokeConfig?.Properties).toMatchObject({
      FunctionName: { Ref: NOTIFIER },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [DLQ, 'Arn'] } } },
    });
  });

  it('notifies successful executions only when notifyOnSuccess is set', () => {
    const rule = template.Resources.ExecutionSucceededNotificationRule;
    expect(rule?.Condition).toBe('NotifyOnSuccess');
    expect(evaluateCondition(template, 'NotifyOnSuccess')).toBe(false);
    const pattern = resolve(template, rule?.Properties.EventPattern, { [MACHINE]: MACHINE_ARN });
    const event = fixture('sfn-execution-failed');
    expect(matchesPattern(pattern, { ...event, detail: { ...event.detail, status: 'SUCCEEDED' } })).toBe(
      true,
    );
    expect(matchesPattern(pattern, event)).toBe(false);
  });

  it('lets only CloudWatch alarms of this account publish to the topic through its policy', () => {
    const statements = resolve(
      template,
      template.Resources.NotificationTopicPolicy?.Properties.PolicyDocument,
    ).Statement as Statement[];
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: 'sns:Publish',
      Resource: { Ref: TOPIC },
      Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
    });
  });

  it('subscribes an e-mail address only when one is configured', () => {
    expect(template.Resources.NotificationEmailSubscription?.Condition).toBe('HasAlarmEmail');
    expect(evaluateCondition(template, 'HasAlarmEmail')).toBe(false);
  });

  it('does not encrypt the topic with alias/aws/sns, which alarms and EventBridge cannot use', () => {
    const topic = resolve(template, template.Resources[TOPIC]?.Properties);
    expect(topic.KmsMasterKeyId).toBeUndefined();
    expect(JSON.stringify(template)).not.toContain('alias/aws/sns');
  });
});

describe('IAM', () => {
  it('names every allowed action: no wildcard in any Allow', () => {
    for (const { where, statement } of allStatements()) {
      // Deny statements only take away (the framework's deployment bucket denies s3:* without TLS).
      if (statement.Effect === 'Deny') continue;
      for (const action of actionsOf(statement)) expect(action, where).not.toContain('*');
    }
  });

  it('uses Resource "*" only for actions without resource-level permissions', () => {
    for (const { where, statement } of allStatements()) {
      if (statement.Effect !== 'Allow' || statement.Principal !== undefined) continue;
      const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
      if (!resources.includes('*')) continue;
      for (const action of actionsOf(statement))
        expect(STAR_RESOURCE_ALLOWED.has(action), `${where}: ${action}`).toBe(true);
    }
  });

  it.each(Object.entries(EXPECTED_ACTIONS))('grants %s exactly what its step needs', (file, expected) => {
    const actions = roleStatements(template, roleOf(file)).flatMap(actionsOf);
    expect([...new Set(actions)].sort()).toEqual([...expected].sort());
  });

  it('lets each function write only to its own log group', () => {
    for (const fn of Object.values(functions)) {
      const logs = roleStatements(template, fn.Properties.Role['Fn::GetAtt'][0]).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('logs:')),
      );
      const fnId = Object.entries(functions).find(([, f]) => f === fn)?.[0] ?? '';
      expect(logs.map((s) => s.Resource)).toEqual([
        { 'Fn::GetAtt': [fnId.replace(/LambdaFunction$/, 'LogGroup'), 'Arn'] },
      ]);
    }
  });

  it('reads only the configured credentials secret', () => {
    const secretArn =
      Object.values(functions)[0]?.Properties.Environment.Variables.DATABRICKS_CREDENTIALS_SECRET_ARN;
    for (const { statement } of allStatements()) {
      if (actionsOf(statement).some((a) => a.startsWith('secretsmanager:')))
        expect(statement.Resource).toBe(secretArn);
    }
  });

  it('reaches KMS keys of this account and region only', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string.
    const keys = { 'Fn::Sub': 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*' };
    for (const { where, statement } of allStatements()) {
      if (statement.Effect !== 'Allow' || !actionsOf(statement).some((a) => a.startsWith('kms:'))) continue;
      expect(statement.Resource, where).toEqual(keys);
    }
  });

  it('reads or writes a key policy only on keys marked with the tag, never on a mere alias', () => {
    let statements = 0;
    for (const { where, statement } of allStatements()) {
      if (statement.Effect !== 'Allow') continue;
      const policy: string[] = actionsOf(statement).filter(
        (a) => a === 'kms:GetKeyPolicy' || a === 'kms:PutKeyPolicy',
      );
      if (policy.length === 0) continue;
      statements++;
      expect(statement.Condition, where).toEqual(KEY_TAG_CONDITION);
      // Nothing else rides on the condition of a policy statement.
      expect(
        actionsOf(statement).every((a) => policy.includes(a)),
        where,
      ).toBe(true);
    }
    expect(statements).toBe(4); // plan, patch-key-policy, update-workspace, verify
    expect(JSON.stringify(template)).not.toContain('kms:ResourceAliases');
  });

  it('denies every role that may write a key policy the lockout-safety bypass', () => {
    const writers = Object.keys(resourcesOfType(template, 'AWS::IAM::Role')).filter((id) =>
      roleStatements(template, id).some(
        (s) => s.Effect === 'Allow' && actionsOf(s).includes('kms:PutKeyPolicy'),
      ),
    );
    expect(writers.sort()).toEqual(['PatchKeyPolicyRole', 'VerifyRole']);
    for (const id of writers) {
      const denies = roleStatements(template, id).filter((s) => s.Effect === 'Deny');
      expect(denies, id).toEqual([
        expect.objectContaining({
          Action: 'kms:PutKeyPolicy',
          Resource: '*',
          Condition: { Bool: { 'kms:BypassPolicyLockoutSafetyCheck': 'true' } },
        }),
      ]);
    }
  });

  it('gives the roles that only read KMS no KMS write, and each KMS role exactly the calls its code sends', () => {
    const kmsOf = (file: string) =>
      roleStatements(template, roleOf(file))
        .filter((s) => s.Effect === 'Allow')
        .flatMap(actionsOf)
        .filter((a) => a.startsWith('kms:'));
    for (const file of KMS_READ_ONLY) {
      expect(
        kmsOf(file).filter((a) => !KMS_READ_ACTIONS.has(a)),
        file,
      ).toEqual([]);
    }
    expect(
      Object.fromEntries(
        ALL_FUNCTIONS.map((f): [string, string[]] => [f, [...new Set(kmsOf(f))].sort()]).filter(
          ([, a]) => a.length > 0,
        ),
      ),
    ).toEqual({
      plan: ['kms:DescribeKey', 'kms:GetKeyPolicy'],
      'patch-key-policy': ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:PutKeyPolicy'],
      'update-workspace': ['kms:DescribeKey', 'kms:GetKeyPolicy'],
      verify: ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:PutKeyPolicy'],
    });
  });

  it('lets only the functions that call Databricks read the credentials secret', () => {
    const readers = ALL_FUNCTIONS.filter((file) =>
      roleStatements(template, roleOf(file)).some((s) =>
        actionsOf(s).includes('secretsmanager:GetSecretValue'),
      ),
    );
    expect(readers.sort()).toEqual(DATABRICKS_CALLERS);
    // The list above is the code's: a function calls Databricks through databricksFor() (directly or in
    // the compute steps' deps).
    const calls = ALL_FUNCTIONS.filter((file) =>
      /databricksFor\(|computeDeps\(/.test(readFileSync(path.join(ROOT, 'functions', `${file}.ts`), 'utf8')),
    );
    expect(calls.sort()).toEqual(DATABRICKS_CALLERS);
    // The output the secret's resource policy is written from (docs/deploy.md) names exactly these roles.
    const output = template.Outputs?.DatabricksCredentialsReaderRoleArns?.Value['Fn::Join'];
    expect(output?.[0]).toBe(',');
    expect(output?.[1].map((v: Cfn) => v['Fn::GetAtt'][0]).sort()).toEqual(
      DATABRICKS_CALLERS.map(roleOf).sort(),
    );
  });

  it('confines snapshot access to the snapshot bucket', () => {
    for (const { where, statement } of allStatements()) {
      if (statement.Effect === 'Deny') continue;
      const s3 = actionsOf(statement).filter((a) => a.startsWith('s3:'));
      if (s3.length === 0) continue;
      expect(statement.Resource, where).toEqual(
        s3.includes('s3:ListBucket')
          ? { 'Fn::GetAtt': ['SnapshotBucket', 'Arn'] }
          : s3.includes('s3:DeleteObject')
            ? // Only the "compute stopped under this snapshot" pointers may be deleted.
              // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string.
              { 'Fn::Sub': '${SnapshotBucket.Arn}/open/*' }
            : where === 'PlanRole' && s3.includes('s3:GetObject')
              ? // The plan reads the open-snapshot pointers only.
                // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string.
                { 'Fn::Sub': '${SnapshotBucket.Arn}/open/*' }
              : where === 'PlanRole' || where === 'LoadWorkspacePlanRole' || where === 'VerifyRole'
                ? // The plan and its loader reach long plans only.
                  // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string.
                  { 'Fn::Sub': '${SnapshotBucket.Arn}/plans/*' }
                : // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string.
                  { 'Fn::Sub': '${SnapshotBucket.Arn}/*' },
      );
    }
  });

  describe('against the AWS calls in each bundle', () => {
    /**
     * Commands the SDK bundles for its own plumbing: S3 sessions are never created for a general-purpose
     * bucket, and DynamoDB endpoint discovery is off unless a client turns it on.
     */
    const SDK_INTERNAL = new Set(['s3:CreateSession', 'dynamodb:DescribeEndpoints']);
    /** Grants a service uses on the function's behalf, not the code: Lambda's on-failure destination. */
    const FOR_THE_PLATFORM: Record<string, string[]> = {
      'release-locks-on-abort': ['sqs:SendMessage'],
      'notify-execution-ended': ['sqs:SendMessage'],
    };
    /**
     * Every step is built on functions/commons/handler.ts, which can lazily create the Databricks client;
     * these steps never call Databricks, so the secret read in their bundle is unreachable.
     */
    const UNREACHABLE: Record<string, string[]> = {
      'finish-rotation': ['secretsmanager:GetSecretValue'],
      'announce-retention': ['secretsmanager:GetSecretValue'],
      'acquire-workspace-lock': ['secretsmanager:GetSecretValue'],
      'release-workspace-lock': ['secretsmanager:GetSecretValue'],
      'release-locks-on-abort': ['secretsmanager:GetSecretValue'],
      'notify-execution-ended': ['secretsmanager:GetSecretValue'],
      // The snapshot store is one module: only check-compute-restored closes the open-snapshot pointer
      // (DeleteObject), and the report of what is still stopped never writes.
      'stop-compute': ['s3:DeleteObject'],
      'check-compute-stopped': ['s3:DeleteObject'],
      'check-workspace': ['s3:DeleteObject'],
      'restore-compute': ['s3:DeleteObject'],
      'check-workspace-settled': ['s3:DeleteObject'],
      'report-compute-not-restored': ['s3:PutObject', 's3:DeleteObject'],
      // A long plan: the plan step only writes it, its loader only reads it (and never calls Databricks).
      plan: ['s3:GetObject', 's3:DeleteObject'],
      'load-workspace-plan': ['s3:PutObject', 's3:DeleteObject', 'secretsmanager:GetSecretValue'],
      // A long verification: read only.
      verify: ['s3:PutObject', 's3:DeleteObject'],
    };
    let bundles: FunctionBundle[];
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ bundles, cleanup } = await buildAllBundles());
      return () => cleanup();
    }, 120_000);

    it('grants every AWS call a function bundle can make', () => {
      // Every function's missing grants at once, so that one failure names them all.
      const missing: Record<string, string[]> = {};
      for (const bundle of bundles) {
        const granted = new Set(roleStatements(template, roleOf(bundle.name)).flatMap(actionsOf));
        const needed = bundle.awsActions.filter(
          (a) => !SDK_INTERNAL.has(a) && !(UNREACHABLE[bundle.name] ?? []).includes(a),
        );
        const notGranted = needed.filter((a) => !granted.has(a));
        if (notGranted.length > 0) missing[bundle.name] = notGranted;
      }
      expect(missing).toEqual({});
    });

    it('gives LOCK_TABLE to exactly the functions whose bundle calls DynamoDB', () => {
      for (const bundle of bundles) {
        const fn = Object.values(functions).find((f) => fnFile(f) === bundle.name);
        const callsDynamoDb = bundle.awsActions.some(
          (a) => a.startsWith('dynamodb:') && !SDK_INTERNAL.has(a),
        );
        expect(fn.Properties.Environment.Variables.LOCK_TABLE, bundle.name).toEqual(
          callsDynamoDb ? { Ref: LOCK_TABLE } : undefined,
        );
      }
    });

    it('grants no AWS call a function bundle cannot make', () => {
      const extra: Record<string, string[]> = {};
      for (const bundle of bundles) {
        const granted = roleStatements(template, roleOf(bundle.name))
          .flatMap(actionsOf)
          .filter((a) => !a.startsWith('logs:') && a !== 's3:ListBucket')
          .filter((a) => !(FOR_THE_PLATFORM[bundle.name] ?? []).includes(a));
        const unused = granted.filter((a) => !bundle.awsActions.includes(a));
        if (unused.length > 0) extra[bundle.name] = unused;
      }
      expect(extra).toEqual({});
    });
  });
});

describe('snapshot bucket', () => {
  it('keeps every version of a snapshot, and expires old versions with the snapshots', () => {
    const props = resolve(template, template.Resources.SnapshotBucket?.Properties);
    expect(props.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    const [rule] = props.LifecycleConfiguration.Rules;
    expect(rule.NoncurrentVersionExpiration).toEqual({ NoncurrentDays: rule.ExpirationInDays });
  });

  it('denies every S3 action on the bucket and its objects without TLS', () => {
    const policy = template.Resources.SnapshotBucketPolicy?.Properties;
    expect(policy.Bucket).toEqual({ Ref: 'SnapshotBucket' });
    const denies = (resolve(template, policy.PolicyDocument).Statement as Statement[]).filter(
      (s) => s.Effect === 'Deny',
    );
    expect(denies).toContainEqual({
      Sid: 'DenyInsecureTransport',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:*',
      Resource: [
        { 'Fn::GetAtt': ['SnapshotBucket', 'Arn'] },
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string.
        { 'Fn::Sub': '${SnapshotBucket.Arn}/*' },
      ],
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
  });

  it('is private, encrypted, TLS-only and expires snapshots', () => {
    const props = resolve(template, template.Resources.SnapshotBucket?.Properties);
    expect(props.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(
      props.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm,
    ).toBe('AES256');
    const [rule] = props.LifecycleConfiguration.Rules;
    expect(rule).toMatchObject({ Status: 'Enabled', ExpirationInDays: 30 });
    // A redrive is possible for 14 days after a failure: snapshots must outlive that.
    expect(rule.ExpirationInDays).toBeGreaterThan(14);
    const [tls] = resolve(
      template,
      template.Resources.SnapshotBucketPolicy?.Properties.PolicyDocument,
    ).Statement;
    expect(tls).toMatchObject({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
  });
});

describe('lock table', () => {
  const props = () => resolve(template, template.Resources[LOCK_TABLE]?.Properties);

  it('has the keys and indexes the lock code queries (lib/lock LOCK_TABLE_SCHEMA)', () => {
    const { AttributeDefinitions, KeySchema, GlobalSecondaryIndexes, BillingMode } = props();
    expect({ AttributeDefinitions, KeySchema, GlobalSecondaryIndexes, BillingMode }).toEqual(
      LOCK_TABLE_SCHEMA,
    );
  });

  it('bills on demand, expires items by TTL, keeps point-in-time recovery and is encrypted', () => {
    expect(props()).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: LOCK_TABLE_TTL_ATTRIBUTE, Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('outlives the stack: a held lock or an event record is never deleted with it', () => {
    const table = template.Resources[LOCK_TABLE] as Cfn;
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
    expect(props().TableName).toBeUndefined();
  });

  it('is reached on the table or its indexes only, and each role keeps to its own items', () => {
    const table = { 'Fn::GetAtt': [LOCK_TABLE, 'Arn'] };
    const indexes = [
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string.
      { 'Fn::Sub': '${LockTable.Arn}/index/byHolder' },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string.
      { 'Fn::Sub': '${LockTable.Arn}/index/byRootExecution' },
    ];
    const leading = (prefix: string) => ({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [prefix] } });
    const roles = new Set<string>();
    for (const { where, statement } of allStatements()) {
      const dynamo = actionsOf(statement).filter((a) => a.startsWith('dynamodb:'));
      if (dynamo.length === 0) continue;
      roles.add(where);
      if (dynamo.includes('dynamodb:Query')) {
        expect(dynamo, where).toEqual(['dynamodb:Query']);
        expect(statement.Resource, where).toEqual(indexes);
        continue;
      }
      expect(statement.Resource, where).toEqual(table);
      // The plan records events and only reads locks (waitForLock); every other role touches locks only.
      if (where === 'PlanRole' && dynamo.includes('dynamodb:PutItem')) {
        expect(statement.Condition, where).toEqual(leading('event#*'));
      } else if (where === 'PlanRole') {
        expect(dynamo, where).toEqual(['dynamodb:GetItem']);
        expect(statement.Condition, where).toEqual(leading('lock#*'));
      } else {
        expect(statement.Condition, where).toEqual(leading('lock#*'));
      }
    }
    expect([...roles].sort()).toEqual([
      'AcquireWorkspaceLockRole',
      // The four polls renew the lease of the lock they hold.
      'CheckComputeRestoredRole',
      'CheckComputeStoppedRole',
      'CheckWorkspaceRole',
      'CheckWorkspaceSettledRole',
      // The steps that change something renew (or take again) the lock first.
      'PatchKeyPolicyRole',
      'PlanRole',
      'RegisterKeyConfigRole',
      'ReleaseLocksOnAbortRole',
      'ReleaseWorkspaceLockRole',
      'RestoreComputeRole',
      'StopComputeRole',
      'UpdateWorkspaceRole',
    ]);
  });
});

describe('event delivery', () => {
  const rules = () => resourcesOfType(template, 'AWS::Events::Rule');
  it('retries every target of every rule for a day, then sends the event to the dead-letter queue', () => {
    for (const [ruleId, rule] of Object.entries(rules())) {
      const targets = rule.Properties.Targets as Cfn[];
      expect(targets.length, ruleId).toBeGreaterThan(0);
      for (const target of targets) {
        expect(target.RetryPolicy, ruleId).toEqual({
          MaximumRetryAttempts: 185,
          MaximumEventAgeInSeconds: 86400,
        });
        expect(target.DeadLetterConfig, ruleId).toEqual({ Arn: { 'Fn::GetAtt': [DLQ, 'Arn'] } });
      }
    }
  });

  it('keeps undelivered events encrypted, for two weeks, and lets only the rules of this stack send them', () => {
    const queue = resolve(template, template.Resources[DLQ]?.Properties);
    expect(queue).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    const policy = template.Resources.EventDeliveryDeadLetterQueuePolicy?.Properties;
    expect(policy.Queues).toEqual([{ Ref: DLQ }]);
    const [allow, tls] = resolve(template, policy.PolicyDocument).Statement as Statement[];
    expect(allow).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Resource: { 'Fn::GetAtt': [DLQ, 'Arn'] },
    });
    // Every rule that is deployed (conditions applied) is named, and nothing else.
    const deployed = Object.entries(rules())
      .filter(([, r]) => r.Condition === undefined || evaluateCondition(template, r.Condition))
      .map(([id]) => ({ 'Fn::GetAtt': [id, 'Arn'] }));
    expect(allow?.Condition).toEqual({ ArnEquals: { 'aws:SourceArn': deployed } });
    expect(tls).toMatchObject({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
  });

  it('alarms on the first message in the dead-letter queue', () => {
    expect(template.Resources.EventDeliveryDeadLetterAlarm?.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [DLQ, 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: TOPIC }],
    });
  });

  it("alarms on every rule's FailedInvocations, deployed with the rule", () => {
    const alarms = Object.values(resourcesOfType(template, 'AWS::CloudWatch::Alarm')).filter(
      (a) => a.Properties.Namespace === 'AWS/Events',
    );
    for (const [ruleId, rule] of Object.entries(rules())) {
      const mine = alarms.filter((a) => a.Properties.Dimensions?.[0]?.Value?.Ref === ruleId);
      expect(mine, ruleId).toHaveLength(1);
      expect(mine[0]?.Condition, ruleId).toBe(rule.Condition);
      expect(mine[0]?.Properties, ruleId).toMatchObject({
        MetricName: 'FailedInvocations',
        Dimensions: [{ Name: 'RuleName', Value: { Ref: ruleId } }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        AlarmActions: [{ Ref: TOPIC }],
      });
    }
  });
});

describe('release of the locks of an ended execution', () => {
  const rule = () => template.Resources.ReleaseLocksOnAbortRule?.Properties;
  const PARENT_ARN = 'arn:aws:states:us-east-1:111122223333:stateMachine:rotate-workspace-key-local';
  const CHILD_ARN = 'arn:aws:states:us-east-1:111122223333:stateMachine:rotate-one-workspace-local';
  const PSEUDO: Record<string, string> = { Partition: 'aws', Region: 'us-east-1', AccountId: '111122223333' };
  /** The ARN CloudFormation gives a state machine of this template in us-east-1. */
  const arnOf = (machineId: string) =>
    `arn:aws:states:us-east-1:111122223333:stateMachine:${template.Resources[machineId]?.Properties.StateMachineName}`;
  /** The rule's pattern with Ref and Fn::Sub resolved as CloudFormation would in us-east-1. */
  const pattern = () =>
    JSON.parse(
      JSON.stringify(
        resolve(template, rule().EventPattern, {
          [MACHINE]: arnOf(MACHINE),
          [CHILD_MACHINE]: arnOf(CHILD_MACHINE),
        }),
      ),
      (_, v) =>
        v && typeof v === 'object' && typeof v['Fn::Sub'] === 'string'
          ? (v['Fn::Sub'] as string).replace(/\$\{AWS::(\w+)\}/g, (_m, name: string) => PSEUDO[name] ?? _m)
          : v,
    );
  const event = (status: string, stateMachineArn: string) => {
    const base = fixture('sfn-execution-failed');
    return { ...base, detail: { ...base.detail, status, stateMachineArn } };
  };

  it.each(['ABORTED', 'TIMED_OUT', 'FAILED'])(
    'sends a %s execution of either machine of this stage to release-locks-on-abort',
    (status) => {
      expect(matchesPattern(pattern(), event(status, PARENT_ARN))).toBe(true);
      expect(matchesPattern(pattern(), event(status, CHILD_ARN))).toBe(true);
    },
  );

  it('ignores running and successful executions, and the machines of other stages', () => {
    for (const status of ['RUNNING', 'SUCCEEDED']) {
      expect(matchesPattern(pattern(), event(status, PARENT_ARN))).toBe(false);
      expect(matchesPattern(pattern(), event(status, CHILD_ARN))).toBe(false);
    }
    expect(matchesPattern(pattern(), event('ABORTED', PARENT_ARN.replace('-local', '-prod')))).toBe(false);
    expect(matchesPattern(pattern(), event('ABORTED', CHILD_ARN.replace('-local', '-prod')))).toBe(false);
    expect(matchesPattern(pattern(), event('ABORTED', `${CHILD_ARN}-other`))).toBe(false);
  });

  it('names every state machine this template deploys, by reference, and nothing else', () => {
    const machines = Object.keys(resourcesOfType(template, 'AWS::StepFunctions::StateMachine'));
    expect(machines.sort()).toEqual([CHILD_MACHINE, MACHINE].sort());
    expect(rule().EventPattern.detail.stateMachineArn).toEqual([{ Ref: MACHINE }, { Ref: CHILD_MACHINE }]);
    for (const id of machines) {
      expect(matchesPattern(pattern(), event('ABORTED', arnOf(id))), id).toBe(true);
    }
    expect([arnOf(MACHINE), arnOf(CHILD_MACHINE)]).toEqual([PARENT_ARN, CHILD_ARN]);
  });

  it('invokes only release-locks-on-abort, which only this rule may invoke', () => {
    expect(rule().Targets.map((t: Cfn) => t.Arn)).toEqual([
      { 'Fn::GetAtt': ['ReleaseLocksOnAbortLambdaFunction', 'Arn'] },
    ]);
    expect(fnFile(functions.ReleaseLocksOnAbortLambdaFunction)).toBe('release-locks-on-abort');
    expect(template.Resources.ReleaseLocksOnAbortPermission?.Properties).toEqual({
      FunctionName: { 'Fn::GetAtt': ['ReleaseLocksOnAbortLambdaFunction', 'Arn'] },
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': ['ReleaseLocksOnAbortRule', 'Arn'] },
    });
  });

  it('sends the event to the dead-letter queue when the function itself keeps failing', () => {
    expect(template.Resources.ReleaseLocksOnAbortInvokeConfig?.Properties).toMatchObject({
      FunctionName: { Ref: 'ReleaseLocksOnAbortLambdaFunction' },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [DLQ, 'Arn'] } } },
    });
  });
});

describe('docs/deploy.md', () => {
  /** Who the IAM table names, and their roles: every function, the state machines, EventBridge. */
  const tableRoles = () => ({
    ...Object.fromEntries(
      Object.entries(functions).map(([id, fn]) => [
        fnFile(fn),
        { role: fn.Properties.Role['Fn::GetAtt'][0], logGroup: id.replace(/LambdaFunction$/, 'LogGroup') },
      ]),
    ),
    'state machines': { role: 'StateMachineRole' },
    'EventBridge triggers': { role: 'StartExecutionRole' },
  });

  it('has an IAM table of every statement of every role, exactly as the template has them', () => {
    const roles = tableRoles();
    expect(
      Object.values(roles)
        .map((r) => r.role)
        .sort(),
    ).toEqual(Object.keys(resourcesOfType(template, 'AWS::IAM::Role')).sort());
    const secretArn =
      Object.values(functions)[0]?.Properties.Environment.Variables.DATABRICKS_CREDENTIALS_SECRET_ARN;
    const fromTemplate = templateIamRows(template, roles, { secretArn, stage: 'local' });
    const fromDocs = sortRows(parseIamTable(readFileSync(path.join(ROOT, 'docs/deploy.md'), 'utf8')));
    expect(fromDocs).toEqual(fromTemplate);
  });
});
