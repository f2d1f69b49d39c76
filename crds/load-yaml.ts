// Reading manifests the way kubectl does: multi-document YAML files, directories walked for
// *.yaml/*.yml, every document validated on its own so one bad document does not hide the rest.
// Problems carry "file:line:col" of the offending field, found by walking the YAML node tree.
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, isAlias, parseAllDocuments } from 'yaml';
import type { Document, DocumentOptions, ParseOptions, ParsedNode, SchemaOptions, Tags, Node as YamlNode } from 'yaml';
import { API_GROUP } from './types.ts';
import type { Agent, Session } from './types.ts';
import { parseFieldPath } from './field-path.ts';
import { validateObject } from './validate.ts';
import type { FieldProblem } from './problems.ts';

export interface Position {
  line: number;
  col: number;
}

export interface ParsedManifest {
  /** 0-based position of the document in the file, counting empty documents. */
  index: number;
  /** Where the document's content starts. */
  position: Position;
  /** The document as plain data; absent when it has a syntax problem. */
  doc?: unknown;
  /** A YAML syntax problem; the message includes "source:line:col". */
  problem?: { message: string; position: Position };
  /** Position of a field path (FieldProblem.fieldPath) in this document, or of its nearest parent that exists. */
  locate(fieldPath: string): Position;
}

// kubectl decodes YAML with go-yaml, i.e. YAML 1.1: `yes`, `no`, `on`, `off` are booleans, so
// `value: yes` that kubectl rejects as "not a string" must be rejected here too. go-yaml hands
// timestamps and base-60 numbers to JSON as strings, so those 1.1 tags are dropped.
const PARSE_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  customTags: (tags: Tags) =>
    tags.filter((t) => typeof t === 'string' || (t.tag !== 'tag:yaml.org,2002:timestamp' && t.format !== 'TIME')),
  prettyErrors: true,
  // The library's own check compares each key with every earlier one: O(n²), 36 s for a 0.9 MB
  // map of labels (measured), all of it on the agent's event loop. duplicateKey() does it in O(n).
  uniqueKeys: false,
};

/**
 * The largest manifest file read (the API server takes requests up to 3 MiB and stores objects up
 * to 1.5 MiB; a Session is a few KiB): anything bigger is a mistake or an attack, refused unread.
 */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** Why a file's bytes cannot be a manifest (too big, not UTF-8), or its text. */
export function manifestText(bytes: Uint8Array): { ok: true; text: string } | { ok: false; reason: string } {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) return { ok: false, reason: `is more than ${MAX_MANIFEST_BYTES} bytes, the most a manifest file may have; split it (or it is not a manifest)` };
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { ok: false, reason: 'is not UTF-8 text' };
  }
}

/** Offset of the first key repeated within one mapping (as the API server refuses it), walking without recursion. */
function duplicateKey(doc: Document.Parsed): number | undefined {
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (isScalar(pair.key)) {
          const key = String(pair.key.value);
          if (seen.has(key)) return rangeStart(pair.key);
          seen.add(key);
        }
        stack.push(pair.value);
      }
    } else if (isSeq(node)) {
      stack.push(...node.items);
    }
  }
  return undefined;
}

/** Splits `text` into documents; empty documents are skipped, syntax errors reported per document. */
export function parseManifests(text: string, source: string): ParsedManifest[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { ...PARSE_OPTIONS, lineCounter });
  if (!Array.isArray(docs)) {
    // An EmptyStream: the text has no documents at all.
    return [];
  }
  const out: ParsedManifest[] = [];
  docs.forEach((doc, index) => {
    const start = doc.contents?.range[0] ?? doc.range[0];
    const position = lineCounter.linePos(start);
    const locate = (fieldPath: string): Position => lineCounter.linePos(offsetOf(doc, fieldPath) ?? start);
    const error = doc.errors[0];
    if (error) {
      const at = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
      // prettyErrors appends " at line L, column C:" and a source excerpt; we print our own prefix.
      const reason = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      out.push({
        index,
        position,
        problem: { message: `${source}:${at.line}:${at.col}: ${reason}`, position: at },
        locate,
      });
      return;
    }
    const contents = doc.contents;
    if (contents === null || (isScalar(contents) && contents.value === null)) return;
    const repeated = duplicateKey(doc);
    if (repeated !== undefined) {
      const at = lineCounter.linePos(repeated);
      out.push({ index, position, problem: { message: `${source}:${at.line}:${at.col}: Map keys must be unique`, position: at }, locate });
      return;
    }
    try {
      out.push({ index, position, doc: doc.toJS(), locate });
    } catch (err) {
      // toJS refuses alias bombs ("Excessive alias count"); report it like a syntax error.
      const reason = err instanceof Error ? err.message : String(err);
      out.push({
        index,
        position,
        problem: { message: `${source}:${position.line}:${position.col}: ${reason}`, position },
        locate,
      });
    }
  });
  return out;
}

/** Offset of the node at `fieldPath` (the key, for a map entry), or of its deepest existing parent. */
function offsetOf(doc: Document.Parsed, fieldPath: string): number | undefined {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (const seg of parseFieldPath(fieldPath)) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      node = node.items[seg];
      offset = rangeStart(node) ?? offset;
    } else {
      break;
    }
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  return node && typeof node === 'object' && 'range' in node ? (node as YamlNode | ParsedNode).range?.[0] : undefined;
}

