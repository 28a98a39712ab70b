/**
 * The IAM table of docs/deploy.md ("IAM: least privilege") and the same table rendered from the packaged
 * template, so a test can hold one to the other: one row per policy statement of each role, in words an
 * operator reads (logical ids for the stack's own resources).
 */
import { actionsOf, type Cfn, roleStatementsAsWritten, type Statement, type Template } from './template.ts';

export interface IamRow {
  /** A function (its file name under functions/), or `state machines` / `EventBridge triggers`. */
  who: string;
  effect: string;
  actions: string;
  resources: string;
  condition: string;
}

export const IAM_HEADING = '## IAM: least privilege';
const COLUMNS = ['who', 'effect', 'actions', 'resources', 'condition'] as const;

/** What a `Fn::If` condition of the template means, as the table says it. */
const WHEN: Record<string, string> = {
  EncryptTopic: 'when notificationTopicKmsKeyArn is set',
  StateMachineTracing: 'when stateMachineTracing is true',
};

/** A cell as compared: no backticks, one space between words, `—` for nothing. */
function normalize(cell: string): string {
  const text = cell.replace(/`/g, '').replace(/\s+/g, ' ').trim();
  return text === '—' || text === '-' ? '' : text;
}

/** The rows of the first table under `IAM_HEADING` whose first column is `who`. */
export function parseIamTable(markdown: string): IamRow[] {
  const start = markdown.indexOf(`\n${IAM_HEADING}\n`);
  if (start < 0) throw new Error(`docs/deploy.md has no section "${IAM_HEADING}"`);
  const end = markdown.indexOf('\n## ', start + 1);
  const lines = markdown.slice(start, end < 0 ? undefined : end).split('\n');
  const header = lines.findIndex((l) => /^\|\s*who\s*\|/.test(l));
  if (header < 0) throw new Error(`the section "${IAM_HEADING}" has no table starting with "| who |"`);
  const rows: IamRow[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').slice(1, -1).map(normalize);
    if (cells.length !== COLUMNS.length) throw new Error(`IAM table row has ${cells.length} cells: ${line}`);
    rows.push(Object.fromEntries(COLUMNS.map((c, i) => [c, cells[i] ?? ''])) as unknown as IamRow);
  }
  return rows;
}

export interface RenderContext {
  /** The ARN of the credentials secret in the packaged template. */
  secretArn: string;
  /** The stage packaged (`local`): written `<stage>` in the table. */
  stage: string;
}

/** One resource of a statement, in the table's words. */
function renderResource(
  value: Cfn,
  ownLogGroup: string,
  when: string | undefined,
  ctx: RenderContext,
): string {
  if (typeof value === 'string') {
    if (value === ctx.secretArn) return 'credentials secret';
    if (value === '' && when === 'EncryptTopic') return 'notificationTopicKmsKeyArn';
    return value;
  }
  if (typeof value?.Ref === 'string') return value.Ref;
  const getAtt = value?.['Fn::GetAtt'];
  if (Array.isArray(getAtt) && getAtt[1] === 'Arn')
    return getAtt[0] === ownLogGroup ? 'own log group' : getAtt[0];
  const sub = value?.['Fn::Sub'];
  if (typeof sub === 'string') {
    return sub
      .replace(/^arn:\$\{AWS::Partition\}:[a-z0-9-]+:\$\{AWS::Region\}:\$\{AWS::AccountId\}:/, '')
      .replace(/\$\{(\w+)\.Arn\}/g, '$1')
      .replaceAll(`-${ctx.stage}`, '-<stage>');
  }
  return JSON.stringify(value);
}

/** A statement's condition, `Operator key = value, value; …`, and the template condition it depends on. */
function renderCondition(condition: Cfn, when: string | undefined): string {
  const parts: string[] = [];
  for (const [operator, tests] of Object.entries((condition ?? {}) as Record<string, Record<string, Cfn>>)) {
    for (const [key, value] of Object.entries(tests)) {
      const values = (Array.isArray(value) ? value : [value]).map((v: Cfn) =>
        typeof v === 'string' ? v : typeof v?.Ref === 'string' ? v.Ref : JSON.stringify(v),
      );
      parts.push(`${operator} ${key} = ${values.join(', ')}`);
    }
  }
  if (when !== undefined) parts.push(WHEN[when] ?? `when ${when}`);
  return parts.join('; ');
}

/** Every statement of the roles of `who`, as rows of the table (sorted, for comparison). */
export function templateIamRows(
  template: Template,
  roles: Record<string, { role: string; logGroup?: string }>,
  ctx: RenderContext,
): IamRow[] {
  const rows: IamRow[] = [];
  for (const [who, { role, logGroup }] of Object.entries(roles)) {
    for (const { statement, when } of roleStatementsAsWritten(template, role)) {
      const s = statement as Statement;
      const resources = (Array.isArray(s.Resource) ? s.Resource : [s.Resource]).map((r: Cfn) =>
        renderResource(r, logGroup ?? '', when, ctx),
      );
      // The state machines' list of the functions they invoke: a count (another test names them).
      const functions = resources.every((r) => r.endsWith('LambdaFunction')) && resources.length > 3;
      rows.push({
        who,
        effect: s.Effect,
        actions: [...actionsOf(s)].sort().join(', '),
        resources: functions ? `${resources.length} Task functions` : resources.join(', '),
        condition: renderCondition(s.Condition, when),
      });
    }
  }
  return sortRows(rows);
}

/** Rows with their actions sorted, in a stable order. */
export function sortRows(rows: IamRow[]): IamRow[] {
  const key = (r: IamRow) => [r.who, r.effect, r.actions, r.resources, r.condition].join('\u0000');
  return rows
    .map((r) => ({
      ...r,
      actions: r.actions
        .split(',')
        .map((a) => a.trim())
        .filter((a) => a !== '')
        .sort()
        .join(', '),
    }))
    .sort((a, b) => key(a).localeCompare(key(b)));
}
