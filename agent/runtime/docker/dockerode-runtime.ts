// DockerRuntime over dockerode: the only code that talks to the engine. Every call goes through
// `call()`, which gives it a deadline, counts it, and maps its error (errors.ts).
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { pino, type Logger } from 'pino';
import { register as defaultRegistry, type Registry } from 'prom-client';
import { dockerApiCounter, type DockerApiCounter, type DockerApiOp } from './api-metrics.ts';
import { settleBy, startDeadline } from './deadline.ts';
import type {
  ContainerDetails,
  ContainerSummary,
  CreateContainerRequest,
  DockerRuntime,
  EngineInfo,
  EventStreamHandlers,
  FoundImage,
  FoundNetwork,
  UpdateContainerRequest,
} from '../../../controllers/runtime/docker-runtime.ts';
import {
  WATCHED_ACTIONS,
  secondaryNetworks,
  labelFilters,
  matchesSelector,
  toContainerDetails,
  toContainerEvent,
  toContainerSummary,
  toCreateOptions,
  toUpdateOptions,
} from './dockerode-mapping.ts';
import { EngineError, EngineUnavailableError } from '../../../controllers/runtime/errors.ts';
import { isNotModified, toEngineError } from './error-mapping.ts';
import { systemClock } from '../../../reconciler/clock.ts';
import type { Clock } from '../../../reconciler/clock.ts';
import { runEventStream } from './events-stream.ts';
import { consumeNdjson } from './ndjson.ts';

export const DEFAULT_SOCKET_PATH = '/var/run/docker.sock';
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface DockerodeRuntimeOptions {
  /** Unix socket of the engine; the caller parses DOCKER_HOST (this module reads no env). */
  socketPath?: string;
  /** Where dockerlet_docker_api_requests_total lives; prom-client's default registry if absent. */
  registry?: Registry;
  logger?: Logger;
  /**
   * How long one call may wait for the engine's answer. A stop adds its grace period; a pull or
   * the event stream only wait this long for the engine to start answering, then stream freely.
   */
  requestTimeoutMs?: number;
  /** The event stream's reconnect backoff runs on it; the real clock unless a test drives it. */
  clock?: Clock;
}

interface CallOptions {
  timeoutMs?: number;
  /** The caller's signal (the reconcile's): the call is not sent once it aborted, and gives up when it does. */
  signal?: AbortSignal | undefined;
  /** Status codes that mean "already so" (304 on start/stop): success, not error. */
  notModifiedIsSuccess?: boolean;
}

export class DockerodeRuntime implements DockerRuntime {
  private readonly docker: Docker;
  /** The same client, seen through the typings dockerode 5 actually has (see StreamingClient). */
  private readonly client: StreamingClient;
  private readonly requests: DockerApiCounter;
  private readonly logger: Logger;
  private readonly requestTimeoutMs: number;
  private readonly clock: Clock;

  constructor(options: DockerodeRuntimeOptions = {}) {
    // docker-modem merges DOCKER_HOST & co. from the environment under our options; pinning
    // host/port/protocol keeps this client on exactly the socket it was given, and no socket
    // idle timeout (DOCKER_CLIENT_TIMEOUT) may cut a quiet event stream: deadlines are per call.
    this.docker = new Docker({
      socketPath: options.socketPath ?? DEFAULT_SOCKET_PATH,
      host: undefined,
      port: undefined,
      protocol: 'http',
      timeout: undefined,
    });
    this.client = this.docker as unknown as StreamingClient;
    this.requests = dockerApiCounter(options.registry ?? defaultRegistry);
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.clock = options.clock ?? systemClock;
  }

  async info(): Promise<EngineInfo> {
    const [version, info] = await Promise.all([
      this.call('version', 'engine version', (signal) => this.client.version({ abortSignal: signal })),
      this.call('info', 'engine info', (signal) => this.client.info({ abortSignal: signal })),
    ]);
    return {
      version: version.Version,
      apiVersion: version.ApiVersion,
      os: version.Os,
      arch: version.Arch,
      cpus: info.NCPU ?? 0,
      memoryBytes: info.MemTotal ?? 0,
    };
  }

  async listContainers(labelSelector: Record<string, string>): Promise<ContainerSummary[]> {
    const labels = labelFilters(labelSelector);
    const containers = await this.call('list', 'list containers', (signal) =>
      this.docker.listContainers({ all: true, abortSignal: signal, ...(labels.length > 0 ? { filters: { label: labels } } : {}) }),
    );
    return containers.map(toContainerSummary);
  }

