import type { AccountApi } from '../lib/databricks/api.ts';
import type { KeyUseCase } from '../lib/databricks/types.ts';
import { databricksGrantFor } from '../lib/kms/grant.ts';
import { mergeDatabricksStatements, type PolicyStatement, parsePolicy } from '../lib/kms/policy.ts';
import type { Settings } from '../lib/settings.ts';

/** What the "Patch key policy" step would write, computed with the same pure merge and never written. */
export interface PolicyPreview {
  keyArn: string;
  changed: boolean;
  bytesBefore: number;
  bytesAfter: number;
  /** Statements the merge adds, with the workspaces whose grant needs them. */
  added: Array<{ sid: string; statement: PolicyStatement; workspaceIds: number[] }>;
  /** This product's own statements the merge extends (Databricks account ids appended to their condition). */
  extended: Array<{ sid: string; before: PolicyStatement; after: PolicyStatement; workspaceIds: number[] }>;
  /** The change as a line diff of the statements concerned (`+ ` added, `- ` removed, `  ` unchanged). */
  diff: string[];
  /** A workspace whose grant cannot be built or merged: the patch step would fail with this error. */
  problems: Array<{ workspaceId: number; name: string; message: string }>;
}

/**
 * Runs, in order, what each planned workspace's "Patch key policy" step would merge into the key policy
 * (`databricksGrantFor`, then `mergeDatabricksStatements`, each on the result of the previous one, as the
 * workspaces' steps would leave it), starting from `policyJson` as read. Reads only (the EBS statement's
 * role comes from GET workspace and GET credential), writes nothing.
 */
export async function previewKeyPolicy(args: {
  keyArn: string;
  policyJson: string;
  workspaces: ReadonlyArray<{ workspaceId: number; useCases: KeyUseCase[] }>;
  reuseKeyForClusterVolumes: boolean;
  settings: Settings;
  account: AccountApi;
}): Promise<PolicyPreview> {
  const { keyArn, policyJson } = args;
  let current = policyJson;
  const addedBy = new Map<string, number[]>();
  const extendedBy = new Map<string, number[]>();
  const problems: PolicyPreview['problems'] = [];
  for (const w of args.workspaces) {
    if (w.useCases.length === 0) continue;
    try {
      const grant = await databricksGrantFor({
        useCases: w.useCases,
        reuseKeyForClusterVolumes: args.reuseKeyForClusterVolumes,
        workspaceId: w.workspaceId,
        keyArn,
        settings: args.settings,
        account: args.account,
      });
      const result = mergeDatabricksStatements(current, grant);
      for (const sid of result.added) addedBy.set(sid, [...(addedBy.get(sid) ?? []), w.workspaceId]);
      for (const sid of result.merged) extendedBy.set(sid, [...(extendedBy.get(sid) ?? []), w.workspaceId]);
      current = result.policy;
    } catch (error) {
      const e = error as Error;
      problems.push({ workspaceId: w.workspaceId, name: e.name, message: e.message });
    }
  }
  const before = bySid(policyJson);
  const after = bySid(current);
  const added = [...addedBy].map(([sid, workspaceIds]) => ({
    sid,
    statement: after.get(sid) as PolicyStatement,
    workspaceIds,
  }));
  const extended = [...extendedBy]
    .filter(([sid]) => !addedBy.has(sid))
    .map(([sid, workspaceIds]) => ({
      sid,
      before: before.get(sid) as PolicyStatement,
      after: after.get(sid) as PolicyStatement,
      workspaceIds,
    }));
  const diff: string[] = [];
  for (const e of extended) diff.push(...lineDiff(pretty(e.before), pretty(e.after)));
  for (const a of added) diff.push(...pretty(a.statement).map((l) => `+ ${l}`));
  return {
    keyArn,
    changed: current !== policyJson,
    bytesBefore: utf8(policyJson),
    bytesAfter: utf8(current),
    added,
    extended,
    diff,
    problems,
  };
}

function bySid(policyJson: string): Map<string, PolicyStatement> {
  const policy = parsePolicy(policyJson);
  const list = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
  return new Map(list.filter((s) => typeof s.Sid === 'string').map((s) => [s.Sid as string, s]));
}

const pretty = (value: unknown): string[] => JSON.stringify(value, null, 2).split('\n');
const utf8 = (text: string): number => new TextEncoder().encode(text).length;

/** A line diff (longest common subsequence): `- ` only in `a`, `+ ` only in `b`, `  ` in both. */
export function lineDiff(a: readonly string[], b: readonly string[]): string[] {
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      const row = lcs[i] as number[];
      row[j] =
        a[i] === b[j]
          ? ((lcs[i + 1] as number[])[j + 1] ?? 0) + 1
          : Math.max((lcs[i + 1] as number[])[j] ?? 0, row[j + 1] ?? 0);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (((lcs[i + 1] as number[])[j] ?? 0) >= ((lcs[i] as number[])[j + 1] ?? 0)) {
      out.push(`- ${a[i]}`);
      i++;
    } else {
      out.push(`+ ${b[j]}`);
      j++;
    }
  }
  while (i < n) out.push(`- ${a[i++]}`);
  while (j < m) out.push(`+ ${b[j++]}`);
  return out;
}