export interface DocumentReport {
  index: number;
  position: Position;
  ok: boolean;
  /** Set for documents of another API group, which are not validated (and not an error). */
  skipped?: boolean;
  kind?: string;
  namespace?: string;
  name?: string;
  /** The validated, defaulted object when ok. */
  object?: Session | Agent;
  /** Problems with messages prefixed "file:line:col: ". */
  problems: FieldProblem[];
}

export interface FileReport {
  path: string;
  ok: boolean;
  documents: DocumentReport[];
  /** Every problem in the file (read errors, syntax errors, field problems), ready to print. */
  problems: FieldProblem[];
}

/** More rules for a valid object (the agent's host policy, for `validate --policy`); messages start with the field path. */
export type ExtraCheck = (object: Session | Agent) => FieldProblem[];

/** Validates files and directories (recursively, *.yaml and *.yml) as `dockerlet validate` does. */
export async function validateFiles(paths: readonly string[], extra?: ExtraCheck): Promise<FileReport[]> {
  const files: string[] = [];
  const visited = new Set<string>();
  const reports: FileReport[] = [];
  for (const path of paths) {
    try {
      await collect(path, files, visited, true);
    } catch (err) {
      reports.push(unreadable(path, err));
    }
  }
  for (const file of files) {
    let bytes: Uint8Array;
    try {
      // Never more than one byte past the limit: a 10 GB file is refused, not read.
      bytes = await readAtMost(file, MAX_MANIFEST_BYTES + 1);
    } catch (err) {
      reports.push(unreadable(file, err));
      continue;
    }
    const text = manifestText(bytes);
    if (!text.ok) {
      const p = { fieldPath: '', message: `${file}: ${text.reason}` };
      reports.push({ path: file, ok: false, documents: [], problems: [p] });
      continue;
    }
    reports.push(validateText(text.text, file, extra));
  }
  return reports;
}

/** Validates one file's text; `path` is used in messages. */
export function validateText(text: string, path: string, extra?: ExtraCheck): FileReport {
  const documents: DocumentReport[] = [];
  const problems: FieldProblem[] = [];
  for (const m of parseManifests(text, path)) {
    if (m.problem) {
      const p = { fieldPath: '', message: m.problem.message };
      documents.push({ index: m.index, position: m.problem.position, ok: false, problems: [p] });
      problems.push(p);
      continue;
    }
    const ids = identity(m.doc);
    if (isForeign(m.doc)) {
      // Not ours (a ConfigMap next to the Sessions in a checkout): the YAML store ignores it too.
      documents.push({ index: m.index, position: m.position, ok: true, skipped: true, ...ids, problems: [] });
      continue;
    }
    const result = validateObject(m.doc);
    const found = result.ok ? (extra?.(result.object) ?? []) : result.problems;
    if (result.ok && found.length === 0) {
      documents.push({ index: m.index, position: m.position, ok: true, ...ids, object: result.object, problems: [] });
      continue;
    }
    const located = found.map((p) => {
      const at = m.locate(p.fieldPath);
      return { fieldPath: p.fieldPath, message: `${path}:${at.line}:${at.col}: ${p.message}` };
    });
    documents.push({ index: m.index, position: m.position, ok: false, ...ids, problems: located });
    problems.push(...located);
  }
  return { path, ok: problems.length === 0, documents, problems };
}

/** A document with a kind of another API group; one of ours with a typo in kind is still checked. */
function isForeign(doc: unknown): boolean {
  if (!isRecord(doc) || typeof doc.kind !== 'string' || doc.kind === '') return false;
  return typeof doc.apiVersion === 'string' && doc.apiVersion !== '' && !doc.apiVersion.startsWith(`${API_GROUP}/`);
}

function identity(doc: unknown): Pick<DocumentReport, 'kind' | 'namespace' | 'name'> {
  const obj = isRecord(doc) ? doc : {};
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  const ids: Pick<DocumentReport, 'kind' | 'namespace' | 'name'> = {};
  if (typeof obj.kind === 'string') ids.kind = obj.kind;
  if (typeof meta.namespace === 'string') ids.namespace = meta.namespace;
  if (typeof meta.name === 'string') ids.name = meta.name;
  return ids;
}

async function collect(path: string, files: string[], visited: Set<string>, explicit: boolean): Promise<void> {
  const info = await stat(path);
  if (info.isDirectory()) {
    // Symlinked directories are followed once; a link back up the tree would loop forever.
    const real = await realpath(path);
    if (visited.has(real)) return;
    visited.add(real);
    const entries = (await readdir(path)).sort();
    for (const entry of entries) {
      // Hidden entries (.git, editor swap dirs) are not manifests.
      if (!entry.startsWith('.')) await collect(join(path, entry), files, visited, false);
    }
  } else if (explicit || /\.ya?ml$/.test(path)) {
    // A file named on the command line is read whatever its extension, as kubectl -f does.
    files.push(path);
  }
}

/** The first `limit` bytes of a file (all of it when smaller), read in chunks: a huge file costs `limit` at most. */
export async function readAtMost(path: string, limit: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < limit) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, limit - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
    }
    return Buffer.concat(chunks, total);
  } finally {
    await handle.close();
  }
}

function unreadable(path: string, err: unknown): FileReport {
  const reason = err instanceof Error ? err.message : String(err);
  const p = { fieldPath: '', message: `${path}: cannot read: ${reason}` };
  return { path, ok: false, documents: [], problems: [p] };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
