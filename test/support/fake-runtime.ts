// An in-memory Docker engine behind the DockerRuntime interface, for unit tests of everything
// above the runtime boundary. It keeps the engine's observable contract (IDs, unique names,
// state transitions, label filters, events) and adds what a test needs on top: drift helpers
// (kill, remove or change a container behind the controller's back), per-op call counters,
// injected failures, and gates that hold a call's answer back to stage out-of-order replies.
// Write calls follow their AbortSignal like the real runtime: an aborted signal sends nothing (the
// call is neither counted nor logged), and an abort while the answer is held rejects the call at
// once, though the engine did what it was asked (as a real engine finishes a stop).
// It does not emulate the engine's own restart policy: a killed container stays exited.
import { createHash, randomBytes } from 'node:crypto';
import type {
  ContainerDetails,
  ContainerEvent,
  ContainerState,
  ContainerSummary,
  CreateContainerRequest,
  DockerRuntime,
  EngineInfo,
  EventStreamHandlers,
  FoundImage,
  FoundNetwork,
  HealthState,
  UpdateContainerRequest,
} from '../../controllers/runtime/docker-runtime.ts';
import { ConflictError, EngineError, NotFoundError } from '../../controllers/runtime/errors.ts';
import type { Clock } from '../../reconciler/clock.ts';
import { systemClock } from '../../reconciler/clock.ts';

/** The ID the fake engine gives the image `reference` names (stable, like a content digest). */
export function fakeImageId(reference: string): string {
  return `sha256:${createHash('sha256').update(reference).digest('hex')}`;
}

/** The real runtime's metric op names (agent/runtime/docker/api-metrics.ts), minus `version`, which the interface lacks. */
export const FAKE_OPS = ['list', 'inspect', 'create', 'start', 'stop', 'remove', 'update', 'rename', 'image_inspect', 'network_inspect', 'pull', 'events', 'info'] as const;
export type FakeOp = (typeof FAKE_OPS)[number];

/** Ops that change the engine; a converged reconcile makes none of them. */
export const WRITE_OPS: readonly FakeOp[] = ['create', 'start', 'stop', 'remove', 'update', 'rename', 'pull'];

export interface CallRecord {
  op: FakeOp;
  /** Container ID, image reference or container name, whichever the call is about. */
  target?: string;
}

export interface FakeDockerRuntimeOptions {
  /** Source of startedAt/finishedAt/created, so they agree with a FakeClock. */
  clock?: Clock;
}

/** Holds calls back until released; their answer is what the engine knew when they were made. */
export interface Gate {
  release(): void;
  /** Whether a call has been caught by this gate yet. */
  readonly caught: boolean;
}

interface Subscription {
  selector: Record<string, string>;
  handlers: EventStreamHandlers;
  signal: AbortSignal;
}

interface PendingFailure {
  error: Error;
  target?: string;
}

interface PendingGate {
  target?: string;
  open: Promise<void>;
  release: () => void;
  caught: boolean;
}

