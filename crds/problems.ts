// FieldProblem and the constructors for its messages. The wording follows the API server's
// field.Error types ("Required value", "Invalid value", "Unsupported value", ...) so a user sees
// the same kind of sentence from `dockerlet validate` as from `kubectl apply`.
import { formatFieldPath } from './field-path.ts';
import type { PathSegment } from './field-path.ts';

export interface FieldProblem {
  /** Dotted path of the offending field, e.g. "spec.ports[0].containerPort"; "" for the whole object. */
  fieldPath: string;
  /** A full sentence that starts with the field path (and with "<source>: " when a source is known). */
  message: string;
}

/** Renders a value the way the API server does in "Invalid value: ..." (objects by their type). */
export function showValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return '"array"';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      return '"object"';
    default:
      return JSON.stringify(typeof value);
  }
}

function make(path: readonly PathSegment[], text: string): FieldProblem {
  const fieldPath = formatFieldPath(path);
  return { fieldPath, message: `${fieldPath === '' ? '<object>' : fieldPath}: ${text}` };
}

export const problem = {
  required: (path: readonly PathSegment[], detail?: string) =>
    make(path, detail ? `Required value: ${detail}` : 'Required value'),
  invalid: (path: readonly PathSegment[], value: unknown, detail: string) =>
    make(path, `Invalid value: ${showValue(value)}: ${detail}`),
  unsupported: (path: readonly PathSegment[], value: unknown, supported: readonly unknown[]) =>
    make(
      path,
      `Unsupported value: ${showValue(value)}: supported values: ${supported.map((v) => JSON.stringify(v)).join(', ')}`,
    ),
  notFound: (path: readonly PathSegment[], value: unknown, detail: string) =>
    make(path, `Not found: ${showValue(value)}: ${detail}`),
  duplicate: (path: readonly PathSegment[], value: unknown, detail: string) =>
    make(path, `Duplicate value: ${showValue(value)}: ${detail}`),
  /** A repeated list-map key, shown as the key fields the way the API server prints them. */
  duplicateKey: (path: readonly PathSegment[], key: Record<string, unknown>) =>
    make(path, `Duplicate value: ${JSON.stringify(key)}`),
  tooLong: (path: readonly PathSegment[], max: number) => make(path, `Too long: may not be longer than ${max}`),
  tooMany: (path: readonly PathSegment[], actual: number, max: number) =>
    make(path, `Too many: ${actual}: must have at most ${max} items`),
  forbidden: (path: readonly PathSegment[], detail: string) => make(path, `Forbidden: ${detail}`),
  unknownField: (path: readonly PathSegment[]) => {
    const last = path[path.length - 1];
    return make(path, `unknown field ${JSON.stringify(String(last))}`);
  },
};

/** Prefixes every message with "<source>: " (a file name, "file.yaml:12:3", a Kubernetes key...). */
export function withSource(problems: readonly FieldProblem[], source: string | undefined): FieldProblem[] {
  if (!source) return [...problems];
  return problems.map((p) => ({ fieldPath: p.fieldPath, message: `${source}: ${p.message}` }));
}
