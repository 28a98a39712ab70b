import { clip, fieldPath, InvalidInput, listSome } from './errors.ts';
import * as z from './zod.ts';

/**
 * Parses `value` with `schema`; on failure raises `InvalidInput` whose message names the first bad field
 * (`workspaceIds[0]: expected number`), so an operator knows exactly what to fix. For any JSON value the
 * only error it raises is `InvalidInput` (tests/plan/fuzz.test.ts holds every step's schema to that), with a
 * short message: field names from the input are clipped, long lists of unknown fields summarised.
 */
export function parseInput<S extends z.core.$ZodType>(schema: S, value: unknown, what = 'input'): z.infer<S> {
  const parsed = z.safeParse(schema, value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (!issue) throw new InvalidInput(`${what} is invalid`);
  let field = fieldPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const keys = listSome(
      issue.keys.map((k) => clip(k, 100)),
      10,
    );
    field = issue.path.length > 0 ? `${fieldPath(issue.path)}.${keys}` : keys;
    throw new InvalidInput(`${what} has unknown field(s): ${keys}`, { details: { field } });
  }
  throw new InvalidInput(`${what} field ${field} is invalid: ${clip(issue.message, 500)}`, {
    details: { field },
  });
}
