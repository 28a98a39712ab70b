/**
 * Test helpers over the CloudFormation template `npm run package` writes: package once, read resources,
 * evaluate the few intrinsics the assertions need (Ref, Fn::If with literal Fn::Equals/Fn::Not conditions).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/events');
export const ASL_FILE = path.join(ROOT, 'statemachines/rotate-workspace-key.asl.json');

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation documents are untyped JSON.
export type Cfn = any;

export interface Template {
  Resources: Record<string, { Type: string; Condition?: string; Properties: Cfn; DependsOn?: Cfn }>;
  Conditions?: Record<string, Cfn>;
  Outputs?: Record<string, Cfn>;
}

/**
 * Runs `npm run package` with no AWS credentials in the environment (the package must build offline) and
 * returns the update-stack template and the packaged artifact names. Kills the whole process group after
 * `timeoutMs` (osls can hang after a failed esbuild build instead of exiting).
 */
export async function packageService(
  timeoutMs: number,
): Promise<{ template: Template; artifacts: string[] }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  env.AWS_EC2_METADATA_DISABLED = 'true';
  env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
  env.AWS_CONFIG_FILE = '/nonexistent/config';
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('npm', ['run', 'package'], { cwd: ROOT, env, detached: true });
    let log = '';
    child.stdout.on('data', (d) => {
      log += d;
    });
    child.stderr.on('data', (d) => {
      log += d;
    });
    const timer = setTimeout(() => {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
      reject(new Error(`npm run package did not finish in ${timeoutMs} ms:\n${log}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(log);
      else reject(new Error(`npm run package exited with ${code}:\n${log}`));
    });
  });
  const dir = path.join(ROOT, '.serverless');
  const file = path.join(dir, 'cloudformation-template-update-stack.json');
  if (!existsSync(file)) throw new Error(`npm run package wrote no template:\n${output}`);
  return {
    template: JSON.parse(readFileSync(file, 'utf8')) as Template,
    artifacts: readdirSync(dir).filter((f) => f.endsWith('.zip')),
  };
}

/** Reads one event fixture by file name (without `.json`). */
export function fixture(name: string): Record<string, Cfn> {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8'));
}

/** All fixture names. */
export function fixtureNames(): string[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** Evaluates a condition made of literal Fn::Equals / Fn::Not / Fn::And / Fn::Or (what serverless leaves). */
export function evaluateCondition(template: Template, name: string): boolean {
  const evalExpr = (e: Cfn): boolean => {
    if (e['Fn::Equals']) return e['Fn::Equals'][0] === e['Fn::Equals'][1];
    if (e['Fn::Not']) return !evalExpr(e['Fn::Not'][0]);
    if (e['Fn::And']) return e['Fn::And'].every(evalExpr);
    if (e['Fn::Or']) return e['Fn::Or'].some(evalExpr);
    if (e.Condition) return evaluateCondition(template, e.Condition);
    throw new Error(`cannot evaluate condition ${JSON.stringify(e)}`);
  };
  const expr = template.Conditions?.[name];
  if (expr === undefined) throw new Error(`no condition ${name}`);
  return evalExpr(expr);
}

/**
 * Resolves `Fn::If` (by evaluating its condition), drops `AWS::NoValue`, and replaces `Ref`s found in
 * `refs`; everything else is left as is.
 */
export function resolve(template: Template, value: Cfn, refs: Record<string, string> = {}): Cfn {
  const NO_VALUE = Symbol('NoValue');
  const walk = (v: Cfn): Cfn => {
    if (Array.isArray(v)) return v.map(walk).filter((x) => x !== NO_VALUE);
    if (v === null || typeof v !== 'object') return v;
    if (v.Ref === 'AWS::NoValue') return NO_VALUE;
    if (typeof v.Ref === 'string' && refs[v.Ref] !== undefined) return refs[v.Ref];
    if (v['Fn::If']) {
      const [cond, yes, no] = v['Fn::If'];
      return walk(evaluateCondition(template, cond) ? yes : no);
    }
    const out: Record<string, Cfn> = {};
    for (const [k, x] of Object.entries(v)) {
      const r = walk(x);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  };
  return walk(value);
}

/** Resources of one type, by logical id. */
export function resourcesOfType(template: Template, type: string): Record<string, Cfn> {
  return Object.fromEntries(Object.entries(template.Resources).filter(([, r]) => r.Type === type));
}

export interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: Cfn;
  Condition?: Cfn;
  Principal?: Cfn;
}

/**
 * A policy document as an object. serverless.yml writes the statements whose condition key holds a setting
 * (the key tag) as a JSON string in `Fn::Sub`: serverless resolves variables in values, never in keys. Its
 * strings that still hold `${…}` become `{ "Fn::Sub": … }` again, so that they compare equal to the same
 * value written as YAML.
 */
export function policyDocument(document: Cfn): { Statement: Cfn[] } {
  const text = typeof document === 'string' ? document : document?.['Fn::Sub'];
  if (typeof text !== 'string') return document;
  return JSON.parse(text, (_key, value) =>
    typeof value === 'string' && value.includes('${') ? { 'Fn::Sub': value } : value,
  );
}

/** The statements of an IAM role's inline policies (conditions of this template applied). */
export function roleStatements(template: Template, roleId: string): Statement[] {
  const role = template.Resources[roleId];
  if (!role) throw new Error(`no role ${roleId}`);
  const policies = (role.Properties.Policies ?? []) as { PolicyDocument: Cfn }[];
  return policies.flatMap(
    (p) => (resolve(template, policyDocument(p.PolicyDocument)) as { Statement: Statement[] }).Statement,
  );
}

/**
 * The statements of an IAM role's inline policies as written, each `Fn::If` between a statement and
 * `AWS::NoValue` unfolded: the statement, with the name of the condition it depends on (`!Name` when it
 * applies if the condition is false).
 */
export function roleStatementsAsWritten(
  template: Template,
  roleId: string,
): { statement: Statement; when?: string }[] {
  const role = template.Resources[roleId];
  if (!role) throw new Error(`no role ${roleId}`);
  const policies = (role.Properties.Policies ?? []) as { PolicyDocument: Cfn }[];
  const isNoValue = (v: Cfn) => v?.Ref === 'AWS::NoValue';
  return policies.flatMap((p) =>
    (policyDocument(p.PolicyDocument).Statement as Cfn[]).flatMap((s) => {
      if (!s['Fn::If']) return [{ statement: s as Statement }];
      const [cond, yes, no] = s['Fn::If'];
      return [
        ...(isNoValue(yes) ? [] : [{ statement: yes as Statement, when: cond as string }]),
        ...(isNoValue(no) ? [] : [{ statement: no as Statement, when: `!${cond}` }]),
      ];
    }),
  );
}

export const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
