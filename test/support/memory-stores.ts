// In-memory stores for unit tests: the desired side is driven by the test (set, remove, refuse
// a newer version), the status side remembers and counts what a controller wrote.
import type { ObjectKey, Session } from '../../crds/types.ts';
import { DEFAULT_NAMESPACE } from '../../crds/types.ts';
import type { ChangeListener, DesiredEntry, DesiredStore, ObjectProblem, StatusStore } from '../../reconciler/store.ts';

/** The key a store gives a Session: an omitted namespace is the default one, as in the YAML store. */
export function sessionKey(session: Session): ObjectKey {
  return `${session.metadata.namespace ?? DEFAULT_NAMESPACE}/${session.metadata.name}`;
}

export class MemoryDesiredStore implements DesiredStore<Session> {
  private readonly entries = new Map<ObjectKey, DesiredEntry<Session>>();
  private readonly listeners = new Set<ChangeListener>();
  private complete = true;
  private problems: string[] = [];
  started = false;

  async start(): Promise<void> {
    this.started = true;
  }

  async stop(): Promise<void> {
    this.started = false;
  }

  isComplete(): boolean {
    return this.complete;
  }

  loadProblems(): string[] {
    return [...this.problems];
  }

  list(): DesiredEntry<Session>[] {
    return [...this.entries.values()].map((e) => structuredClone(e));
  }

  size(): number {
    return this.entries.size;
  }

  get(key: ObjectKey): DesiredEntry<Session> | undefined {
    const entry = this.entries.get(key);
    return entry ? structuredClone(entry) : undefined;
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- test controls ------------------------------------------------------------------------

  /** Accepts a (new version of a) Session: it becomes the last valid version, any problem clears. */
  set(session: Session, source?: string): ObjectKey {
    const key = sessionKey(session);
    const entry: DesiredEntry<Session> = { key, object: structuredClone(session) };
    if (source !== undefined) entry.source = source;
    this.entries.set(key, entry);
    this.notify(key);
    return key;
  }

  /** Refuses the newest version of `key`: the last valid object, if any, stays. */
  setProblem(key: ObjectKey, problem: ObjectProblem): void {
    const entry: DesiredEntry<Session> = { ...(this.entries.get(key) ?? { key }), problem: structuredClone(problem) };
    this.entries.set(key, entry);
    this.notify(key);
  }

  remove(key: ObjectKey): void {
    if (this.entries.delete(key)) this.notify(key);
  }

  setComplete(complete: boolean, problems: string[] = []): void {
    this.complete = complete;
    this.problems = [...problems];
  }

  private notify(key: ObjectKey): void {
    for (const listener of [...this.listeners]) listener(key);
  }
}

/**
 * Status kept as JSON, like every real status store (file, Redis, Kubernetes): what a controller
 * reads back is what survives a round trip, so an `undefined` field it wrote is gone on re-read.
 */
export class MemoryStatusStore<S> implements StatusStore<S> {
  private readonly statuses = new Map<ObjectKey, S>();
  writes = 0;
  deletes = 0;
  flushes = 0;
  /** Every write, in order. */
  readonly history: Array<{ key: ObjectKey; status: S }> = [];

  get(key: ObjectKey): S | undefined {
    const status = this.statuses.get(key);
    return status === undefined ? undefined : roundTrip(status);
  }

  list(): ReadonlyMap<ObjectKey, S> {
    return new Map([...this.statuses].map(([k, v]) => [k, roundTrip(v)]));
  }

  async write(key: ObjectKey, status: S): Promise<void> {
    this.writes += 1;
    const stored = roundTrip(status);
    this.statuses.set(key, stored);
    this.history.push({ key, status: roundTrip(stored) });
  }

  async delete(key: ObjectKey): Promise<void> {
    this.deletes += 1;
    this.statuses.delete(key);
  }

  async flush(): Promise<void> {
    this.flushes += 1;
  }

  /** Seeds a status without counting it as a write (another agent's, a previous run's). */
  seed(key: ObjectKey, status: S): void {
    this.statuses.set(key, roundTrip(status));
  }
}

function roundTrip<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