function matches(labels: Record<string, string>, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Rejects with the signal's reason when it aborts; never settles otherwise. */
function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

export class FakeDockerRuntime implements DockerRuntime {
  readonly calls: Record<FakeOp, number> = Object.fromEntries(FAKE_OPS.map((op) => [op, 0])) as Record<FakeOp, number>;
  readonly log: CallRecord[] = [];
  /** References that exist locally. */
  readonly images = new Set<string>();
  /** References a pull can fetch; a pull of anything else fails like an unknown repository. */
  readonly pullable = new Set<string>();
  /** Network names the engine has ("bridge", "host" and "none", like a fresh engine, plus what a test adds). */
  readonly networks = new Set<string>(['bridge', 'host', 'none']);

  private readonly clock: Clock;
  private readonly containers = new Map<string, ContainerDetails>();
  /** Create requests by container ID, for what only the request knows (port bindings). */
  private readonly requests = new Map<string, CreateContainerRequest>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly failures = new Map<FakeOp, PendingFailure[]>();
  private readonly gates = new Map<FakeOp, PendingGate[]>();
  private nextIp = 2;

  constructor(options: FakeDockerRuntimeOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  // ---- test controls ------------------------------------------------------------------------

  addImage(reference: string): void {
    this.images.add(reference);
  }

  /** The next call of `op` (about `target`, if given) throws `error` before touching anything. */
  failNext(op: FakeOp, error: Error, target?: string): void {
    const list = this.failures.get(op) ?? [];
    list.push(target === undefined ? { error } : { error, target });
    this.failures.set(op, list);
  }

  /**
   * Holds back the next call of `op` (about `target`, if given): its answer is computed at once,
   * from the engine as it is then, but delivered only after `release()`, like a reply stuck on a
   * slow connection. Later calls are not held.
   */
  hold(op: FakeOp, target?: string): Gate {
    let open!: () => void;
    const gate: PendingGate = {
      open: new Promise<void>((resolve) => {
        open = resolve;
      }),
      caught: false,
      release: () => {
        this.gates.set(op, (this.gates.get(op) ?? []).filter((g) => g !== gate));
        open();
      },
    };
    if (target !== undefined) gate.target = target;
    this.gates.set(op, [...(this.gates.get(op) ?? []), gate]);
    return gate;
  }

  /** Sum of the calls that change the engine. */
  writes(): number {
    return WRITE_OPS.reduce((sum, op) => sum + this.calls[op], 0);
  }

  resetCalls(): void {
    for (const op of FAKE_OPS) this.calls[op] = 0;
    this.log.length = 0;
  }

  /** A copy of a container's current engine-side state, or undefined. */
  container(id: string): ContainerDetails | undefined {
    const c = this.containers.get(id);
    return c ? clone(c) : undefined;
  }

  allContainers(): ContainerDetails[] {
    return [...this.containers.values()].map(clone);
  }

  /** The process exits with `exitCode` (a crash, an OOM, `docker kill`); emits `die`. */
  kill(id: string, exitCode: number, options: { oomKilled?: boolean } = {}): void {
    const c = this.mustGet(id);
    c.state = 'exited';
    c.exitCode = exitCode;
    c.oomKilled = options.oomKilled ?? false;
    c.finishedAt = this.isoNow();
    delete c.ipAddress;
    c.ports = [];
    this.emit(c, 'die', exitCode);
  }

  /** `docker rm -f` by someone else; emits `die` (if it ran) and `destroy`. */
  removeBehindOurBack(id: string): void {
    const c = this.mustGet(id);
    this.destroy(c);
  }

  /** Moves a container to `state` without any event, as if the stream had missed it. */
  setState(id: string, state: ContainerState, extra: Partial<Omit<ContainerDetails, 'id' | 'state'>> = {}): void {
    const c = this.mustGet(id);
    Object.assign(c, clone(extra), { state });
  }

  /** The create request a container was made from. */
  requestOf(id: string): CreateContainerRequest | undefined {
    const request = this.requests.get(id);
    return request ? clone(request) : undefined;
  }

  /** The engine's HEALTHCHECK reached a verdict: like the engine, an event only when it changed. */
  setHealth(id: string, status: HealthState, output = '', failingStreak = status === 'unhealthy' ? 3 : 0): void {
    const c = this.mustGet(id);
    const before = c.health?.status;
    c.health = { status, failingStreak, lastOutput: output, lastExitCode: status === 'healthy' ? 0 : 1 };
    if (before !== status) this.emit(c, `health_status: ${status}`);
  }

  /** Tells every subscriber the stream came back after a gap (they should relist). */
  simulateReconnect(): void {
    for (const s of this.live()) s.handlers.onReconnect();
  }

  simulateDisconnect(error: unknown): void {
    for (const s of this.live()) s.handlers.onDisconnect(error);
  }

  subscriberCount(): number {
    return this.live().length;
  }

  // ---- DockerRuntime ------------------------------------------------------------------------

  async info(): Promise<EngineInfo> {
    return this.call('info', undefined, undefined, () => ({
      version: '28.0.0-fake',
      apiVersion: '1.48',
      os: 'linux',
      arch: 'amd64',
      cpus: 4,
      memoryBytes: 8 * 1024 ** 3,
    }));
  }

  async listContainers(labelSelector: Record<string, string>): Promise<ContainerSummary[]> {
    return this.call('list', undefined, undefined, () =>
      [...this.containers.values()]
        .filter((c) => matches(c.labels, labelSelector))
        .map(({ id, name, image, state, labels, created }) => clone({ id, name, image, state, labels, created })),
    );
  }

  async inspectContainer(id: string): Promise<ContainerDetails> {
    return this.call('inspect', id, undefined, () => clone(this.mustGet(id)));
  }

  async createContainer(request: CreateContainerRequest, signal?: AbortSignal): Promise<string> {
    return this.call('create', request.name, signal, () => {
      for (const c of this.containers.values()) {
        if (c.name === request.name) throw new ConflictError(`Conflict. The container name "/${request.name}" is already in use by container "${c.id}"`, 409);
      }
      // Like the engine: by ID when one is given (Config.Image is then that ID), else by name.
      const image = request.imageId ?? request.image;
      const known = request.imageId ? [...this.images].some((reference) => fakeImageId(reference) === request.imageId) : this.images.has(request.image);
      if (!known) throw new NotFoundError(`No such image: ${image}`, 404);
      const id = randomBytes(32).toString('hex');
      const c: ContainerDetails = {
        id,
        name: request.name,
        image,
        state: 'created',
        labels: clone(request.labels),
        created: Math.floor(this.clock.now() / 1000),
        exitCode: 0,
        oomKilled: false,
        restartCount: 0,
        memoryBytes: request.memoryBytes,
        nanoCpus: request.nanoCpus,
        restartPolicy: clone(request.restartPolicy),
        ports: [],
      };
      this.containers.set(id, c);
      this.requests.set(id, clone(request));
      this.emit(c, 'create');
      return id;
    });
  }

  async startContainer(id: string, signal?: AbortSignal): Promise<void> {
    return this.call('start', id, signal, () => {
      const c = this.mustGet(id);
      if (c.state === 'running' || c.state === 'restarting') return;
      if (c.state === 'paused') throw new ConflictError(`cannot start a paused container ${id}, try unpause instead`, 409);
      if (c.state === 'removing' || c.state === 'dead') throw new ConflictError(`container ${id} is ${c.state}`, 409);
      // Like the engine: ExitCode resets, FinishedAt keeps the previous run's value.
      c.state = 'running';
      c.exitCode = 0;
      c.oomKilled = false;
      c.startedAt = this.isoNow();
      c.ipAddress = `172.17.0.${this.nextIp++}`;
      // Like the engine: a start begins the HEALTHCHECK over.
      if (this.requests.get(id)?.healthcheck) c.health = { status: 'starting', failingStreak: 0 };
      c.ports = (this.requests.get(id)?.ports ?? [])
        .filter((p) => p.hostPort !== undefined)
        .map((p) => ({ containerPort: p.containerPort, protocol: p.protocol, hostIP: p.hostIP ?? '0.0.0.0', hostPort: p.hostPort ?? 0 }));
      this.emit(c, 'start');
    });
  }

  async stopContainer(id: string, _timeoutSeconds: number, signal?: AbortSignal): Promise<void> {
    return this.call('stop', id, signal, () => {
      const c = this.mustGet(id);
      if (c.state !== 'running' && c.state !== 'paused' && c.state !== 'restarting') return;
      c.state = 'exited';
      c.exitCode = 0;
      c.finishedAt = this.isoNow();
      delete c.ipAddress;
      c.ports = [];
      this.emit(c, 'die', 0);
    });
  }

  async renameContainer(id: string, name: string, signal?: AbortSignal): Promise<void> {
    return this.call('rename', id, signal, () => {
      const c = this.mustGet(id);
      for (const other of this.containers.values()) {
        if (other !== c && other.name === name) throw new ConflictError(`Conflict. The container name "/${name}" is already in use by container "${other.id}"`, 409);
      }
      c.name = name;
      this.emit(c, 'rename');
    });
  }

  async removeContainer(id: string, signal?: AbortSignal): Promise<void> {
    return this.call('remove', id, signal, () => {
      this.destroy(this.mustGet(id));
    });
  }

  async updateContainer(id: string, request: UpdateContainerRequest, signal?: AbortSignal): Promise<void> {
    return this.call('update', id, signal, () => {
      const c = this.mustGet(id);
      // Zero means "leave as is", as the engine treats it (see DockerodeRuntime.updateContainer).
      if (request.memoryBytes) c.memoryBytes = request.memoryBytes;
      if (request.nanoCpus) c.nanoCpus = request.nanoCpus;
      if (request.restartPolicy) c.restartPolicy = clone(request.restartPolicy);
      this.emit(c, 'update');
    });
  }

  async findImage(reference: string): Promise<FoundImage | undefined> {
    return this.call('image_inspect', reference, undefined, () => (this.images.has(reference) ? { id: fakeImageId(reference) } : undefined));
  }

  async findNetwork(name: string): Promise<FoundNetwork | undefined> {
    return this.call('network_inspect', name, undefined, () => (this.networks.has(name) ? { id: fakeImageId(`network:${name}`).slice(7), name } : undefined));
  }

  async pullImage(reference: string, signal?: AbortSignal): Promise<void> {
    return this.call('pull', reference, signal, () => {
      if (!this.pullable.has(reference)) throw new EngineError(`pull image ${reference}: pull access denied or repository does not exist`);
      this.images.add(reference);
    });
  }

  watchEvents(labelSelector: Record<string, string>, handlers: EventStreamHandlers, signal: AbortSignal): void {
    this.count('events');
    if (signal.aborted) return;
    const subscription: Subscription = { selector: { ...labelSelector }, handlers, signal };
    this.subscriptions.add(subscription);
    signal.addEventListener('abort', () => this.subscriptions.delete(subscription), { once: true });
  }

  // ---- internals ----------------------------------------------------------------------------

  private count(op: FakeOp, target?: string): void {
    this.calls[op] += 1;
    this.log.push(target === undefined ? { op } : { op, target });
  }

  /**
   * Counts the call, applies an injected failure, runs it, then waits for any gate on it. The
   * answer (or error) is fixed when the call is made, whatever happens while it is held; only an
   * abort of `signal` ends the wait early, with the signal's reason.
   */
  private async call<T>(op: FakeOp, target: string | undefined, signal: AbortSignal | undefined, run: () => T): Promise<T> {
    signal?.throwIfAborted();
    this.count(op, target);
    const failures = this.failures.get(op) ?? [];
    const failure = failures.findIndex((f) => f.target === undefined || f.target === target);
    if (failure >= 0) {
      const [taken] = failures.splice(failure, 1);
      if (taken) throw taken.error;
    }
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: run() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const gate = (this.gates.get(op) ?? []).find((g) => !g.caught && (g.target === undefined || g.target === target));
    if (gate) {
      gate.caught = true;
      await (signal ? Promise.race([gate.open, rejectOnAbort(signal)]) : gate.open);
    }
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  private mustGet(id: string): ContainerDetails {
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError(`No such container: ${id}`, 404);
    return c;
  }

  private destroy(c: ContainerDetails): void {
    const wasActive = c.state === 'running' || c.state === 'paused' || c.state === 'restarting';
    this.containers.delete(c.id);
    this.requests.delete(c.id);
    if (wasActive) this.emit(c, 'die', 137);
    this.emit(c, 'destroy');
  }

  private isoNow(): string {
    return new Date(this.clock.now()).toISOString();
  }

  private live(): Subscription[] {
    return [...this.subscriptions].filter((s) => !s.signal.aborted);
  }

  /** Delivers an event to matching subscribers on a microtask: after the call returns, like a stream. */
  private emit(c: ContainerDetails, action: string, exitCode?: number): void {
    const event: ContainerEvent = {
      containerId: c.id,
      action,
      labels: clone(c.labels),
      timeNano: this.clock.now() * 1_000_000,
    };
    if (exitCode !== undefined) event.exitCode = exitCode;
    for (const s of this.live()) {
      if (!matches(event.labels, s.selector)) continue;
      queueMicrotask(() => {
        if (!s.signal.aborted) s.handlers.onEvent(clone(event));
      });
    }
  }
}
