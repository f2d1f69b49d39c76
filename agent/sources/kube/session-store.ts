// Desired Sessions from the Kubernetes API: one list+watch (a client-node informer) over the
// Session CRD, in one namespace or all of them.
//
// The informer relists by itself only when the server says its resourceVersion is too old (410);
// any other failure (connection reset, API server restart, 403, CRD removed) just stops it. So
// every error restarts it here, with exponential back-off, resuming from the last resourceVersion
// (the library relists when that has expired). While it is down the store is incomplete: what
// was loaded stays in force, and nothing is deleted as an orphan.
//
// Objects are judged by the same rules as YAML files (crds/validate.ts): the API server has
// already applied the schema and CEL rules, but a CRD installed from an older manifest may not
// have, and a bad object must become a Stalled condition rather than crash or wedge the loop.
import { isDeepStrictEqual } from 'node:util';
import type { Informer } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ObjectKey, Session, SessionStatus } from '../../../crds/types.ts';
import { validateObject } from '../../../crds/validate.ts';
import type { ChangeListener, DesiredEntry, DesiredStore } from '../../../reconciler/store.ts';
import { systemClock, unrefTimer } from '../../../reconciler/clock.ts';
import type { Clock, TimerHandle } from '../../../reconciler/clock.ts';
import { apiStatus, SESSION_CRD_NAME } from './session-api.ts';
import type { KubeSessionObject } from './session-api.ts';

export interface KubeSessionStoreOptions {
  informer: Informer<KubeSessionObject>;
  logger: Logger;
  /** Where the API server is, for messages. */
  server?: string;
  /** First restart delay after an error; doubles up to `maxBackoffMs`. Defaults 500 ms and 30 s. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Restart delays run on it; the real clock unless a test drives it. */
  clock?: Clock;
}

type Up = { state: 'starting' } | { state: 'up' } | { state: 'down'; problem: string };

export class KubeSessionStore implements DesiredStore<Session> {
  private readonly informer: Informer<KubeSessionObject>;
  private readonly logger: Logger;
  private readonly server: string;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  private readonly entries = new Map<ObjectKey, DesiredEntry<Session>>();
  private readonly lastGood = new Map<ObjectKey, Session>();
  private readonly statuses = new Map<ObjectKey, SessionStatus>();
  private readonly resourceVersions = new Map<ObjectKey, string>();
  private readonly listeners = new Set<ChangeListener>();
  private readonly bindingListeners = new Set<ChangeListener>();
  private up: Up = { state: 'starting' };
  /** True once a list succeeded: before that, an empty store means "unknown", not "nothing". */
  private listed = false;
  private failedThisAttempt = false;
  private backoffMs: number;
  private readonly clock: Clock;
  private restartTimer: TimerHandle | undefined;
  private stopped = true;