  async inspectContainer(id: string): Promise<ContainerDetails> {
    const info = await this.call('inspect', `inspect container ${id}`, (signal) =>
      this.docker.getContainer(id).inspect({ abortSignal: signal }),
    );
    return toContainerDetails(info);
  }

  /**
   * One create, then one connect per network after the first (the engine takes one endpoint at
   * create). A connect that fails removes the container again: a half-attached container must not
   * start and pass for the Session's.
   */
  async createContainer(request: CreateContainerRequest, signal?: AbortSignal): Promise<string> {
    const container = await this.call(
      'create',
      `create container ${request.name}`,
      (callSignal) => this.docker.createContainer({ ...toCreateOptions(request), abortSignal: callSignal }),
      { signal },
    );
    try {
      for (const network of secondaryNetworks(request)) {
        await this.call(
          'network_connect',
          `connect container ${request.name} to network ${network}`,
          // dockerode passes abortSignal on and docker-modem drops it from the body; the typings lack it.
          (callSignal) => this.docker.getNetwork(network).connect({ Container: container.id, abortSignal: callSignal } as Docker.NetworkConnectOptions),
          { signal },
        );
      }
    } catch (error) {
      await this.removeContainer(container.id).catch((cleanup: unknown) =>
        this.logger.warn({ err: cleanup, containerId: container.id }, 'removing a container whose network connect failed did not work'),
      );
      throw error;
    }
    return container.id;
  }

  async startContainer(id: string, signal?: AbortSignal): Promise<void> {
    await this.call('start', `start container ${id}`, (callSignal) => this.docker.getContainer(id).start({ abortSignal: callSignal }), {
      notModifiedIsSuccess: true,
      signal,
    });
  }

  /**
   * The engine answers only after the grace period and the kill. An abort hangs up at once, but
   * the engine goes on with the stop (Docker 20.10's stop handler is not tied to the request):
   * the container still stops, later, and whoever leads then sees it in its relist or events.
   */
  async stopContainer(id: string, timeoutSeconds: number, signal?: AbortSignal): Promise<void> {
    await this.call(
      'stop',
      `stop container ${id}`,
      (callSignal) => this.docker.getContainer(id).stop({ t: timeoutSeconds, abortSignal: callSignal }),
      { timeoutMs: this.requestTimeoutMs + timeoutSeconds * 1000, notModifiedIsSuccess: true, signal },
    );
  }

  async removeContainer(id: string, signal?: AbortSignal): Promise<void> {
    await this.call(
      'remove',
      `remove container ${id}`,
      (callSignal) => this.docker.getContainer(id).remove({ force: true, v: true, abortSignal: callSignal } as Docker.ContainerRemoveOptions),
      { signal },
    );
  }

  /**
   * Zero values are "leave as is" for the engine, which cannot remove a memory or CPU limit in
   * place (Memory=-1 is rejected): going from limited to unlimited needs a new container.
   */
  async updateContainer(id: string, request: UpdateContainerRequest, signal?: AbortSignal): Promise<void> {
    const options = toUpdateOptions(request);
    if (Object.keys(options).length === 0) return;
    await this.call('update', `update container ${id}`, (callSignal) => this.docker.getContainer(id).update({ ...options, abortSignal: callSignal }), {
      signal,
    });
  }

  async renameContainer(id: string, name: string, signal?: AbortSignal): Promise<void> {
    await this.call('rename', `rename container ${id}`, (callSignal) => this.docker.getContainer(id).rename({ name, abortSignal: callSignal }), { signal });
  }

