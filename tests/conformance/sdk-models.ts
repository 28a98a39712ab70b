import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ts from 'typescript';

/**
 * The response models of the official JavaScript SDK (`@databricks/sdk-experimental`), read from its generated
 * TypeScript declarations, and a checker that holds an API answer against them.
 *
 * Why the declarations: the SDK ships no runtime model metadata (`dist/apis/<service>/model.js` is empty), but
 * its `model.d.ts` files are generated from Databricks' OpenAPI specification and say, for every model, which
 * fields exist, which are required, each field's type and each enum's values. Parsing them with the TypeScript
 * compiler gives exactly that table; nothing is copied by hand, so upgrading the SDK upgrades the referee.
 */

/** A field or value type as the declarations state it. */
export type ModelType =
  | { kind: 'string' }
  | { kind: 'number' }
  | { kind: 'boolean' }
  | { kind: 'any' }
  | { kind: 'enum'; values: ReadonlySet<string> }
  | { kind: 'array'; of: ModelType }
  | { kind: 'map'; of: ModelType }
  | { kind: 'union'; of: ModelType[] }
  | { kind: 'ref'; module: string; name: string };

export interface ModelObject {
  kind: 'object';
  fields: ReadonlyMap<string, { type: ModelType; optional: boolean }>;
}

/** The SDK services whose models the product's endpoints answer with. */
export const SERVICES = ['compute', 'sql', 'jobs', 'pipelines', 'provisioning'] as const;
export type Service = (typeof SERVICES)[number];

type Declaration = ModelObject | { kind: 'alias'; type: ModelType };

const require = createRequire(import.meta.url);
/** `…/node_modules/@databricks/sdk-experimental/dist` (the package's `main` is `dist/index.js`). */
export const SDK_DIST = dirname(require.resolve('@databricks/sdk-experimental'));

/** Every interface and type alias of the given services' `model.d.ts`, keyed `service.Name`. */
export function loadModels(services: readonly string[] = SERVICES): Map<string, Declaration> {
  const out = new Map<string, Declaration>();
  for (const service of services) {
    const file = join(SDK_DIST, 'apis', service, 'model.d.ts');
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    for (const statement of source.statements) {
      if (ts.isInterfaceDeclaration(statement)) {
        if (statement.heritageClauses?.length) {
          throw new Error(`${service}.${statement.name.text} extends another model: teach sdk-models.ts`);
        }
        const fields = new Map<string, { type: ModelType; optional: boolean }>();
        for (const member of statement.members) {
          if (!ts.isPropertySignature(member) || !member.type) {
            throw new Error(`${service}.${statement.name.text} has a member sdk-models.ts cannot read`);
          }
          fields.set(propertyName(member.name), {
            type: typeOf(member.type, service),
            optional: member.questionToken !== undefined,
          });
        }
        out.set(`${service}.${statement.name.text}`, { kind: 'object', fields });
      } else if (ts.isTypeAliasDeclaration(statement)) {
        out.set(`${service}.${statement.name.text}`, {
          kind: 'alias',
          type: typeOf(statement.type, service),
        });
      }
    }
  }
  return out;
}

function propertyName(name: ts.PropertyName): string {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name)) return name.text;
  throw new Error(`unexpected property name ${name.getText()}`);
}

function typeOf(node: ts.TypeNode, service: string): ModelType {
  switch (node.kind) {
    case ts.SyntaxKind.StringKeyword:
      return { kind: 'string' };
    case ts.SyntaxKind.NumberKeyword:
      return { kind: 'number' };
    case ts.SyntaxKind.BooleanKeyword:
      return { kind: 'boolean' };
    case ts.SyntaxKind.AnyKeyword:
    case ts.SyntaxKind.UnknownKeyword:
      return { kind: 'any' };
  }
  if (ts.isParenthesizedTypeNode(node)) return typeOf(node.type, service);
  if (ts.isUnionTypeNode(node)) {
    const literals = node.types.map((t) =>
      ts.isLiteralTypeNode(t) && ts.isStringLiteral(t.literal) ? t.literal.text : undefined,
    );
    if (literals.every((l) => l !== undefined)) return { kind: 'enum', values: new Set(literals) };
    return { kind: 'union', of: node.types.map((t) => typeOf(t, service)) };
  }
  if (ts.isLiteralTypeNode(node) && ts.isStringLiteral(node.literal)) {
    return { kind: 'enum', values: new Set([node.literal.text]) };
  }
  if (ts.isArrayTypeNode(node)) return { kind: 'array', of: typeOf(node.elementType, service) };
  if (ts.isTypeLiteralNode(node) && node.members.length === 0) return { kind: 'map', of: { kind: 'any' } };
  if (ts.isTypeReferenceNode(node)) {
    const args = node.typeArguments ?? [];
    const name = node.typeName;
    if (ts.isIdentifier(name)) {
      if (name.text === 'Array' && args[0]) return { kind: 'array', of: typeOf(args[0], service) };
      if (name.text === 'Record' && args[1]) return { kind: 'map', of: typeOf(args[1], service) };
      if (name.text === 'Date') return { kind: 'string' };
      return { kind: 'ref', module: service, name: name.text };
    }
    // `compute.ClusterSpec` in the jobs and pipelines models (`import * as compute from "../compute"`).
    return { kind: 'ref', module: name.left.getText(), name: name.right.text };
  }
  throw new Error(`sdk-models.ts cannot read the type ${node.getText()} (${ts.SyntaxKind[node.kind]})`);
}

