import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { MAX_ERROR_MESSAGE_CHARS } from '../../lib/errors.ts';
import { planRotation } from '../../lib/plan/plan.ts';
import { type Plan, PlanSchema } from '../../lib/rotation.ts';
import { parseInput } from '../../lib/validate.ts';
import {
  arnOf,
  FakeAccount,
  FakeKms,
  IMPORTED_KEY,
  keyConfig,
  NEW_KEY,
  OLD_KEY,
  settingsWith,
  WATCHED_ALIAS,
  workspace,
} from './fakes.ts';

/**
 * Fuzzing the boundary, in the manner of middy's `index.fuzz.js`: arbitrary JSON, and mutated copies of the
 * real sample events and inputs, thrown at `planRotation` and at every step's input schema. A bad input may
 * only end in a named error; a `TypeError`, `RangeError` or raw `ZodError` is a bug.
 *
 * On failure fast-check prints the seed and the counterexample path; replay with
 * `FUZZ_SEED=<seed> npx vitest run tests/plan/fuzz.test.ts`.
 */

const RUNS = 300;
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const params = { numRuns: RUNS, ...(seed === undefined ? {} : { seed }) };

/**
 * What `planRotation` may end with, besides a plan. Bad input is `InvalidInput`/`UnsupportedEvent`; the
 * others are the plan's own refusals (DESIGN §3, §6), reachable because a mutated input can still be a
 * well-formed request that the fake world below must refuse.
 */
const PLAN_ERRORS: Record<string, string> = {
  InvalidInput: 'the manual input, or a field of a supported event, is malformed',
  UnsupportedEvent: 'an event this state machine does not handle (other source, detail-type, eventName)',
  KeyNotFound: 'a well-formed key id, ARN or alias that the fake KMS does not know',
  WorkspaceNotFound: 'a well-formed workspace id that the fake account does not have',
  NoWorkspacesInScope: 'nothing left to rotate (kept for completeness: the fake account is never empty)',
  KeyInUseWithoutSuccessor:
    'a disable/delete event for a key in use when the watched alias names no other key',
  OldKeyRetiredTooEarly: 'a disable/delete event for a key replaced inside the retention window',
  StorageKeyCannotBeRotated: 'a disable/delete event for a key in use as a storage key',
  StorageKeyAlreadySet: 'a manual request for STORAGE on a workspace that has another storage key',
  WorkspaceNotRunning: 'a manual request for a workspace that is not RUNNING',
  KeyDisabled: 'a manual request naming a target key that is disabled',
  KeyInvalidState: 'a manual request naming a target key pending deletion or import',
  KeyNotSymmetric: 'a manual request naming an asymmetric target key',
  KeyWrongUsage: 'a manual request naming a target key not for ENCRYPT_DECRYPT',
  KeyRegionMismatch: "a manual request naming a target key outside a named workspace's region",
};

/** What a step's input parse may end with: only `InvalidInput` (`parseInput`'s contract). */
const PARSE_ERRORS = new Set(['InvalidInput']);

const FIXTURES = new URL('../fixtures/events/', import.meta.url);
const EVENTS = readdirSync(FIXTURES)
  .filter((file) => file.endsWith('.json'))
  .sort()
  .map((file) => JSON.parse(readFileSync(new URL(file, FIXTURES), 'utf8')) as unknown);

const WS = 1234567890123456;
const WS2 = 2345678901234567;
const NOW = Date.parse('2026-11-25T16:45:00Z');
const MANUAL = { workspaceIds: [WS, WS2], keyArn: arnOf(NEW_KEY), dryRun: true, oldKeyRetentionHours: 48 };

