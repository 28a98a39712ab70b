import { createHash } from 'node:crypto';
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

/**
 * `aws-local-stepfunctions` 3.0.0 computes `States.Hash` wrongly for inputs of 56 bytes or more (an
 * execution ARN is longer): two parents' ARNs that differ in their last characters hash alike, so their
 * children got one name and one lock holder — two executions on one workspace, which AWS never allows.
 * The interpreter therefore only marks what to hash (`States.Format` with a marker, in the definition it
 * runs) and the runner hashes it with node:crypto before a Task sees its input (`resolveHashes`). AWS
 * answers the hex digest in lower case (Step Functions' intrinsic functions reference, States.Hash).
 */
const HASH_MARK = '#hash#';
const HASH_ALGORITHMS: Record<string, string> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};

/** The definition text with each `States.Hash(<path>, '<algorithm>')` replaced by a marked `States.Format`. */
export function withMarkedHashes(text: string): string {
  return text.replace(
    /States\.Hash\(\s*([^(),\s]+)\s*,\s*'([^']+)'\s*\)/g,
    (whole, path: string, algorithm: string) =>
      HASH_ALGORITHMS[algorithm]
        ? `States.Format('${HASH_MARK}${algorithm}#{}${HASH_MARK}', ${path})`
        : whole,
  );
}

/** `value` with every marked hash (`withMarkedHashes`) replaced by the digest AWS would give. */
export function resolveHashes(value: unknown): unknown {
  if (typeof value === 'string') {
    if (!value.includes(HASH_MARK)) return value;
    return value.replace(
      new RegExp(`${HASH_MARK}([A-Z0-9-]+)#(.*?)${HASH_MARK}`, 'gs'),
      (whole, algorithm: string, input: string) => {
        const name = HASH_ALGORITHMS[algorithm];
        return name ? createHash(name).update(input, 'utf8').digest('hex') : whole;
      },
    );
  }
  if (Array.isArray(value)) return value.map(resolveHashes);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveHashes(v)]));
  return value;
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