  constructor(options: KubeSessionStoreOptions) {
    this.informer = options.informer;
    this.logger = options.logger.child({ component: 'kube-store' });
    this.server = options.server ?? 'the API server';
    this.initialBackoffMs = options.initialBackoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.clock = options.clock ?? systemClock;
    this.backoffMs = this.initialBackoffMs;
    this.informer.on('add', (obj) => this.upsert(obj));
    this.informer.on('update', (obj) => this.upsert(obj));
    this.informer.on('delete', (obj) => this.remove(obj));
    this.informer.on('error', (error: unknown) => this.onError(error));
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.attempt();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.restartTimer);
    await this.informer.stop();
  }

  isComplete(): boolean {
    return this.listed && this.up.state === 'up';
  }

  loadProblems(): string[] {
    if (this.up.state === 'down') return [this.up.problem];
    if (!this.listed) return [`Sessions have not been listed from ${this.server} yet`];
    return [];
  }

  list(): DesiredEntry<Session>[] {
    return [...this.entries.values()];
  }

  size(): number {
    return this.entries.size;
  }

  get(key: ObjectKey): DesiredEntry<Session> | undefined {
    return this.entries.get(key);
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The status the API server holds for `key`, as of the last event (the status writer's read side). */
  serverStatus(key: ObjectKey): SessionStatus | undefined {
    return this.statuses.get(key);
  }

  serverStatuses(): ReadonlyMap<ObjectKey, SessionStatus> {
    return this.statuses;
  }

  /** The resourceVersion of the object as of the last event: a scheduler's write is conditional on it. */
  resourceVersion(key: ObjectKey): string | undefined {
    return this.resourceVersions.get(key);
  }

  /** Called with the key of every Session whose status.binding changed (a status write is no spec change). */
  onBindingChange(listener: ChangeListener): () => void {
    this.bindingListeners.add(listener);
    return () => this.bindingListeners.delete(listener);
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    this.failedThisAttempt = false;
    // start() lists (when it has no resourceVersion to resume from) and opens the watch; it
    // reports failures through the 'error' event, not by rejecting.
    try {
      await this.informer.start();
    } catch (error) {
      this.onError(error);
    }
    if (this.failedThisAttempt || this.stopped) return;
    if (this.up.state === 'down') this.logger.info('watching Sessions again');
    this.up = { state: 'up' };
    this.listed = true;
    this.backoffMs = this.initialBackoffMs;
  }

  private onError(error: unknown): void {
    this.failedThisAttempt = true;
    if (this.stopped) return;
    const problem = describeWatchError(error, this.server);
    if (this.up.state !== 'down' || this.up.problem !== problem) {
      this.logger.warn({ err: error, problem, retryInMs: this.backoffMs }, 'list/watch of Sessions failed; restarting it');
    }
    this.up = { state: 'down', problem };
    this.clock.clearTimeout(this.restartTimer);
    const delay = this.backoffMs * (0.8 + Math.random() * 0.4);
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.restartTimer = this.clock.setTimeout(() => void this.attempt(), delay);
    unrefTimer(this.restartTimer);
  }

  private upsert(raw: KubeSessionObject): void {
    const key = keyOfRaw(raw);
    if (!key) return;
    const before = this.statuses.get(key)?.binding;
    if (raw.status) this.statuses.set(key, raw.status);
    else this.statuses.delete(key);
    if (raw.metadata?.resourceVersion) this.resourceVersions.set(key, raw.metadata.resourceVersion);
    this.set(key, toEntry(key, raw, this.lastGood));
    const after = raw.status?.binding;
    if (before?.agent !== after?.agent || before?.epoch !== after?.epoch) this.notifyAll(this.bindingListeners, key);
  }

  private remove(raw: KubeSessionObject): void {
    const key = keyOfRaw(raw);
    if (!key) return;
    const bound = this.statuses.get(key)?.binding !== undefined;
    this.statuses.delete(key);
    this.resourceVersions.delete(key);
    this.lastGood.delete(key);
    if (this.entries.delete(key)) this.notify(key);
    if (bound) this.notifyAll(this.bindingListeners, key);
  }

  private set(key: ObjectKey, entry: DesiredEntry<Session>): void {
    // Status writes and other metadata-only churn leave the entry equal: no reconcile for them.
    if (isDeepStrictEqual(this.entries.get(key), entry)) return;
    if (entry.problem && entry.problem.message !== this.entries.get(key)?.problem?.message) {
      this.logger.warn({ key, problem: entry.problem.message }, 'Session refused; keeping its last valid version');
    }
    this.entries.set(key, entry);
    this.notify(key);
  }

  private notify(key: ObjectKey): void {
    this.notifyAll(this.listeners, key);
  }

  private notifyAll(listeners: ReadonlySet<ChangeListener>, key: ObjectKey): void {
    for (const listener of listeners) {
      try {
        listener(key);
      } catch (error) {
        this.logger.error({ err: error, key }, 'change listener threw');
      }
    }
  }
}

function keyOfRaw(raw: KubeSessionObject): ObjectKey | undefined {
  const { name, namespace } = raw.metadata ?? {};
  return name && namespace ? `${namespace}/${name}` : undefined;
}

/** Validates one object from the API server into a store entry; a refused one keeps its last valid version. */
export function toEntry(key: ObjectKey, raw: KubeSessionObject, lastGood: Map<ObjectKey, Session>): DesiredEntry<Session> {
  const source = `${SESSION_CRD_NAME} ${key}`;
  // Fields that change on every write (status, resourceVersion, managedFields) are not desired
  // state; leaving them out keeps a status write from looking like a spec change.
  const { status: _status, ...rest } = raw;
  const { resourceVersion: _rv, managedFields: _mf, ...metadata } = raw.metadata ?? {};
  const result = validateObject({ ...rest, metadata }, { source });
  if (result.ok && result.object.kind === 'Session') {
    const object = deepFreeze(result.object);
    lastGood.set(key, object);
    return { key, object, source };
  }
  const problems = result.ok ? [] : result.problems;
  const entry: DesiredEntry<Session> = {
    key,
    source,
    problem: {
      reason: 'InvalidSpec',
      message: problems.map((p) => p.message).join('; ') || `${source}: not a Session`,
      source,
      ...(problems[0]?.fieldPath ? { fieldPath: problems[0].fieldPath } : {}),
    },
  };
  const previous = lastGood.get(key);
  if (previous) entry.object = previous;
  return entry;
}

/** A user-facing sentence for a failed list or watch, naming the fix where there is one. */
export function describeWatchError(error: unknown, server: string): string {
  const status = apiStatus(error);
  if (status === 404) {
    return `the Session CRD (${SESSION_CRD_NAME}) is not installed on ${server}: run \`kubectl apply -k deploy/kubernetes\` or \`kubectl apply -f crds/\``;
  }
  if (status === 401) return `${server} refused the credentials in the kubeconfig (401 Unauthorized): check --kubeconfig`;
  if (status === 403) {
    return `the agent may not list/watch ${SESSION_CRD_NAME} on ${server} (403 Forbidden): apply the RBAC in deploy/kubernetes for its ServiceAccount or user`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `cannot list/watch Sessions on ${server}: ${message}`;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