/** Two workspaces on the old key; the watched alias on the new one (so disable events plan an emergency). */
function world() {
  const account = new FakeAccount(
    [
      workspace({
        workspace_id: WS,
        workspace_name: 'prod',
        managed_services_customer_managed_key_id: 'cfg-old',
      }),
      workspace({
        workspace_id: WS2,
        workspace_name: 'dev',
        managed_services_customer_managed_key_id: 'cfg-old',
      }),
    ],
    [keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'], { key_alias: WATCHED_ALIAS, creation_time: 0 })],
  );
  const kms = new FakeKms([
    { keyId: OLD_KEY },
    { keyId: NEW_KEY, aliases: [WATCHED_ALIAS] },
    { keyId: IMPORTED_KEY, state: 'Disabled' },
  ]);
  return { account, kms, settings: settingsWith() };
}

/** Values that broke parsers before: wrong types, edge numbers, huge strings, deep nesting. */
const nasty = fc.constantFrom<unknown>(
  null,
  '',
  'x'.repeat(300_000),
  '💥'.repeat(5_000),
  0,
  -1,
  1.5,
  1e300,
  Number.MAX_SAFE_INTEGER + 2,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  true,
  [],
  {},
  [1, 2, 3],
  ['arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab', 7],
  deeplyNested(5_000),
  { __proto__: { polluted: true } },
  'constructor',
  '__proto__',
  'toString',
  '2026-13-45T99:99:99Z',
  'arn:aws:kms:us-east-1:111122223333:key/not a key',
  'alias/aws/ebs',
);

function deeplyNested(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { a: value } : [value];
  return value;
}

type Path = (string | number)[];

/** Every path into `value` (objects and arrays) down to `depth` levels, the root excluded. */
function pathsOf(value: unknown, prefix: Path = [], depth = 8): Path[] {
  if (typeof value !== 'object' || value === null || depth === 0) return [];
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((key) => [
    [...prefix, key],
    ...pathsOf((value as Record<string | number, unknown>)[key], [...prefix, key], depth - 1),
  ]);
}

type Mutation =
  | { kind: 'set'; pick: number; value: unknown }
  | { kind: 'delete'; pick: number }
  | { kind: 'add'; pick: number; key: string; value: unknown };

const junk = fc.oneof(fc.jsonValue(), nasty);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), pick: fc.nat(), value: junk }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      pick: fc.nat(),
      key: fc.string(),
      value: junk,
    }),
  },
);

/** A copy of `seedValue` with 1–3 mutations at paths chosen among its own (types replaced, keys dropped or added). */
function mutated(seedValue: unknown, mutations: readonly Mutation[]): unknown {
  const copy = structuredClone(seedValue) as Record<string | number, unknown>;
  for (const m of mutations) {
    const paths = pathsOf(copy);
    if (paths.length === 0) break;
    const path = paths[m.pick % paths.length] as Path;
    let parent = copy as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    const last = path[path.length - 1] as string | number;
    if (m.kind === 'set') parent[last] = m.value;
    else if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else {
      const target = parent[last];
      if (typeof target === 'object' && target !== null && !Array.isArray(target)) {
        Object.defineProperty(target, m.key, {
          value: m.value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else parent[last] = m.value;
    }
  }
  return copy;
}

const mutationsOf = (seeds: readonly unknown[]) =>
  fc
    .tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 3 }))
    .map(([seedValue, mutations]) => mutated(seedValue, mutations));

/** Runs `act`; a result passes, a thrown error passes only when its name is in `accepted` and its message fits. */
async function endsWell(act: () => unknown, accepted: ReadonlySet<string>): Promise<unknown> {
  try {
    return await act();
  } catch (error) {
    const e = error as Error;
    if (!accepted.has(e?.name)) {
      throw new Error(`unexpected ${e?.name}: ${String(e?.message).slice(0, 500)}`, { cause: error });
    }
    expect(e.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    return undefined;
  }
}

async function planEndsWell(raw: unknown): Promise<void> {
  const { account, kms, settings } = world();
  const plan = (await endsWell(
    () => planRotation(raw, { settings, kms, account, now: NOW }),
    new Set(Object.keys(PLAN_ERRORS)),
  )) as Plan | undefined;
  if (plan === undefined) return;
  // A plan that comes out is a valid Plan, small enough for Step Functions' 256 KB state.
  expect(PlanSchema.safeParse(plan).success).toBe(true);
  expect(JSON.stringify(plan).length).toBeLessThan(256 * 1024);
  // Planning only reads.
  expect(account.writes()).toEqual([]);
  expect(kms.writes()).toEqual([]);
}

describe('Fuzz: planRotation', () => {
  it('ends every arbitrary JSON value in a plan or a named error', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.jsonValue(), nasty), planEndsWell), params);
  });

  it('ends every mutated sample event in a plan or a named error', async () => {
    await fc.assert(fc.asyncProperty(mutationsOf(EVENTS), planEndsWell), params);
  });

  it('ends every mutated manual input in a plan or a named error', async () => {
    await fc.assert(fc.asyncProperty(mutationsOf([MANUAL]), planEndsWell), params);
  });

  it('plans the unmutated samples (the seeds themselves are sound)', async () => {
    const { account, kms, settings } = world();
    const plan = await planRotation(MANUAL, { settings, kms, account, now: NOW });
    expect(plan.workspaces.map((w) => w.workspaceId)).toEqual([WS, WS2]);
    for (const event of EVENTS) await planEndsWell(event);
  });
});