/** One way an answer does not fit the SDK's model, with the JSON path where it happens. */
export interface Misfit {
  path: string;
  problem: string;
}

/**
 * Holds `value` against the model `model` (`compute.ClusterDetails`): every field must be declared, have the
 * declared type and, for enums, a declared value; required fields must be present; `null` is never accepted
 * (Databricks leaves an unset field out rather than sending null). Returns every misfit, empty when it fits.
 */
export function misfits(
  models: Map<string, Declaration>,
  model: string,
  value: unknown,
  path = '$',
): Misfit[] {
  const [service, name] = model.split('.');
  if (!service || !name) throw new Error(`model names look like service.Name, got ${model}`);
  const out: Misfit[] = [];
  check(models, { kind: 'ref', module: service, name }, value, path, out);
  return out;
}

function check(
  models: Map<string, Declaration>,
  type: ModelType,
  value: unknown,
  path: string,
  out: Misfit[],
): void {
  if (value === null) {
    out.push({ path, problem: 'is null (Databricks omits a field that has no value)' });
    return;
  }
  switch (type.kind) {
    case 'any':
      return;
    case 'string':
    case 'number':
    case 'boolean':
      if (typeof value !== type.kind)
        out.push({ path, problem: `is ${describe(value)}, expected ${type.kind}` });
      return;
    case 'enum':
      if (typeof value !== 'string' || !type.values.has(value)) {
        out.push({ path, problem: `is ${JSON.stringify(value)}, not one of ${[...type.values].join('|')}` });
      }
      return;
    case 'array':
      if (!Array.isArray(value)) {
        out.push({ path, problem: `is ${describe(value)}, expected an array` });
        return;
      }
      value.forEach((item, i) => {
        check(models, type.of, item, `${path}[${i}]`, out);
      });
      return;
    case 'map':
      if (!isObject(value)) {
        out.push({ path, problem: `is ${describe(value)}, expected an object (map)` });
        return;
      }
      for (const [key, item] of Object.entries(value)) check(models, type.of, item, `${path}.${key}`, out);
      return;
    case 'union': {
      const fits = type.of.some((t) => {
        const trial: Misfit[] = [];
        check(models, t, value, path, trial);
        return trial.length === 0;
      });
      if (!fits) out.push({ path, problem: `is ${describe(value)}, fits none of the union's types` });
      return;
    }
    case 'ref': {
      const declaration = models.get(`${type.module}.${type.name}`);
      if (!declaration) throw new Error(`the SDK models have no ${type.module}.${type.name}`);
      if (declaration.kind === 'alias') {
        check(models, declaration.type, value, path, out);
        return;
      }
      if (!isObject(value)) {
        out.push({ path, problem: `is ${describe(value)}, expected ${type.module}.${type.name}` });
        return;
      }
      for (const [field, spec] of declaration.fields) {
        if (!spec.optional && !(field in value)) {
          out.push({
            path: `${path}.${field}`,
            problem: `is missing (required in ${type.module}.${type.name})`,
          });
        }
      }
      for (const [field, item] of Object.entries(value)) {
        const spec = declaration.fields.get(field);
        if (!spec) {
          out.push({ path: `${path}.${field}`, problem: `is not a field of ${type.module}.${type.name}` });
          continue;
        }
        check(models, spec.type, item, `${path}.${field}`, out);
      }
      return;
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}
