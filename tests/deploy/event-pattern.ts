/**
 * A small, faithful EventBridge event-pattern matcher for tests (the semantics of the EventBridge user guide,
 * "Event patterns" and "Content filtering"):
 * - every field named in the pattern must match (AND); fields not named are ignored;
 * - a nested object in the pattern descends into the event; the event must have an object there;
 * - an array in the pattern is a list of alternatives (OR) for a leaf value; when the event's value is an
 *   array, the field matches when any element matches any alternative;
 * - alternatives: a literal (string/number/boolean/null, exact and case-sensitive) or one of the
 *   operators `prefix`, `suffix`, `equals-ignore-case`, `anything-but`, `exists`, `numeric`, `wildcard`.
 * A field that is absent matches only `{ "exists": false }`.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** True when `event` matches `pattern`. Throws on a pattern construct this matcher does not know. */
export function matchesPattern(pattern: unknown, event: unknown): boolean {
  if (!isObject(pattern))
    throw new Error(`an event pattern must be an object, got ${JSON.stringify(pattern)}`);
  return Object.entries(pattern).every(([key, sub]) => {
    const value = isObject(event) ? event[key] : undefined;
    if (Array.isArray(sub)) return matchesLeaf(sub, value);
    if (isObject(sub)) return isObject(value) && matchesPattern(sub, value);
    throw new Error(`pattern field "${key}" must be an array or an object, got ${JSON.stringify(sub)}`);
  });
}

function matchesLeaf(alternatives: unknown[], value: unknown): boolean {
  const values = Array.isArray(value) ? value : [value];
  return alternatives.some((alt) => {
    if (isObject(alt) && 'exists' in alt) return (value !== undefined) === alt.exists;
    if (value === undefined) return false;
    return values.some((v) => matchesOne(alt, v));
  });
}

function matchesOne(alt: unknown, v: unknown): boolean {
  if (!isObject(alt)) return alt === v;
  const [op, arg, ...rest] = Object.entries(alt).flat();
  if (rest.length > 0) throw new Error(`one operator per alternative, got ${JSON.stringify(alt)}`);
  switch (op) {
    case 'prefix':
      return isObject(arg)
        ? typeof v === 'string' && v.toLowerCase().startsWith(String(arg['equals-ignore-case']).toLowerCase())
        : typeof v === 'string' && v.startsWith(String(arg));
    case 'suffix':
      return isObject(arg)
        ? typeof v === 'string' && v.toLowerCase().endsWith(String(arg['equals-ignore-case']).toLowerCase())
        : typeof v === 'string' && v.endsWith(String(arg));
    case 'equals-ignore-case':
      return typeof v === 'string' && v.toLowerCase() === String(arg).toLowerCase();
    case 'wildcard':
      return typeof v === 'string' && wildcardRegExp(String(arg)).test(v);
    case 'anything-but':
      if (Array.isArray(arg)) return !arg.some((a) => a === v);
      if (isObject(arg)) return !matchesOne(arg, v);
      return arg !== v;
    case 'numeric':
      return typeof v === 'number' && numericMatches(arg as unknown[], v);
    default:
      throw new Error(`unsupported pattern operator ${JSON.stringify(alt)}`);
  }
}

function wildcardRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's');
}

function numericMatches(conditions: unknown[], v: number): boolean {
  for (let i = 0; i + 1 < conditions.length; i += 2) {
    const op = conditions[i];
    const n = Number(conditions[i + 1]);
    const ok =
      op === '='
        ? v === n
        : op === '<'
          ? v < n
          : op === '<='
            ? v <= n
            : op === '>'
              ? v > n
              : op === '>=' && v >= n;
    if (!ok) return false;
  }
  return true;
}
