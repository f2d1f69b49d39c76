// Validation of metadata, which the API server checks in Go (ObjectMeta), not through the CRD's
// openAPIV3Schema: the schema only says `metadata: {type: object}`.
import { DEFAULT_NAMESPACE } from './types.ts';
import type { ObjectMeta } from './types.ts';
import type { Scope } from './schema.ts';
import type { PathSegment } from './field-path.ts';
import { problem } from './problems.ts';
import type { FieldProblem } from './problems.ts';
import { dns1123LabelErrors, dns1123SubdomainErrors, labelValueErrors, qualifiedNameErrors } from './kube-names.ts';

// Every ObjectMeta field; anything else is an unknown field under strict field validation.
const OBJECT_META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);

const STRING_FIELDS = ['generateName', 'uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp'] as const;

/** The API server caps the sum of annotation keys and values (TotalAnnotationSizeLimitB). */
const ANNOTATIONS_MAX_BYTES = 256 * 1024;

export interface MetadataResult {
  problems: FieldProblem[];
  /** The metadata as stored: namespace defaulted (namespaced kinds) or dropped (cluster-scoped). */
  metadata?: ObjectMeta;
}

export function validateMetadata(value: unknown, scope: Scope): MetadataResult {
  const at = (...p: PathSegment[]): PathSegment[] => ['metadata', ...p];
  if (value === undefined || value === null) return { problems: [problem.required(at('name'))] };
  if (!isRecord(value)) return { problems: [problem.invalid(at(), value, 'must be of type object')] };

  // Like the API server, a null field is the same as an absent one.
  const meta = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
  const problems: FieldProblem[] = [];
  for (const key of Object.keys(meta)) {
    if (!OBJECT_META_FIELDS.has(key)) problems.push(problem.unknownField(at(key)));
  }

  const { name } = meta;
  if (name === undefined || name === '') problems.push(problem.required(at('name')));
  else if (typeof name !== 'string') problems.push(problem.invalid(at('name'), name, 'must be of type string'));
  else for (const e of dns1123SubdomainErrors(name)) problems.push(problem.invalid(at('name'), name, e));

  const out: Record<string, unknown> = { ...meta };
  if (scope === 'Cluster') {
    // kubectl and the API server ignore a namespace on a cluster-scoped object; so do we.
    delete out.namespace;
  } else if (meta.namespace === undefined || meta.namespace === '') {
    out.namespace = DEFAULT_NAMESPACE;
  } else if (typeof meta.namespace !== 'string') {
    problems.push(problem.invalid(at('namespace'), meta.namespace, 'must be of type string'));
  } else {
    for (const e of dns1123LabelErrors(meta.namespace))
      problems.push(problem.invalid(at('namespace'), meta.namespace, e));
  }

  problems.push(
    ...stringMap(meta.labels, at('labels'), (k, v, path) => [
      ...qualifiedNameErrors(k).map((e) => problem.invalid(path, k, e)),
      ...labelValueErrors(v).map((e) => problem.invalid(path, v, e)),
    ]),
  );

  let annotationBytes = 0;
  problems.push(
    ...stringMap(meta.annotations, at('annotations'), (k, v, path) => {
      annotationBytes += Buffer.byteLength(k) + Buffer.byteLength(v);
      // Keys are compared lower-cased by the API server, so upper-case annotation keys are fine.
      return qualifiedNameErrors(k.toLowerCase()).map((e) => problem.invalid(path, k, e));
    }),
  );
  if (annotationBytes > ANNOTATIONS_MAX_BYTES) {
    problems.push(problem.tooLong(at('annotations'), ANNOTATIONS_MAX_BYTES));
  }

  for (const field of STRING_FIELDS) {
    const v = meta[field];
    if (v !== undefined && v !== null && typeof v !== 'string') {
      problems.push(problem.invalid(at(field), v, 'must be of type string'));
    }
  }
  const { generation, finalizers } = meta;
  if (generation !== undefined && !(Number.isSafeInteger(generation) && (generation as number) >= 0)) {
    problems.push(problem.invalid(at('generation'), generation, 'must be a non-negative integer'));
  }
  if (finalizers !== undefined) {
    if (!Array.isArray(finalizers)) {
      problems.push(problem.invalid(at('finalizers'), finalizers, 'must be of type array'));
    } else {
      finalizers.forEach((f: unknown, i) => {
        if (typeof f !== 'string') problems.push(problem.invalid(at('finalizers', i), f, 'must be of type string'));
        else for (const e of qualifiedNameErrors(f)) problems.push(problem.invalid(at('finalizers', i), f, e));
      });
    }
  }

  if (problems.length > 0) return { problems };
  // Checked above: name is a valid string and every typed ObjectMeta field has its type.
  return { problems, metadata: out as unknown as ObjectMeta };
}

function stringMap(
  value: unknown,
  path: PathSegment[],
  check: (key: string, value: string, path: PathSegment[]) => FieldProblem[],
): FieldProblem[] {
  if (value === undefined || value === null) return [];
  if (!isRecord(value)) return [problem.invalid(path, value, 'must be of type object')];
  const problems: FieldProblem[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') problems.push(problem.invalid([...path, k], v, 'must be of type string'));
    else problems.push(...check(k, v, [...path, k]));
  }
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
