// Loads the openAPIV3Schema of each CRD from crds/*.yaml, the single source of truth. Validation,
// defaulting and the type generator all read the schema through here, so they cannot disagree
// with what the API server enforces after `kubectl apply -f crds/`.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { API_GROUP, API_VERSION } from './types.ts';

export const KINDS = ['Session', 'Agent'] as const;
export type Kind = (typeof KINDS)[number];

export const SCOPES = ['Namespaced', 'Cluster'] as const;
export type Scope = (typeof SCOPES)[number];

/** The structural-schema subset of JSONSchemaProps that our CRDs use. */
export interface StructuralSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  title?: string;
  description?: string;
  properties?: Record<string, StructuralSchema>;
  additionalProperties?: boolean | StructuralSchema;
  items?: StructuralSchema;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  nullable?: boolean;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  oneOf?: StructuralSchema[];
  anyOf?: StructuralSchema[];
  allOf?: StructuralSchema[];
  not?: StructuralSchema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'granular' | 'atomic';
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-validations'?: Array<{ rule: string; message?: string }>;
}

export interface CrdInfo {
  kind: Kind;
  group: string;
  version: string;
  scope: Scope;
  plural: string;
  /** Path of the CRD manifest on disk (for messages and the type generator). */
  file: string;
  schema: StructuralSchema;
}

const CRD_FILES: Record<Kind, URL> = {
  Session: new URL('./session.yaml', import.meta.url),
  Agent: new URL('./agent.yaml', import.meta.url),
};

const cache = new Map<Kind, CrdInfo>();

/** The CRD of `kind`, read once per process. Throws if the manifest is not the CRD we expect. */
export function loadCrd(kind: Kind): CrdInfo {
  let info = cache.get(kind);
  if (!info) {
    const url = CRD_FILES[kind];
    info = parseCrd(kind, readFileSync(url, 'utf8'), fileURLToPath(url));
    cache.set(kind, info);
  }
  return info;
}

/** The openAPIV3Schema of `kind` (cached; do not mutate). */
export function openApiSchema(kind: Kind): StructuralSchema {
  return loadCrd(kind).schema;
}

export function isKind(value: unknown): value is Kind {
  return typeof value === 'string' && (KINDS as readonly string[]).includes(value);
}

/** Parses CRD manifest text; exported so tests can feed variants without touching the files. */
export function parseCrd(kind: Kind, text: string, file: string): CrdInfo {
  const fail = (what: string): never => {
    throw new Error(`${file}: not a valid CRD for ${kind}: ${what}`);
  };
  const crd = asRecord(parse(text)) ?? fail('not a mapping');
  if (crd.kind !== 'CustomResourceDefinition') fail('kind is not CustomResourceDefinition');
  const spec = asRecord(crd.spec) ?? fail('spec missing');
  if (spec.group !== API_GROUP) fail(`spec.group is not ${API_GROUP}`);
  const names = asRecord(spec.names) ?? fail('spec.names missing');
  if (names.kind !== kind) fail(`spec.names.kind is not ${kind}`);
  const scope = spec.scope;
  if (scope !== 'Namespaced' && scope !== 'Cluster') fail('spec.scope must be Namespaced or Cluster');
  const versions = Array.isArray(spec.versions) ? spec.versions.map(asRecord) : [];
  // The storage version is the one objects are validated against; we serve exactly one today.
  const storage = versions.find((v) => v?.storage === true) ?? fail('no storage version');
  if (`${API_GROUP}/${String(storage.name)}` !== API_VERSION) fail(`storage version is not ${API_VERSION}`);
  const schema = asRecord(asRecord(storage.schema)?.openAPIV3Schema) ?? fail('no openAPIV3Schema');
  if (schema.type !== 'object') fail('openAPIV3Schema.type must be object');
  return {
    kind,
    group: API_GROUP,
    version: typeof storage.name === 'string' ? storage.name : fail('version name missing'),
    scope: scope as Scope,
    plural: typeof names.plural === 'string' ? names.plural : fail('spec.names.plural missing'),
    file,
    // The shape was checked at the top level; ajv compiles the rest and throws on nonsense.
    schema: schema as StructuralSchema,
  };
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
