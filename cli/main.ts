/**
 * `cmk-rotator <command> …`: the operator's command (package `bin`, run through tsx by bin/cmk-rotator.mjs).
 * Every command answers `-h`; a command-line mistake is one line with the usage and exit code 2.
 */
import type { Hooks } from './context.ts';
import { nearest, UsageError } from './flags.ts';
import { type Io, processIo } from './io.ts';

interface Command {
  summary: string;
  /** The command's help text (its first line is the usage). */
  help(): Promise<string>;
  run(args: string[], io: Io, hooks: Hooks): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  plan: {
    summary: 'read-only preflight: the plan, what would stop, the key-policy diff, refusals',
    help: async () => (await import('./plan.ts')).PLAN_HELP,
    run: async (args, io, hooks) => (await import('./plan.ts')).planCommand(args, io, hooks),
  },
  start: {
    summary: 'validate an input and start the deployed state machine (deterministic execution name)',
    help: async () => (await import('./start.ts')).START_HELP,
    run: async (args, io) => (await import('./start.ts')).startCommand(args, io),
  },
  watch: {
    summary: 'follow an execution (and its per-workspace executions) until it ends',
    help: async () => (await import('./watch.ts')).WATCH_HELP,
    run: async (args, io) => (await import('./watch.ts')).watchCommand(args, io),
  },
  restore: {
    summary: 'bring back what a compute snapshot says ran (dry run unless --yes)',
    help: async () => (await import('./restore.ts')).RESTORE_HELP,
    run: async (args, io, hooks) => (await import('./restore.ts')).restoreCommand(args, io, hooks),
  },
  simulate: {
    summary: 'a full rotation on the local emulation (what npm start runs)',
    help: async () => (await import('./simulate.ts')).SIMULATE_HELP,
    run: async (args, io) => (await import('./simulate.ts')).simulateCommand(args, io),
  },
};

export const HELP_TEXT = `usage: cmk-rotator <command> [flags]   (from a clone: npx cmk-rotator …)

Operator commands for cmk-rotator, which rotates the customer-managed KMS key of Databricks-on-AWS
workspaces (README.md, docs/cli.md).

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Every command answers -h with its flags and examples. Exit codes: 0 success, 1 the command's answer is
"no" (refused, failed, not restored), 2 a command-line mistake.

examples:
  npx cmk-rotator plan --scenario local/scenarios/demo.json
  npx cmk-rotator start --input rotation.json --state-machine-arn arn:aws:states:…:stateMachine:rotate-workspace-key-prod --watch
  npx cmk-rotator watch arn:aws:states:eu-west-1:111122223333:execution:rotate-workspace-key-prod:manual-…
  npx cmk-rotator restore --workspace 1234567890123456 --bucket cmk-rotator-prod-snapshots
`;

/** Runs one command line; returns the exit code. Never exits the process itself. */
export async function main(argv: string[], io: Io = processIo, hooks: Hooks = {}): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const about = name === 'help' ? args[0] : undefined;
    if (about !== undefined && COMMANDS[about]) {
      io.out(await (COMMANDS[about] as Command).help());
      return 0;
    }
    if (name === undefined) {
      io.err(HELP_TEXT);
      return 2;
    }
    io.out(HELP_TEXT);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    const near = nearest(name.replace(/^-+/, ''), Object.keys(COMMANDS));
    io.err(
      `UsageError: ${name.startsWith('-') ? `a command comes first, got ${name}` : `unknown command ${name}`}${near ? `; did you mean ${near}?` : ''}`,
    );
    io.err(`commands: ${Object.keys(COMMANDS).join(', ')} (cmk-rotator --help for more)`);
    return 2;
  }
  try {
    return await command.run(args, io, hooks);
  } catch (error) {
    const e = error as Error;
    // A bad scenario file is a command-line mistake too (as for npm start).
    if (error instanceof UsageError || e.name === 'InvalidScenario') {
      io.err(`${e.name}: ${e.message}`);
      io.err(`${(await command.help()).split('\n')[0]}\n(cmk-rotator ${name} --help for more)`);
      return 2;
    }
    // A named error of the product, or an AWS SDK error: its name and message, never a stack.
    io.err(`${e.name}: ${e.message}`);
    return 1;
  }
}
