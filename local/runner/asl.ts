import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A state of the ASL definition with the fields the runner inspects. */
export interface AslState {
  Type: string;
  Resource?: string;
  Seconds?: number;
  SecondsPath?: string;
  Timestamp?: string;
  TimestampPath?: string;
  Retry?: Array<{ IntervalSeconds?: number }>;
  ItemProcessor?: AslMachine;
  Iterator?: AslMachine;
  [field: string]: unknown;
}
export interface AslMachine {
  StartAt: string;
  States: Record<string, AslState>;
  [field: string]: unknown;
}

export const ASL_PATH = fileURLToPath(
  new URL('../../statemachines/rotate-workspace-key.asl.json', import.meta.url),
);

/** The one-workspace child state machine the rotation starts per workspace. */
export const CHILD_ASL_PATH = fileURLToPath(
  new URL('../../statemachines/rotate-one-workspace.asl.json', import.meta.url),
);

/** The state machine file, exactly as deployed (placeholders intact). */
export function readAsl(path = ASL_PATH): string {
  return readFileSync(path, 'utf8');
}

/**
 * Fills the `${XFunctionArn}` placeholders the way CloudFormation's DefinitionSubstitutions does, with local
 * ARNs, so the definition is valid ASL; the local runner then maps each Task to its handler by state name.
 */
export function substituteArns(text: string, region = 'us-east-1', account = '000000000000'): string {
  return text
    .replace(
      /\$\{(\w+)FunctionArn\}/g,
      (_, name: string) => `arn:aws:lambda:${region}:${account}:function:cmk-rotator-local-${name}`,
    )
    .replace(
      /\$\{(\w+)StateMachineArn\}/g,
      (_, name: string) =>
        `arn:aws:states:${region}:${account}:stateMachine:${name.replace(/[A-Z]/g, (c, i) => `${i > 0 ? '-' : ''}${c.toLowerCase()}`)}`,
    );
}

/** Every state of the machine, nested Map/Parallel states included, with its name. */
export function allStates(machine: AslMachine): Array<[string, AslState]> {
  const out: Array<[string, AslState]> = [];
  for (const [name, state] of Object.entries(machine.States)) {
    out.push([name, state]);
    const inner = state.ItemProcessor ?? state.Iterator;
    if (inner) out.push(...allStates(inner));
    for (const branch of (state.Branches as AslMachine[] | undefined) ?? []) out.push(...allStates(branch));
  }
  return out;
}

/** The placeholder name of a Task's Lambda (`${StopComputeFunctionArn}` → `StopCompute`). */
export function functionOf(state: AslState): string | undefined {
  return /\$\{(\w+)FunctionArn\}/.exec(state.Resource ?? '')?.[1];
}
