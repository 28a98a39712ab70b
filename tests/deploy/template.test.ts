import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildAllBundles, type FunctionBundle } from '../../bench/bundles.ts';
import { matchesPattern } from './event-pattern.ts';
import {
  ASL_FILE,
  actionsOf,
  type Cfn,
  evaluateCondition,
  fixture,
  fixtureNames,
  packageService,
  ROOT,
  renderInputTemplate,
  resolve,
  resourcesOfType,
  roleStatements,
  type Statement,
  type Template,
} from './template.ts';

const MACHINE = 'RotateWorkspaceKeyStateMachine';
const TOPIC = 'NotificationTopic';
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

const LOGS = ['logs:CreateLogStream', 'logs:PutLogEvents'];
const SECRET = ['secretsmanager:GetSecretValue'];
const SNAPSHOTS = ['s3:GetObject', 's3:PutObject', 's3:ListBucket'];
const SNAPSHOT_READ = ['s3:GetObject', 's3:ListBucket'];
/** What each function's role may do, and nothing else. */
const EXPECTED_ACTIONS: Record<string, string[]> = {
  plan: [...LOGS, ...SECRET, 'kms:DescribeKey'],
  'patch-key-policy': [...LOGS, ...SECRET, 'kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:PutKeyPolicy'],
  'register-key-config': [...LOGS, ...SECRET],
  'stop-compute': [...LOGS, ...SECRET, ...SNAPSHOTS],
  'check-compute-stopped': [...LOGS, ...SECRET, ...SNAPSHOTS],
  'update-workspace': [...LOGS, ...SECRET, 'kms:DescribeKey', 'kms:GetKeyPolicy'],
  'check-workspace': [...LOGS, ...SECRET, ...SNAPSHOTS],
  'restore-compute': [...LOGS, ...SECRET, ...SNAPSHOTS],
  'check-compute-restored': [...LOGS, ...SECRET, ...SNAPSHOTS, 's3:DeleteObject'],
  'check-workspace-settled': [...LOGS, ...SECRET, ...SNAPSHOTS],
  'report-compute-not-restored': [...LOGS, ...SECRET, ...SNAPSHOT_READ],
  verify: [...LOGS, ...SECRET, 'kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:PutKeyPolicy'],
  'finish-rotation': [...LOGS],
  'announce-retention': [...LOGS, 'sns:Publish'],
};

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
const asl = JSON.parse(readFileSync(ASL_FILE, 'utf8'));

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
    expect(artifacts.sort()).toHaveLength(14);
    expect(Object.keys(functions)).toHaveLength(14);
  });
});

