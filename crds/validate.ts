// validateObject: what the API server does to a Session or Agent from `kubectl apply`, for objects
// read from files. Steps, in the API server's order: type meta, metadata, strict unknown-field
// check + null pruning + defaults (structural.ts), openAPIV3Schema (openapi.ts), cross-field rules
// (rules.ts). Status is dropped: users do not write status, the agent does, through its own path.
import { API_VERSION } from './types.ts';
import type { Agent, Session, SessionSpec } from './types.ts';
import { KINDS, isKind, loadCrd } from './schema.ts';
import { validateMetadata } from './metadata.ts';
import { applyStructural } from './structural.ts';
import { schemaProblems } from './openapi.ts';
import { checkSessionRules } from './rules.ts';
import { problem, withSource } from './problems.ts';
import type { FieldProblem } from './problems.ts';

export type { FieldProblem } from './problems.ts';

export type ValidationResult = { ok: true; object: Session | Agent } | { ok: false; problems: FieldProblem[] };

export interface ValidateOptions {
  /** Where the object came from ("sessions/web.yaml:3:1"); every message is prefixed "<source>: ". */
  source?: string;
}

/** Validates and defaults a Session or Agent. Never throws for bad input, never mutates `obj`. */
export function validateObject(obj: unknown, options: ValidateOptions = {}): ValidationResult {
  const fail = (problems: FieldProblem[]): ValidationResult => ({
    ok: false,
    problems: withSource(dedupe(problems), options.source),
  });

  if (!isRecord(obj)) {
    return fail([
      problem.invalid([], obj, `must be an object with apiVersion "${API_VERSION}" and kind ${KINDS.join(' or ')}`),
    ]);
  }
  const problems: FieldProblem[] = [];
  if (obj.apiVersion === undefined || obj.apiVersion === null) problems.push(problem.required(['apiVersion']));
  else if (obj.apiVersion !== API_VERSION)
    problems.push(problem.unsupported(['apiVersion'], obj.apiVersion, [API_VERSION]));
  if (obj.kind === undefined || obj.kind === null) problems.push(problem.required(['kind']));
  else if (!isKind(obj.kind)) problems.push(problem.unsupported(['kind'], obj.kind, KINDS));
  if (problems.length > 0 || !isKind(obj.kind)) return fail(problems);

  const kind = obj.kind;
  const crd = loadCrd(kind);
  let copy: Record<string, unknown>;
  try {
    copy = structuredClone(obj);
  } catch {
    // Only reachable from code, not from YAML or JSON: functions or class instances inside.
    return fail([problem.invalid([], obj, 'must be plain data (as decoded from YAML or JSON)')]);
  }
  delete copy.status;

  const meta = validateMetadata(copy.metadata, crd.scope);
  problems.push(...meta.problems);
  if (meta.metadata) copy.metadata = meta.metadata;

  // metadata is ObjectMeta (checked above); the schema only says `type: object` for it.
  const structural = applyStructural(copy, crd.schema, new Set(['metadata']));
  const schema = schemaProblems(kind, copy);
  problems.push(...structural, ...schema);

  // The rules rely on spec having the schema's types; unknown fields or duplicate keys do not
  // break those, so they are reported together with rule problems.
  const specTyped = !schema.some((p) => /^spec($|[.[])/.test(p.fieldPath));
  if (kind === 'Session' && specTyped) problems.push(...checkSessionRules(copy.spec as SessionSpec));

  if (problems.length > 0) return fail(problems);
  // apiVersion and kind checked, metadata is ObjectMeta, spec passed the schema the types come from.
  return { ok: true, object: copy as unknown as Session | Agent };
}

// A closed schema with `additionalProperties: false` is reported by both structural.ts and ajv.
function dedupe(problems: FieldProblem[]): FieldProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    if (seen.has(p.message)) return false;
    seen.add(p.message);
    return true;
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
