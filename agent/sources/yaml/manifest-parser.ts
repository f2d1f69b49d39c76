// The seam between the YAML directory store and schema validation. The store owns files,
// watching and last-good bookkeeping; a ManifestParser only turns one file's text into documents.
// The agent wires it to the CRD validator (crd-manifest-parser.ts) so that a file is judged the
// way `kubectl apply` would judge it; tests inject a small fake.
import { DEFAULT_NAMESPACE } from '../../../crds/types.ts';
import type { ObjectKey, Session } from '../../../crds/types.ts';

/** A valid Session. */
export interface AcceptedDocument {
  ok: true;
  object: Session;
}

/** A document that could not be accepted. */
export interface RejectedDocument {
  ok: false;
  /**
   * "namespace/name" when metadata.name (and namespace) could be read, so the problem can be
   * attached to that object. Without it the store cannot tell which object the document meant.
   */
  key?: ObjectKey;
  /**
   * What is wrong, starting with the field path when there is one, as the API server words it
   * ("spec.image: Required value"). Without the file name: the store prefixes "file:line:col: ".
   */
  message: string;
  /** Dotted path of the (first) offending field, e.g. "spec.ports[0].containerPort". */
  fieldPath?: string;
  /** 1-based line and column of the error (or of the document), when known. */
  line?: number;
  column?: number;
  /** True for a YAML syntax error or a document that is not a mapping; false for schema errors. */
  malformed: boolean;
}

/** A well-formed document of another kind (an Agent, a ConfigMap): not a desired Session. */
export interface IgnoredDocument {
  ok: 'ignored';
  kind: string;
  key?: ObjectKey;
}

export type ParsedDocument = AcceptedDocument | RejectedDocument | IgnoredDocument;

/**
 * Parses one file. `source` is the file's path relative to the store's directory, for messages.
 * Empty documents (a trailing `---`, a file of comments) yield nothing. Must not throw; the
 * store treats a throw like a malformed file anyway.
 */
export type ManifestParser = (text: string, source: string) => ParsedDocument[];

/** The key of an object as the store files it: the namespace defaults like the API server's. */
export function manifestKey(namespace: unknown, name: string): ObjectKey {
  const ns = typeof namespace === 'string' && namespace !== '' ? namespace : DEFAULT_NAMESPACE;
  return `${ns}/${name}`;
}
