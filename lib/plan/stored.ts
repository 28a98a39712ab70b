import type { SnapshotStore } from '../compute/snapshot-store.ts';
import { InvalidInput } from '../errors.ts';
import { type Plan, type PlannedWorkspace, PlanSchema } from '../rotation.ts';
import { parseInput } from '../validate.ts';

/**
 * Workspaces a plan carries in the execution's state. Every Step Functions state holds at most 256 KB, and a
 * planned workspace takes about half a kilobyte: a longer plan is written to the snapshot store and the
 * state carries only the workspace ids (a rotation's Map iterates them, and each workspace's execution loads
 * its own entry with `load-workspace-plan`; a verification loads the whole plan with `loadFullPlan`).
 */
export const INLINE_PLAN_WORKSPACES = 100;

/** Plan modes whose workspaces the state machine goes on to work through (a rotation, a verification). */
const STORED_MODES: ReadonlySet<Plan['mode']> = new Set(['rotate', 'verify']);

/** Where a long plan is kept: one document per execution, named after it. */
export function planKeyOf(executionArn: string): string {
  const name = executionArn.split(':').at(-1) ?? executionArn;
  return `plans/${name.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;
}

/** `plan` as the state machine carries it: as is, or (long) stored with only its workspace ids inline. */
export async function storeLongPlan(plan: Plan, store: SnapshotStore, executionArn: string): Promise<Plan> {
  if (!STORED_MODES.has(plan.mode) || plan.workspaces.length <= INLINE_PLAN_WORKSPACES) return plan;
  const key = planKeyOf(executionArn);
  await store.putDocument(key, plan);
  return {
    ...plan,
    workspaces: [],
    workspaceIds: plan.workspaces.map((w) => w.workspaceId),
    planLocation: { key, where: store.locate(key) },
  };
}

/**
 * The plan with all its workspaces: `plan` itself when it carries them, else the stored plan it points at
 * (`planLocation`), which must list the same workspaces — a step that works through every workspace (the
 * verification) must never take the empty inline list of a stored plan for "no workspace".
 */
export async function loadFullPlan(plan: Plan, store: SnapshotStore): Promise<Plan> {
  if (!plan.planLocation) return plan;
  const stored = await readStoredPlan(store, plan.planLocation.key);
  const ids = stored.workspaces.map((w) => w.workspaceId);
  const expected = plan.workspaceIds ?? [];
  if (ids.length !== expected.length || ids.some((id, i) => id !== expected[i])) {
    throw new InvalidInput(
      `the stored plan ${store.locate(plan.planLocation.key)} lists ${ids.length} workspace(s), not the ${expected.length} this execution planned; start it again`,
      { details: { field: 'planLocation' } },
    );
  }
  return stored;
}

/** The plan stored under `key` (`storeLongPlan`), checked against the plan's schema. */
async function readStoredPlan(store: SnapshotStore, key: string): Promise<Plan> {
  const document = await store.getDocument(key);
  if (document === undefined) {
    throw new InvalidInput(`the stored plan ${store.locate(key)} does not exist; start the rotation again`, {
      details: { field: 'planKey' },
    });
  }
  return parseInput(PlanSchema, document, `the stored plan ${store.locate(key)}`);
}

/** One workspace's entry of a stored plan (`load-workspace-plan`). */
export async function loadPlannedWorkspace(
  store: SnapshotStore,
  key: string,
  workspaceId: number,
): Promise<PlannedWorkspace> {
  const plan = await readStoredPlan(store, key);
  const entry = plan.workspaces.find((w) => w.workspaceId === workspaceId);
  if (!entry) {
    throw new InvalidInput(`workspace ${workspaceId} is not in the stored plan ${store.locate(key)}`, {
      details: { field: 'workspaceId' },
    });
  }
  return entry;
}
