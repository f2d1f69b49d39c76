// Turns what each file said into one entry per key: who wins a key defined twice, which last
// valid version survives a broken edit, which problem an entry carries. Pure bookkeeping, no I/O,
// so the rules can be read (and tested) in one place.
import type { ObjectKey, Session } from '../../../crds/types.ts';
import type { DesiredEntry, ObjectProblem, ProblemReason } from '../../../reconciler/store.ts';
import { manifestKey } from './manifest-parser.ts';
import type { ParsedDocument, RejectedDocument } from './manifest-parser.ts';
import type { ObjectMetaTracker } from './object-meta.ts';

/** Why a file's newest content could not be used at all. */
export interface FileFault {
  /** Names the file and line, e.g. "apps/web.yaml:7: bad indentation". */
  message: string;
  /** Keys the broken content still let us read: they get the problem even if never valid. */
  keys: ObjectKey[];
  /** Default MalformedFile; InvalidSpec when a well-formed file was refused whole (`wholeFiles`). */
  reason?: ProblemReason;
}

export interface FileSnapshot {
  /** Relative to the store's directory, '/'-separated; files are processed in this order. */
  path: string;
  /** The file's mtime (RFC 3339) at the read that produced `docs`: creationTimestamp for new keys. */
  mtime: string;
  /** Documents of the last read that could be used (kept while `fault` is set). */
  docs: readonly ParsedDocument[];
  fault?: FileFault;
  /**
   * Set when `docs` came from an earlier version that this process did not read from the file
   * itself (a Git store's revision, after a restart): that version's name, e.g. a commit.
   */
  origin?: string;
}

/** "web.yaml:7:3: spec.image: Required value", the way compilers and kubectl point at input. */
export function describeRejection(file: string, doc: RejectedDocument): string {
  const line = doc.line === undefined ? '' : `:${doc.line}${doc.column === undefined ? '' : `:${doc.column}`}`;
  return `${file}${line}: ${doc.message}`;
}

interface Claim {
  source: string;
  mtime: string;
  object?: Session;
  problem?: ObjectProblem;
  duplicates: string[];
}

export class DesiredIndex {
  /** Last valid version per key; outlives any number of broken edits, dies with the key. */
  private readonly lastGood = new Map<ObjectKey, Session>();
  private present = new Set<ObjectKey>();

  constructor(private readonly meta: ObjectMetaTracker) {}

  /** `files` must be sorted by path: the first file defining a key wins it. */
  rebuild(files: readonly FileSnapshot[]): Map<ObjectKey, DesiredEntry<Session>> {
    const claims = new Map<ObjectKey, Claim>();
    for (const file of files) collectClaims(file, claims);

    const entries = new Map<ObjectKey, DesiredEntry<Session>>();
    for (const [key, claim] of claims) {
      if (claim.object) this.lastGood.set(key, claim.object);
      const raw = claim.object ?? this.lastGood.get(key);
      const problem = claim.problem ?? duplicateProblem(key, claim);
      const entry: DesiredEntry<Session> = { key, source: claim.source };
      if (raw) entry.object = this.meta.decorate(key, raw, claim.mtime);
      if (problem) entry.problem = problem;
      entries.set(key, entry);
    }
    for (const key of this.present) {
      if (claims.has(key)) continue;
      this.lastGood.delete(key);
      this.meta.forget(key);
    }
    this.present = new Set(claims.keys());
    return entries;
  }
}

function collectClaims(file: FileSnapshot, claims: Map<ObjectKey, Claim>): void {
  const faultProblem: ObjectProblem | undefined = file.fault && {
    reason: file.fault.reason ?? 'MalformedFile',
    message: file.fault.message,
    source: file.path,
  };
  const claimed = new Set<ObjectKey>();
  const claim = (key: ObjectKey, object: Session | undefined, problem: ObjectProblem | undefined): void => {
    claimed.add(key);
    const existing = claims.get(key);
    if (existing) {
      existing.duplicates.push(file.path);
      return;
    }
    const entry: Claim = { source: file.path, mtime: file.mtime, duplicates: [] };
    // A broken file still vouches for what it said when it was last readable.
    if (object) entry.object = object;
    if (problem) entry.problem = problem;
    claims.set(key, entry);
  };

  for (const doc of file.docs) {
    if (doc.ok === true) {
      claim(manifestKey(doc.object.metadata.namespace, doc.object.metadata.name), doc.object, faultProblem);
    } else if (doc.ok === false && doc.key !== undefined) {
      claim(normalizeKey(doc.key), undefined, faultProblem ?? invalidProblem(file.path, doc));
    }
  }
  for (const key of file.fault?.keys ?? []) {
    if (!claimed.has(normalizeKey(key))) claim(normalizeKey(key), undefined, faultProblem);
  }
}

function invalidProblem(file: string, doc: RejectedDocument): ObjectProblem {
  const problem: ObjectProblem = { reason: 'InvalidSpec', message: describeRejection(file, doc), source: file };
  if (doc.fieldPath) problem.fieldPath = doc.fieldPath;
  return problem;
}

function duplicateProblem(key: ObjectKey, claim: Claim): ObjectProblem | undefined {
  const first = claim.duplicates[0];
  if (first === undefined) return undefined;
  const others = claim.duplicates.map((file) => (file === claim.source ? `${file} (again)` : file)).join(', ');
  return {
    reason: 'DuplicateObject',
    message: `${key} is defined in ${claim.source} and in ${others}; the one in ${claim.source} is used`,
    source: first,
  };
}

/** Parsers should send "namespace/name"; a bare name means the default namespace. */
function normalizeKey(key: ObjectKey): ObjectKey {
  return key.includes('/') ? key : manifestKey(undefined, key);
}

/**
 * A file whose newest content cannot be fully attributed is used all or nothing: a syntax error
 * can swallow or reshape neighbouring documents, and a document without a readable name could be
 * any object (a renamed one, one the file defined before). Its last usable content stays in force.
 * With `wholeFiles` (the Git store: a commit applies each file all or nothing) any refused
 * document, even a well-formed one with a name, refuses the whole file.
 */
export function faultOf(file: string, docs: readonly ParsedDocument[], wholeFiles = false): FileFault | undefined {
  const unusable = docs.filter((d): d is RejectedDocument => d.ok === false && (wholeFiles || d.malformed || d.key === undefined));
  const first = unusable[0];
  if (first === undefined) return undefined;
  // Every key still readable gets the problem, so `dockerlet get` shows which objects are stuck.
  const keys = docs.flatMap((d) => {
    if (d.ok === true) return [manifestKey(d.object.metadata.namespace, d.object.metadata.name)];
    return d.ok === false && d.key !== undefined ? [d.key] : [];
  });
  const message = describeRejection(file, first) + (unusable.length > 1 ? ` (and ${unusable.length - 1} more)` : '');
  const wellFormed = unusable.every((d) => !d.malformed && d.key !== undefined);
  if (!wellFormed) return { message, keys };
  // Only `wholeFiles` refuses a well-formed file; say so, since its valid neighbours wait too.
  return { message: `${message}; nothing in ${file} is applied until it is fixed`, keys, reason: 'InvalidSpec' };
}

/** The snapshot of a file whose newest read is unusable: its last usable content, plus the fault. */
export function faulted(file: string, previous: FileSnapshot | undefined, fault: FileFault, now: string): FileSnapshot {
  const snapshot: FileSnapshot = { path: file, mtime: previous?.mtime ?? now, docs: previous?.docs ?? [], fault };
  if (previous?.origin !== undefined) snapshot.origin = previous.origin;
  return snapshot;
}
