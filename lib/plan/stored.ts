import type { SnapshotStore } from '../compute/snapshot-store.ts';
import { InvalidInput } from '../errors.ts';
import { type Plan, type PlannedWorkspace, PlanSchema } from '../rotation.ts';
import { parseInput } from '../validate.ts';

/**
 * Workspaces a plan carries in the execution's state. Every Step Functions state holds at most 256 KB, and a
 * planned workspace takes about half a kilobyte: a longer plan is written to the snapshot store and the
 * state carries only the workspace ids (the Map iterates them; each workspace's execution loads its own
 * entry with `load-workspace-plan`).
 */
export const INLINE_PLAN_WORKSPACES = 100;

/** Where a long plan is kept: one document per execution, named after it. */
export function planKeyOf(executionArn: string): string {
  const name = executionArn.split(':').at(-1) ?? executionArn;
  return `plans/${name.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;
}

/** `plan` as the state machine carries it: as is, or (long) stored with only its workspace ids inline. */
export async function storeLongPlan(plan: Plan, store: SnapshotStore, executionArn: string): Promise<Plan> {
  if (plan.mode !== 'rotate' || plan.workspaces.length <= INLINE_PLAN_WORKSPACES) return plan;
  const key = planKeyOf(executionArn);
  await store.putDocument(key, plan);
  return {
    ...plan,
    workspaces: [],
    workspaceIds: plan.workspaces.map((w) => w.workspaceId),
    planLocation: { key, where: store.locate(key) },
  };
}

/** One workspace's entry of a stored plan (`load-workspace-plan`). */
export async function loadPlannedWorkspace(
  store: SnapshotStore,
  key: string,
  workspaceId: number,
): Promise<PlannedWorkspace> {
  const document = await store.getDocument(key);
  if (document === undefined) {
    throw new InvalidInput(`the stored plan ${store.locate(key)} does not exist; start the rotation again`, {
      details: { field: 'planKey' },
    });
  }
  const plan = parseInput(PlanSchema, document, `the stored plan ${store.locate(key)}`);
  const entry = plan.workspaces.find((w) => w.workspaceId === workspaceId);
  if (!entry) {
    throw new InvalidInput(`workspace ${workspaceId} is not in the stored plan ${store.locate(key)}`, {
      details: { field: 'workspaceId' },
    });
  }
  return entry;
}
