// Store interfaces: the read side of desired state and the write side of status. Implementations
// live in agent/ (YAML directory, Kubernetes, Redis); controllers see only these.
import type { ObjectKey } from '../crds/types.ts';

export const PROBLEM_REASONS = ['MalformedFile', 'InvalidSpec', 'DuplicateObject'] as const;
export type ProblemReason = (typeof PROBLEM_REASONS)[number];

/** Why the current version of an object could not be accepted. */
export interface ObjectProblem {
  reason: ProblemReason;
  /** Human-readable, names the file and the field path, e.g. "web.yaml: spec.resources.memory: ...". */
  message: string;
  /** Where the object came from (file path, API resource). */
  source?: string;
  /** Dotted path of the offending field, when there is one. */
  fieldPath?: string;
}

/**
 * One desired object as the store knows it. `object` is the last version that was valid; it is
 * absent when no valid version was ever seen. `problem` says why the newest version was refused.
 * A key with a problem is never treated as deleted: what it defined before stays as it was.
 */
export interface DesiredEntry<T> {
  key: ObjectKey;
  object?: T;
  problem?: ObjectProblem;
  /** File or resource the object was read from, for messages. */
  source?: string;
}

export type ChangeListener = (key: ObjectKey) => void;

export interface DesiredStore<T> {
  /** Loads everything once (resolves when the first full load finished, well or not) and starts watching. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * True only when the last full load read every source cleanly. Orphan collection runs only
   * while this is true: an empty, missing or broken store is never "delete everything".
   */
  isComplete(): boolean;
  /** Human-readable reasons the store is not complete (missing directory, malformed files). */
  loadProblems(): string[];
  list(): DesiredEntry<T>[];
  /** How many entries `list()` would return, without copying them (asked on every reconcile). */
  size(): number;
  get(key: ObjectKey): DesiredEntry<T> | undefined;
  /** Called with the key of every object that was added, changed, removed or got a problem. */
  onChange(listener: ChangeListener): () => void;
}

/** Status storage: kept apart from desired state (a Git checkout stays clean). */
export interface StatusStore<S> {
  get(key: ObjectKey): S | undefined;
  list(): ReadonlyMap<ObjectKey, S>;
  /** Records the status. May batch writes; `flush` forces them out. */
  write(key: ObjectKey, status: S): Promise<void>;
  delete(key: ObjectKey): Promise<void>;
  flush(): Promise<void>;
}

/** A status store the agent can load at start, re-read when it becomes leader, and close. */
export interface ManagedStatusStore<S> extends StatusStore<S> {
  load(): Promise<void>;
  reload(): Promise<void>;
  close(): Promise<void>;
}