interface StepHandler {
  stepName: string;
  schema: z.ZodType;
}

/** Every step handler in functions/, with the schema `defineStep` parses its input with. */
async function stepHandlers(): Promise<StepHandler[]> {
  const dir = new URL('../../functions/', import.meta.url);
  const files = readdirSync(dir)
    .filter((file) => file.endsWith('.ts'))
    .sort();
  const handlers: StepHandler[] = [];
  for (const file of files) {
    const module = (await import(new URL(file, dir).href)) as { handler?: Partial<StepHandler> };
    const { handler } = module;
    if (!handler?.schema || !handler.stepName)
      throw new Error(`functions/${file} is not a defineStep handler`);
    handlers.push({ stepName: handler.stepName, schema: handler.schema });
  }
  return handlers;
}

/** Valid documents of the state machine's data (a plan, a Map item, the finish input, the notice) to mutate. */
async function stateSamples(): Promise<unknown[]> {
  const { account, kms, settings } = world();
  const plan = await planRotation({ ...MANUAL, dryRun: false }, { settings, kms, account, now: NOW });
  const [planned] = plan.workspaces;
  const item = {
    executionId: 'exec-1',
    workspace: planned,
    target: plan.target,
    useCases: plan.useCases,
    reuseKeyForClusterVolumes: plan.reuseKeyForClusterVolumes,
    activeRuns: plan.activeRuns,
    drainTimeoutMinutes: plan.drainTimeoutMinutes,
    emergency: plan.emergency,
    storageWaitSeconds: plan.storageWaitSeconds,
  };
  const finish = {
    plan,
    rotations: [
      { workspaceId: WS, status: 'ROTATED', keyChanged: true, update: { patchedAt: NOW } },
      { workspaceId: WS2, status: 'FAILED', error: 'DrainTimeout', cause: 'runs', computeRestored: true },
    ],
  };
  const notice = {
    retainUntil: '2026-11-26T16:45:00.000Z',
    lastUpdateAt: NOW,
    oldKeyRetentionHours: 24,
    oldKeyArns: [arnOf(OLD_KEY)],
    newKeyArn: arnOf(NEW_KEY),
    workspaceIds: [WS],
  };
  return [plan, item, finish, notice];
}

describe('Fuzz: every step input schema', async () => {
  const handlers = await stepHandlers();
  const samples = await stateSamples();

  it('finds a defineStep handler with a schema in every functions/*.ts', () => {
    expect(handlers.map((h) => h.stepName)).toContain('plan');
    expect(handlers.length).toBeGreaterThanOrEqual(10);
  });

  it.each(handlers.map((h) => [h.stepName, h] as const))(
    '%s: ends arbitrary and mutated input in a value or InvalidInput',
    async (stepName, { schema }) => {
      const input = fc.oneof(fc.jsonValue(), nasty, mutationsOf(samples));
      await fc.assert(
        fc.asyncProperty(input, async (value) => {
          await endsWell(() => parseInput(schema, value, `${stepName} input`), PARSE_ERRORS);
        }),
        params,
      );
    },
  );
});