  async findImage(reference: string): Promise<FoundImage | undefined> {
    try {
      const image = await this.call('image_inspect', `inspect image ${reference}`, () =>
        // dockerode does not pass a signal to image inspect; call() still gives up at the deadline.
        this.docker.getImage(reference).inspect(),
      );
      return { id: image.Id };
    } catch (error) {
      if (error instanceof EngineError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  async findNetwork(name: string): Promise<FoundNetwork | undefined> {
    try {
      const network = await this.call('network_inspect', `inspect network ${name}`, () =>
        // dockerode does not pass a signal to network inspect; call() still gives up at the deadline.
        this.docker.getNetwork(name).inspect(),
      );
      return { id: String(network.Id), name: String(network.Name) };
    } catch (error) {
      if (error instanceof EngineError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  async pullImage(reference: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const what = `pull image ${reference}`;
    const deadline = startDeadline(this.requestTimeoutMs, signal);
    try {
      const stream = await this.client.pull(reference, { abortSignal: deadline.signal });
      // The engine answered: the pull may now stream for as long as it takes.
      deadline.stopClock();
      let streamError: string | undefined;
      const onAbort = (): void => {
        stream.destroy();
      };
      // An abort that landed between the answer and here would never reach a new listener.
      if (deadline.signal.aborted) onAbort();
      else deadline.signal.addEventListener('abort', onAbort, { once: true });
      try {
        await consumeNdjson(stream, (value) => {
          // A failed pull still answers 200; the failure is a line {"error": ..., "errorDetail": ...}.
          const message = (value as { error?: unknown } | null)?.error;
          if (streamError === undefined && typeof message === 'string') streamError = message;
        });
      } finally {
        deadline.signal.removeEventListener('abort', onAbort);
      }
      if (streamError !== undefined) throw new EngineError(`${what}: ${streamError}`);
      this.count('pull', 'success');
    } catch (error) {
      this.count('pull', 'error');
      if (signal?.aborted === true) throw signal.reason;
      throw this.mapError(what, error, deadline.expired);
    } finally {
      deadline.dispose();
    }
  }

  watchEvents(labelSelector: Record<string, string>, handlers: EventStreamHandlers, signal: AbortSignal): void {
    const filters = { type: ['container'], event: [...WATCHED_ACTIONS], label: labelFilters(labelSelector) };
    void runEventStream({
      clock: this.clock,
      signal,
      handlers,
      logger: this.logger,
      connect: (streamSignal) => this.openEvents(filters, streamSignal),
      // The engine filters already; checking again keeps a misbehaving proxy from leaking
      // someone else's containers into the reconciler.
      toEvent: (value) => {
        const event = toContainerEvent(value);
        return event !== undefined && matchesSelector(event.labels, labelSelector) ? event : undefined;
      },
    });
  }

  private async openEvents(filters: Record<string, string[]>, signal: AbortSignal): Promise<Readable> {
    const deadline = startDeadline(this.requestTimeoutMs, signal);
    try {
      const stream = await this.client.getEvents({ filters, abortSignal: deadline.signal });
      this.count('events', 'success');
      return stream;
    } catch (error) {
      this.count('events', 'error');
      throw this.mapError('watch events', error, deadline.expired);
    } finally {
      // The stream's lifetime is now the caller's signal, which runEventStream follows.
      deadline.dispose();
    }
  }

  private async call<T>(op: DockerApiOp, what: string, run: (signal: AbortSignal) => Promise<T>, options: CallOptions = {}): Promise<T> {
    // Checked here rather than left to the HTTP client: a request must not even be sent.
    options.signal?.throwIfAborted();
    const deadline = startDeadline(options.timeoutMs ?? this.requestTimeoutMs, options.signal);
    try {
      const result = await settleBy(run(deadline.signal), deadline.signal);
      this.count(op, 'success');
      return result;
    } catch (error) {
      if (options.notModifiedIsSuccess === true && isNotModified(error)) {
        this.count(op, 'success');
        return undefined as T;
      }
      this.count(op, 'error');
      // Given up by the caller (leadership ended, reconcile timed out): its reason, not an engine error.
      if (options.signal?.aborted === true) throw options.signal.reason;
      throw this.mapError(what, error, deadline.expired);
    } finally {
      deadline.dispose();
    }
  }

  private mapError(what: string, error: unknown, timedOut: boolean): EngineError {
    if (timedOut) return new EngineUnavailableError(`${what}: no answer from the engine in time`, undefined, { cause: error });
    return toEngineError(what, error);
  }

  private count(op: DockerApiOp, result: 'success' | 'error'): void {
    this.requests.inc({ op, result });
  }
}

/** The part of GET /info we read; dockerode types it as `any`. */
interface RawInfo {
  NCPU?: number;
  MemTotal?: number;
}

/**
 * dockerode 5 calls whose @types/dockerode (4.x) signatures lag the JS: version/info/pull take
 * `abortSignal`, and streaming calls resolve to the http.IncomingMessage (a Readable), not the
 * narrower NodeJS.ReadableStream the typings promise.
 */
interface StreamingClient {
  version(options: { abortSignal: AbortSignal }): Promise<Docker.DockerVersion>;
  info(options: { abortSignal: AbortSignal }): Promise<RawInfo>;
  pull(reference: string, options: { abortSignal: AbortSignal }): Promise<Readable>;
  getEvents(options: { filters: Record<string, string[]>; abortSignal: AbortSignal }): Promise<Readable>;
}
