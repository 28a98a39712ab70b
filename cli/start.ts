import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { InvalidInput } from '../lib/errors.ts';
import { parseTrigger } from '../lib/plan/trigger.ts';
import { HELP, parseCommand, seconds, UsageError } from './flags.ts';
import { canonicalJson, executionNameFor, INPUT_FLAGS, INPUT_HELP, inputFrom } from './input.ts';
import type { Io } from './io.ts';
import { consoleLink, follow, regionOfArn } from './watch.ts';

export const START_HELP = `usage: cmk-rotator start (--input FILE.json | --workspace-ids 1,2 --key-arn ARN …) --state-machine-arn ARN [--dry-run] [--watch]

Validates the execution input with the plan step's own schema (nothing is sent when it is invalid), then
starts the deployed state machine with a deterministic execution name, <kind>-<first workspace id>-<12 hex
of the SHA-256 of the canonical input> (kind: manual, dryrun or verify). Starting the same input twice is
one execution: Step Functions treats the same name and input as the running execution, and refuses the
name once that execution has ended (ExecutionAlreadyExists; to start the same rotation again after it
ended, give --name). Prints the execution ARN and its console link. Uses the AWS SDK's default
credentials; needs states:StartExecution on the state machine.

${INPUT_HELP}
  --dry-run                dryRun: true (the execution only plans; its output is the plan)
  --state-machine-arn ARN  the stack output StateMachineArn (default: CMK_ROTATOR_STATE_MACHINE_ARN). Read it
                           with: aws cloudformation describe-stacks --stack-name cmk-rotator-<stage> \\
                             --query "Stacks[0].Outputs[?OutputKey=='StateMachineArn'].OutputValue" --output text
                           (this command does not read the stack itself: @aws-sdk/client-cloudformation is
                           not one of the project's dependencies)
  --name NAME              execution name instead of the derived one (letters, digits, - and _, up to 80)
  --watch                  then follow the execution as \`cmk-rotator watch\` does (exit code as watch's)
  --interval SECONDS       with --watch: seconds between polls (default 5)
  --json                   print {executionArn, name, startDate, console, input} as JSON
  -h, --help               this help

examples:
  npx cmk-rotator start --input rotation.json --dry-run --state-machine-arn "$SM"
  npx cmk-rotator start --workspace-ids 1234567890123456 --key-alias alias/databricks-managed-services \\
      --state-machine-arn "$SM" --watch
`;

const OPTIONS = {
  ...HELP,
  ...INPUT_FLAGS,
  'dry-run': { type: 'boolean' },
  'state-machine-arn': { type: 'string' },
  name: { type: 'string' },
  watch: { type: 'boolean', default: false },
  interval: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/;
const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

export async function startCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseCommand(OPTIONS, args);
  if (values.help) {
    io.out(START_HELP);
    return 0;
  }
  const arn = values['state-machine-arn'] ?? process.env.CMK_ROTATOR_STATE_MACHINE_ARN;
  if (!arn)
    throw new UsageError(
      'name the state machine: --state-machine-arn ARN (the stack output StateMachineArn, see --help) or CMK_ROTATOR_STATE_MACHINE_ARN',
    );
  if (!STATE_MACHINE_ARN.test(arn))
    throw new UsageError(
      `--state-machine-arn must be a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>), got ${arn}`,
    );
  if (values.name !== undefined && !EXECUTION_NAME.test(values.name))
    throw new UsageError(`--name must be 1-80 letters, digits, - or _, got ${values.name}`);
  const interval = seconds(values.interval, '--interval', 5);
  const raw = inputFrom(values, values['dry-run'] ? { extra: { dryRun: true } } : {});

  // The plan step's own validation, before anything is sent: a bad input never starts an execution.
  let trigger: ReturnType<typeof parseTrigger>;
  try {
    trigger = parseTrigger(raw);
  } catch (error) {
    if (!(error instanceof InvalidInput) && (error as Error).name !== 'UnsupportedEvent') throw error;
    io.err(`${(error as Error).name}: ${(error as Error).message}`);
    io.err('Nothing was started.');
    return 2;
  }
  if (trigger.kind !== 'manual') {
    throw new UsageError(
      `the input is an EventBridge event (${trigger.kind}); start sends a manual input (events reach the state machine through EventBridge)`,
    );
  }
  // The validated input with its defaults, keys sorted: the same request always has the same text and name.
  const input = canonicalJson(trigger.input);
  const name = values.name ?? executionNameFor(trigger.input, input);
  const region = regionOfArn(arn);
  const sfn = new SFNClient({ region });
  let answer: { executionArn?: string | undefined; startDate?: Date | undefined };
  try {
    answer = await sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name, input }));
  } catch (error) {
    const e = error as Error;
    if (e.name === 'ExecutionAlreadyExists') {
      io.err(
        `ExecutionAlreadyExists: an execution named ${name} already ran on ${arn} (it has ended, or it runs with a different input). Nothing was started. To follow it: npx cmk-rotator watch ${arn.replace(':stateMachine:', ':execution:')}:${name}. To start the same rotation again, give --name <new name>.`,
      );
      return 1;
    }
    throw error;
  }
  const executionArn = answer.executionArn ?? `${arn.replace(':stateMachine:', ':execution:')}:${name}`;
  const link = consoleLink(executionArn);
  if (values.json) {
    io.out(
      JSON.stringify({
        executionArn,
        name,
        startDate: answer.startDate?.toISOString(),
        console: link,
        input: JSON.parse(input),
      }),
    );
  } else {
    // The same name and input while that execution runs is answered with it: nothing new was started.
    const earlier = answer.startDate !== undefined && Date.now() - answer.startDate.getTime() > 60_000;
    io.out(
      earlier
        ? `Already running: ${name} (same name and input, started ${answer.startDate?.toISOString()}); nothing new was started`
        : `Started ${name}${trigger.input.dryRun ? ' (dry run: the execution only plans)' : ''}`,
    );
    io.out(`  execution: ${executionArn}`);
    if (answer.startDate && !earlier) io.out(`  started:   ${answer.startDate.toISOString()}`);
    io.out(`  input:     ${input}`);
    io.out(`  console:   ${link}`);
    if (!values.watch) io.out(`  follow:    npx cmk-rotator watch ${executionArn}`);
  }
  if (!values.watch) return 0;
  if (!values.json) io.out('');
  return follow(executionArn, io, { intervalSeconds: interval, json: values.json, client: sfn });
}
