// The real ManifestParser: YAML split and located by crds/load-yaml.ts, each document judged by
// crds/validate.ts, so the store refuses exactly what `kubectl apply` (and `dockerlet validate`)
// would, with the same field paths.
import { parseManifests } from '../../../crds/load-yaml.ts';
import type { ParsedManifest } from '../../../crds/load-yaml.ts';
import { API_GROUP } from '../../../crds/types.ts';
import type { Session } from '../../../crds/types.ts';
import { validateObject } from '../../../crds/validate.ts';
import { manifestKey } from './manifest-parser.ts';
import type { ManifestParser, ParsedDocument } from './manifest-parser.ts';

export const crdManifestParser: ManifestParser = (text, source) => parseManifests(text, source).map((m) => judge(m, source));

function judge(manifest: ParsedManifest, source: string): ParsedDocument {
  if (manifest.problem) {
    const { line, col } = manifest.problem.position;
    return {
      ok: false,
      malformed: true,
      // load-yaml prefixes "source:line:col: "; the store adds its own.
      message: stripPrefix(manifest.problem.message, `${source}:${line}:${col}: `),
      line,
      column: col,
    };
  }
  const doc = manifest.doc;
  if (!isRecord(doc)) {
    const { line, col } = manifest.position;
    return { ok: false, malformed: true, message: 'document is not a mapping (an object with apiVersion, kind, metadata)', line, column: col };
  }
  const key = keyOf(doc);
  if (isOtherKind(doc)) return key === undefined ? { ok: 'ignored', kind: String(doc.kind) } : { ok: 'ignored', kind: String(doc.kind), key };

  const result = validateObject(doc);
  if (result.ok && result.object.kind === 'Session') return { ok: true, object: result.object as Session };
  const problems = result.ok ? [] : result.problems;
  const first = problems[0];
  const at = manifest.locate(first?.fieldPath ?? '');
  const rejected: ParsedDocument = {
    ok: false,
    malformed: false,
    message: problems.map((p) => p.message).join('; ') || 'not a Session',
    line: at.line,
    column: at.col,
  };
  if (first && first.fieldPath !== '') rejected.fieldPath = first.fieldPath;
  if (key !== undefined) rejected.key = key;
  return rejected;
}

/**
 * Another kind of object (an Agent, a ConfigMap living in the same checkout) is not ours to judge.
 * But a document without a kind, or one of our group with a kind we do not know (`kind: Sesion`),
 * is most likely a Session with a typo: it is refused, not ignored, so its last valid version
 * stays instead of the Session silently disappearing.
 */
function isOtherKind(doc: Record<string, unknown>): boolean {
  const kind = doc.kind;
  if (typeof kind !== 'string' || kind === '' || kind === 'Session') return false;
  const ours = typeof doc.apiVersion === 'string' && doc.apiVersion.startsWith(`${API_GROUP}/`);
  return !ours || kind === 'Agent';
}

function keyOf(doc: Record<string, unknown>): string | undefined {
  const meta = isRecord(doc.metadata) ? doc.metadata : {};
  return typeof meta.name === 'string' && meta.name !== '' ? manifestKey(meta.namespace, meta.name) : undefined;
}

function stripPrefix(text: string, prefix: string): string {
  return text.startsWith(prefix) ? text.slice(prefix.length) : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
