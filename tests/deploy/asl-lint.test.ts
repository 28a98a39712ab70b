import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AslMachine, allStates, readAsl } from '../../local/runner/asl.ts';

/**
 * Lints the state machine the way a reviewer would (STYLE.md): inside the per-workspace Map every Task has a
 * Retry and a Catch (an uncaught error would fail the Map and abort every other workspace), every Catch
 * target exists, and every name in ErrorEquals is an error class the code throws or a Step Functions /
 * Lambda name.
 */

const machine = JSON.parse(readAsl()) as AslMachine & {
  States: Record<string, { ItemProcessor?: { States: Record<string, unknown> } }>;
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const path = join(dir, f);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Error classes the product defines (`class X extends …Error…`), by name. */
const productErrors = new Set(
  [...sourceFiles('lib'), ...sourceFiles('functions')].flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/class (\w+) extends (\w+)/g)].map((m) => m[1] as string),
  ),
);
const PLATFORM = /^(States\.[A-Za-z]+|Lambda\.[A-Za-z]+|Sandbox\.Timedout)$/;

type Task = {
  Type: string;
  Retry?: Array<{ ErrorEquals: string[] }>;
  Catch?: Array<{ ErrorEquals: string[]; Next: string }>;
};

const iteration = Object.values(machine.States).find((s) => s.ItemProcessor)?.ItemProcessor?.States as Record<
  string,
  Task
>;

describe('The state machine (lint)', () => {
  it.each(Object.entries(iteration).filter(([, s]) => s.Type === 'Task'))(
    'gives "%s" a Retry and a Catch to a state of the same iteration',
    (_, task) => {
      expect(task.Retry?.length).toBeGreaterThan(0);
      expect(task.Catch?.length).toBeGreaterThan(0);
      for (const c of task.Catch ?? []) expect(Object.keys(iteration)).toContain(c.Next);
    },
  );

  it('only names errors the code throws or the platform raises', () => {
    const unknown = allStates(machine)
      .flatMap(([, s]) => [...((s as Task).Retry ?? []), ...((s as Task).Catch ?? [])])
      .flatMap((r) => r.ErrorEquals)
      .filter((name) => !PLATFORM.test(name) && !productErrors.has(name));
    expect([...new Set(unknown)]).toEqual([]);
  });
});
