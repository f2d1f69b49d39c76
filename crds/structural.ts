// The parts of the API server's handling of a custom resource that happen around openAPIV3Schema
// validation rather than in it, in the same order: strict field validation (unknown fields are
// errors, not silently pruned), pruning of nulls, `default:` values, and the uniqueness that
// `x-kubernetes-list-type: map|set` promises. ajv then checks the schema itself (openapi.ts).
import type { StructuralSchema } from './schema.ts';
import type { PathSegment } from './field-path.ts';
import { problem } from './problems.ts';
import type { FieldProblem } from './problems.ts';

/**
 * Walks `value` (mutated in place: nulls pruned, defaults filled) against `schema` and returns
 * unknown-field and duplicate-key problems. `skip` names top-level fields handled elsewhere.
 */
export function applyStructural(
  value: Record<string, unknown>,
  schema: StructuralSchema,
  skip: ReadonlySet<string> = new Set(),
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  walkObject(value, schema, [], problems, skip);
  return problems;
}

function walk(value: unknown, schema: StructuralSchema, path: PathSegment[], problems: FieldProblem[]): void {
  if (isRecord(value) && isObjectSchema(schema)) walkObject(value, schema, path, problems, new Set());
  else if (Array.isArray(value) && schema.items) walkArray(value, schema, schema.items, path, problems);
  // Anything else is a scalar or a type mismatch; ajv reports the latter with the path.
}

function walkObject(
  obj: Record<string, unknown>,
  schema: StructuralSchema,
  path: PathSegment[],
  problems: FieldProblem[],
  skip: ReadonlySet<string>,
): void {
  const props = schema.properties ?? {};
  const extra = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
  // A structural object schema is closed unless it says otherwise: the API server prunes what it
  // does not know, and strict field validation (kubectl's default) turns that into an error.
  const open = schema['x-kubernetes-preserve-unknown-fields'] === true || schema.additionalProperties === true;

  for (const key of Object.keys(obj)) {
    if (skip.has(key)) continue;
    const sub = Object.hasOwn(props, key) ? props[key] : extra;
    if (!sub) {
      if (!open) problems.push(problem.unknownField([...path, key]));
      continue;
    }
    // A null for a non-nullable field means "not set": pruned, then defaulted below.
    if (obj[key] === null && sub.nullable !== true) delete obj[key];
  }

  for (const [key, sub] of Object.entries(props)) {
    if (skip.has(key)) continue;
    if (obj[key] === undefined && sub.default !== undefined) obj[key] = structuredClone(sub.default);
    if (obj[key] !== undefined) walk(obj[key], sub, [...path, key], problems);
  }
  if (extra) {
    for (const key of Object.keys(obj)) {
      if (!Object.hasOwn(props, key) && !skip.has(key)) walk(obj[key], extra, [...path, key], problems);
    }
  }
}

function walkArray(
  list: unknown[],
  schema: StructuralSchema,
  items: StructuralSchema,
  path: PathSegment[],
  problems: FieldProblem[],
): void {
  // Items first, so that defaulted map keys take part in the uniqueness check (as in the API server).
  list.forEach((item, i) => walk(item, items, [...path, i], problems));

  const listType = schema['x-kubernetes-list-type'];
  if (listType === 'map') {
    const keys = schema['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Set<string>();
    list.forEach((item, i) => {
      if (!isRecord(item)) return;
      const key = Object.fromEntries(keys.filter((k) => item[k] !== undefined).map((k) => [k, item[k]]));
      const id = JSON.stringify(keys.map((k) => item[k]));
      if (seen.has(id)) problems.push(problem.duplicateKey([...path, i], key));
      seen.add(id);
    });
  } else if (listType === 'set') {
    const seen = new Set<string>();
    list.forEach((item, i) => {
      const id = JSON.stringify(item);
      if (seen.has(id)) problems.push(problem.duplicate([...path, i], item, 'items of a set must be unique'));
      seen.add(id);
    });
  }
}

function isObjectSchema(schema: StructuralSchema): boolean {
  return schema.type === 'object' || schema.properties !== undefined || schema.additionalProperties !== undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
