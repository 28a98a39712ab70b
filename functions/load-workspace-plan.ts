import { snapshotStoreFor } from '../lib/compute/snapshot-store.ts';
import { loadPlannedWorkspace } from '../lib/plan/stored.ts';
import * as z from '../lib/zod.ts';
import { defineStep } from './commons/handler.ts';

/** Input: the workspace of a long plan and where the plan is kept (lib/plan/stored.ts). */
export const LoadWorkspacePlanInputSchema = z.object({
  workspaceId: z.number().check(z.int(), z.positive()),
  planKey: z.string().check(z.minLength(1), z.maxLength(1024)),
});

/**
 * Load the workspace's plan: a long plan is kept in the snapshot store and the rotation passes only the
 * workspace id; its entry becomes the item's `workspace`.
 */
export const handler = defineStep('load-workspace-plan', LoadWorkspacePlanInputSchema, (input, env) =>
  loadPlannedWorkspace(snapshotStoreFor(env.settings), input.planKey, input.workspaceId),
);
