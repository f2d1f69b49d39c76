// openAPIV3Schema validation with ajv, reported as API-server style field problems. One compiled
// validator per kind, built on first use. Unknown fields, defaults and list-map keys are handled
// before this runs (structural.ts); here only the schema keywords are checked.
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { openApiSchema } from './schema.ts';
import type { Kind, StructuralSchema } from './schema.ts';
import type { PathSegment } from './field-path.ts';
import { problem } from './problems.ts';
import type { FieldProblem } from './problems.ts';

// ajv-formats is CommonJS: Node hands us module.exports, whose `.default` is the plugin.
const addFormats = addFormatsModule.default;

// Vendor extensions the API server understands; registered so ajv accepts (and ignores) them
// instead of treating them as typos. Their semantics live in structural.ts (or, for CEL rules,
// in rules.ts until the CRD carries them).
const KUBERNETES_KEYWORDS = [
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-int-or-string',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-validations',
] as const;

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

function createAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, verbose: true, logger: false });
  addFormats(ajv);
  for (const keyword of KUBERNETES_KEYWORDS) ajv.addKeyword({ keyword });
  // OpenAPI's integer formats: the API server decodes into int32/int64, so out-of-range numbers fail.
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= INT32.min && n <= INT32.max,
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  return ajv;
}

let ajv: Ajv | undefined;
const validators = new Map<Kind, ValidateFunction>();

function validatorFor(kind: Kind): ValidateFunction {
  let validate = validators.get(kind);
  if (!validate) {
    ajv ??= createAjv();
    validate = ajv.compile(openApiSchema(kind));
    validators.set(kind, validate);
  }
  return validate;
}

/** Problems of `obj` against the openAPIV3Schema of `kind`; empty when valid. */
export function schemaProblems(kind: Kind, obj: Record<string, unknown>): FieldProblem[] {
  const validate = validatorFor(kind);
  if (validate(obj)) return [];
  const errors = validate.errors ?? [];
  // oneOf/anyOf explain themselves; the failures inside their branches are noise.
  const combinators = errors
    .filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf')
    .map((e) => `${e.schemaPath}/`);
  return errors
    .filter((e) => !combinators.some((prefix) => e.schemaPath.startsWith(prefix)))
    .map((e) => toProblem(e, obj));
}

function toProblem(e: ErrorObject, root: unknown): FieldProblem {
  const path = pointerToPath(e.instancePath, root);
  const data: unknown = e.data;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return problem.required([...path, String(params.missingProperty)]);
    case 'type':
      return problem.invalid(path, data, `must be of type ${String(params.type)}`);
    case 'enum':
      return problem.unsupported(path, data, Array.isArray(params.allowedValues) ? params.allowedValues : []);
    case 'pattern':
      return problem.invalid(path, data, `must match pattern "${String(params.pattern)}"`);
    case 'minLength':
      return problem.invalid(path, data, `must be at least ${String(params.limit)} characters long`);
    case 'maxLength':
      return problem.tooLong(path, Number(params.limit));
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
    case 'exclusiveMaximum':
      return problem.invalid(path, data, `must be ${boundText(e.keyword)} ${String(params.limit)}`);
    case 'maxItems':
      return problem.tooMany(path, Array.isArray(data) ? data.length : 0, Number(params.limit));
    case 'maxProperties':
      return problem.tooMany(path, isRecord(data) ? Object.keys(data).length : 0, Number(params.limit));
    case 'minItems':
      return problem.invalid(path, data, `must have at least ${String(params.limit)} items`);
    case 'format':
      return problem.invalid(path, data, formatText(String(params.format)));
    case 'additionalProperties':
      return problem.unknownField([...path, String(params.additionalProperty)]);
    case 'oneOf':
      return problem.invalid(path, data, oneOfText(e.schema, data, params.passingSchemas));
    default:
      return problem.invalid(path, data, e.message ?? `failed ${e.keyword}`);
  }
}

function boundText(keyword: string): string {
  return (
    {
      minimum: 'greater than or equal to',
      exclusiveMinimum: 'greater than',
      maximum: 'less than or equal to',
      exclusiveMaximum: 'less than',
    }[keyword] ?? keyword
  );
}

function formatText(format: string): string {
  if (format === 'int32') return 'must be a 32-bit integer';
  if (format === 'int64') return 'must be an integer that fits in 64 bits (and in a JavaScript number)';
  if (format === 'date-time') return 'must be an RFC 3339 date-time, e.g. "2006-01-02T15:04:05Z"';
  return `must be a valid ${format}`;
}

/**
 * oneOf in our CRDs means "exactly one of these fields" (volume sources), written as branches
 * that each require one field. Name them instead of the opaque "must match exactly one schema".
 */
function oneOfText(branches: unknown, data: unknown, passing: unknown): string {
  const fields = Array.isArray(branches)
    ? (branches as StructuralSchema[]).map((b) =>
        b.required?.length === 1 && Object.keys(b).length === 1 ? b.required[0] : undefined,
      )
    : [];
  if (fields.length > 0 && fields.every((f) => f !== undefined) && isRecord(data)) {
    const set = fields.filter((f): f is string => f !== undefined && data[f] !== undefined);
    return `must set exactly one of ${fields.join(', ')}, ${set.length === 0 ? 'but sets none' : `but sets ${set.join(' and ')}`}`;
  }
  return Array.isArray(passing)
    ? `must validate against exactly one schema (oneOf), but matches ${passing.length}`
    : 'must validate against exactly one schema (oneOf), but matches none';
}

/** "/spec/ports/0/containerPort" → ["spec", "ports", 0, "containerPort"], indexes only under arrays. */
function pointerToPath(pointer: string, root: unknown): PathSegment[] {
  if (pointer === '') return [];
  const path: PathSegment[] = [];
  let node: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      const i = Number(key);
      path.push(i);
      node = node[i];
    } else {
      path.push(key);
      node = isRecord(node) ? node[key] : undefined;
    }
  }
  return path;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