describe('functions', () => {
  it('deploys one Lambda per step file on nodejs22.x arm64', () => {
    const files = Object.values(functions).map(fnFile).sort();
    expect(files).toEqual(Object.values(STEPS).sort());
    for (const fn of Object.values(functions)) {
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(existsSync(path.join(ROOT, 'functions', `${fnFile(fn)}.ts`))).toBe(true);
    }
  });

  it('gives every function a role of its own', () => {
    const roles = Object.values(functions).map((fn) => fn.Properties.Role['Fn::GetAtt']?.[0]);
    expect(new Set(roles).size).toBe(14);
    for (const role of roles) expect(template.Resources[role]?.Type).toBe('AWS::IAM::Role');
    expect(template.Resources.IamRoleLambdaExecution).toBeUndefined();
  });

  it("ends every Lambda before its Task's TimeoutSeconds", () => {
    for (const task of tasks(asl.States)) {
      const placeholder = /^\$\{(\w+)\}$/.exec(task.Resource)?.[1] ?? '';
      const fn = functions[`${logicalId(placeholder)}LambdaFunction`];
      expect(fn, task.Resource).toBeDefined();
      expect(fn.Properties.Timeout).toBeLessThan(task.TimeoutSeconds);
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

  it('passes the snapshot bucket to the compute steps and the topic to announce-retention only', () => {
    for (const fn of Object.values(functions)) {
      const vars = fn.Properties.Environment.Variables;
      const compute = /compute|^check-workspace/.test(fnFile(fn));
      expect(vars.SNAPSHOT_BUCKET, fnFile(fn)).toEqual(compute ? { Ref: 'SnapshotBucket' } : undefined);
      expect(vars.NOTIFICATION_TOPIC_ARN, fnFile(fn)).toEqual(
        fnFile(fn) === 'announce-retention' ? { Ref: TOPIC } : undefined,
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

describe('state machine', () => {
  it('deploys statemachines/rotate-workspace-key.asl.json unchanged', () => {
    expect(template.Resources[MACHINE]?.Properties.Definition).toEqual(asl);
  });

  it('substitutes exactly the placeholders of the ASL file, each with its own function', () => {
    const placeholders = new Set(
      [...readFileSync(ASL_FILE, 'utf8').matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]),
    );
    const substitutions = template.Resources[MACHINE]?.Properties.DefinitionSubstitutions;
    expect(Object.keys(substitutions).sort()).toEqual([...placeholders].sort());
    for (const [placeholder, value] of Object.entries(substitutions)) {
      const fnId = `${logicalId(placeholder)}LambdaFunction`;
      expect(value).toEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
      expect(fnFile(functions[fnId])).toBe(STEPS[placeholder]);
    }
  });

  it('is a STANDARD machine logging errors to its own log group by default', () => {
    const props = template.Resources[MACHINE]?.Properties;
    expect(props.StateMachineType).toBe('STANDARD');
    expect(props.LoggingConfiguration.Level).toBe('ERROR');
    expect(props.LoggingConfiguration.Destinations).toEqual([
      { CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': ['StateMachineLogGroup', 'Arn'] } } },
    ]);
    expect(resolve(template, props.TracingConfiguration)).toEqual({ Enabled: false });
  });

  it('may invoke the fourteen step functions and nothing else', () => {
    const statements = roleStatements(
      template,
      template.Resources[MACHINE]?.Properties.RoleArn['Fn::GetAtt'][0],
    );
    const invoke = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('lambda:')));
    expect(invoke.flatMap(actionsOf)).toEqual(['lambda:InvokeFunction']);
    expect(
      invoke
        .flatMap((s) => s.Resource)
        .map((r: Cfn) => r['Fn::GetAtt'][0])
        .sort(),
    ).toEqual(
      Object.keys(STEPS)
        .map((p) => `${logicalId(p)}LambdaFunction`)
        .sort(),
    );
    const others = statements.filter((s) => !invoke.includes(s)).flatMap(actionsOf);
    for (const action of others) expect(STAR_RESOURCE_ALLOWED.has(action), action).toBe(true);
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

  it('sends a readable failure message with the input and a console link', () => {
    const [target] = template.Resources.ExecutionFailedNotificationRule?.Properties.Targets ?? [];
    const event = fixture('sfn-execution-failed');
    const message = renderInputTemplate(target.InputTransformer, event);
    expect(target.Arn).toEqual({ Ref: TOPIC });
    expect(message).toContain('execution manual-2026-11-26 ended FAILED');
    expect(message).toContain('1234567890123456');
    expect(message).toContain(
      `https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/${event.detail.executionArn}`,
    );
    expect(message).not.toMatch(/<[a-z]+>/);
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

  it('lets only CloudWatch alarms and EventBridge rules of this account publish to the topic', () => {
    const [statement] = resolve(
      template,
      template.Resources.NotificationTopicPolicy?.Properties.PolicyDocument,
    ).Statement as Statement[];
    expect(statement).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: ['events.amazonaws.com', 'cloudwatch.amazonaws.com'] },
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

  it('reaches KMS keys of this account and region only, and writes a key policy only on aliased or tagged keys', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string.
    const keys = { 'Fn::Sub': 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*' };
    const writeConditions = [
      { 'ForAnyValue:StringLike': { 'kms:ResourceAliases': 'alias/databricks-*' } },
      { StringEquals: { 'aws:ResourceTag/cmk-rotator': 'managed' } },
    ];
    let writes = 0;
    for (const { where, statement } of allStatements()) {
      const kms = actionsOf(statement).filter((a) => a.startsWith('kms:'));
      if (kms.length === 0) continue;
      expect(statement.Resource, where).toEqual(keys);
      if (!kms.includes('kms:PutKeyPolicy')) continue;
      writes++;
      expect(kms, where).toEqual(['kms:PutKeyPolicy']);
      expect(writeConditions, where).toContainEqual(statement.Condition);
    }
    expect(writes).toBe(4); // patch-key-policy and verify, one statement per condition
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
            : // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string.
              { 'Fn::Sub': '${SnapshotBucket.Arn}/*' },
      );
    }
  });

  describe('against the AWS calls in each bundle', () => {
    /** Commands the SDK bundles for its own plumbing, never called for a general-purpose bucket. */
    const SDK_INTERNAL = new Set(['s3:CreateSession']);
    /**
     * Every step is built on functions/commons/handler.ts, which can lazily create the Databricks client;
     * these two steps never call Databricks, so the secret read in their bundle is unreachable.
     */
    const UNREACHABLE: Record<string, string[]> = {
      'finish-rotation': ['secretsmanager:GetSecretValue'],
      'announce-retention': ['secretsmanager:GetSecretValue'],
      // The snapshot store is one module: only check-compute-restored closes the open-snapshot pointer
      // (DeleteObject), and the report of what is still stopped never writes.
      'stop-compute': ['s3:DeleteObject'],
      'check-compute-stopped': ['s3:DeleteObject'],
      'check-workspace': ['s3:DeleteObject'],
      'restore-compute': ['s3:DeleteObject'],
      'check-workspace-settled': ['s3:DeleteObject'],
      'report-compute-not-restored': ['s3:PutObject', 's3:DeleteObject'],
    };
    let bundles: FunctionBundle[];
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ bundles, cleanup } = await buildAllBundles());
      return () => cleanup();
    }, 120_000);

    it('grants every AWS call a function bundle can make', () => {
      for (const bundle of bundles) {
        const granted = new Set(roleStatements(template, roleOf(bundle.name)).flatMap(actionsOf));
        const needed = bundle.awsActions.filter(
          (a) => !SDK_INTERNAL.has(a) && !(UNREACHABLE[bundle.name] ?? []).includes(a),
        );
        expect(
          needed.filter((a) => !granted.has(a)),
          bundle.name,
        ).toEqual([]);
      }
    });

    it('grants no AWS call a function bundle cannot make', () => {
      for (const bundle of bundles) {
        const granted = roleStatements(template, roleOf(bundle.name))
          .flatMap(actionsOf)
          .filter((a) => !a.startsWith('logs:') && a !== 's3:ListBucket');
        expect(
          granted.filter((a) => !bundle.awsActions.includes(a)),
          bundle.name,
        ).toEqual([]);
      }
    });
  });
});

describe('snapshot bucket', () => {
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
