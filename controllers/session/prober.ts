// Runs the probes the engine cannot (httpGet, tcpSocket) and reads the verdict of the one it runs
// itself (exec, as the container's HEALTHCHECK). State lives in memory per container, for as long
// as that container runs the same start: a new start (a restart) begins again, as a kubelet's
// prober does. Timers run on the injected Clock; a result that changes wakes the Session (onChange)
// instead of the reconcile polling for it.
import type { Logger } from 'pino';
import type { ObjectKey, SessionSpec } from '../../crds/types.ts';
import type { Clock, TimerHandle } from '../../reconciler/clock.ts';
import type { ContainerDetails } from '../runtime/docker-runtime.ts';
import type { HttpGetTarget, ProbeKind, ProbeSettings } from './probe-spec.ts';
import { isExec, sessionProbes } from './probe-spec.ts';

/** What one check found: success, or why not (status line, error), for the condition message. */
export interface ProbeOutcome {
  ok: boolean;
  output: string;
}

/** The network half of httpGet and tcpSocket probes (agent/runtime/docker/net-probes.ts). */
export interface ProbeTransport {
  httpGet(host: string, target: HttpGetTarget, timeoutMs: number): Promise<ProbeOutcome>;
  tcpConnect(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome>;
}

export const PROBE_STATES = ['unknown', 'success', 'failure'] as const;
export type ProbeState = (typeof PROBE_STATES)[number];

export interface ProbeResult {
  /** unknown until successThreshold successes or failureThreshold failures in a row. */
  state: ProbeState;
  /** Output of the newest check. */
  output: string;
  /** Whether it succeeded at least once since the container started. */
  everSucceeded: boolean;
}

export interface ProbeResults {
  /** The startup probe passed (or there is none): the other probes count from then on. */
  started: boolean;
  results: Partial<Record<ProbeKind, ProbeResult>>;
}

interface Worker {
  settings: ProbeSettings;
  /** JSON of the settings, to notice a changed probe. */
  fingerprint: string;
  host: string | undefined;
  result: ProbeResult;
  successes: number;
  failures: number;
  timer?: TimerHandle;
  disposed: boolean;
}

interface ContainerProbes {
  id: string;
  startedAt: string;
  started: boolean;
  /** Exec probes read the engine's health: whether it said healthy since this start. */
  execSucceeded: boolean;
  workers: Map<ProbeKind, Worker>;
}

export interface ProberOptions {
  clock: Clock;
  transport: ProbeTransport;
  /** Wakes the Session whose probe result changed. */
  onChange: (key: ObjectKey) => void;
  logger: Logger;
}

function fromHealth(container: ContainerDetails, execSucceeded: boolean): ProbeResult {
  const health = container.health;
  const output = health?.lastOutput ?? (health ? `exit code ${health.lastExitCode ?? '?'}` : 'the container has no HEALTHCHECK (created by an older agent?)');
  const state: ProbeState = health?.status === 'healthy' ? 'success' : health?.status === 'unhealthy' ? 'failure' : 'unknown';
  return { state, output: health?.status === 'starting' && health.failingStreak === 0 ? 'no result yet' : output, everSucceeded: execSucceeded || state === 'success' };
}

/** Where the agent reaches the container: its address on its primary network (loopback for host networking). */
function probeHost(spec: SessionSpec, container: ContainerDetails): string | undefined {
  if (spec.networks?.[0] === 'host') return '127.0.0.1';
  return container.ipAddress;
}

export class Prober {
  private readonly byKey = new Map<ObjectKey, ContainerProbes>();

  constructor(private readonly options: ProberOptions) {}

  /**
   * The results for the container that runs `key` now, starting, keeping or stopping the checks the
   * agent runs for it. A container that does not run has no results (and nothing probing it).
   */
  observe(key: ObjectKey, spec: SessionSpec, container: ContainerDetails | undefined): ProbeResults {
    const probes = sessionProbes(spec);
    if (!container || container.state !== 'running' || !container.startedAt || probes.length === 0) {
      this.forget(key);
      return { started: probes.every((p) => p.kind !== 'startupProbe'), results: {} };
    }
    let state = this.byKey.get(key);
    if (!state || state.id !== container.id || state.startedAt !== container.startedAt) {
      this.forget(key);
      state = { id: container.id, startedAt: container.startedAt, started: false, execSucceeded: false, workers: new Map() };
      this.byKey.set(key, state);
    }
    const wanted = new Set(probes.map((p) => p.kind));
    for (const [kind, worker] of state.workers) {
      if (!wanted.has(kind)) this.dispose(state, kind, worker);
    }
    const results: ProbeResults['results'] = {};
    const startup = probes.find((p) => p.kind === 'startupProbe');
    for (const probe of probes) {
      // Its job is done for this start once it passed (a kubelet stops probing startup then).
      if (probe.kind === 'startupProbe' && state.started) continue;
      if (isExec(probe)) {
        results[probe.kind] = fromHealth(container, state.execSucceeded);
        if (results[probe.kind]?.state === 'success') state.execSucceeded = true;
      } else if (probe.kind === 'startupProbe' || !startup || state.started) {
        // A kubelet runs no readiness or liveness check before the startup probe has passed.
        results[probe.kind] = this.worker(key, state, probe, probeHost(spec, container), Date.parse(container.startedAt)).result;
      }
      if (probe.kind === 'startupProbe' && results[probe.kind]?.state === 'success' && !state.started) {
        state.started = true;
        const worker = state.workers.get('startupProbe');
        if (worker) this.dispose(state, 'startupProbe', worker);
        // The probes it gated start now.
        return this.observe(key, spec, container);
      }
    }
    if (!startup) state.started = true;
    if (state.started && startup) results.startupProbe = { state: 'success', output: '', everSucceeded: true };
    return { started: state.started, results };
  }

  /** Stops probing `key` (its Session or container is gone). */
  forget(key: ObjectKey): void {
    const state = this.byKey.get(key);
    if (!state) return;
    for (const [kind, worker] of state.workers) this.dispose(state, kind, worker);
    this.byKey.delete(key);
  }

  /** Stops every check (leadership ended). */
  stop(): void {
    for (const key of [...this.byKey.keys()]) this.forget(key);
  }

  /** Keys probed now, for tests and the leader's bookkeeping. */
  keys(): ObjectKey[] {
    return [...this.byKey.keys()];
  }

  private worker(key: ObjectKey, state: ContainerProbes, settings: ProbeSettings, host: string | undefined, startedAtMs: number): Worker {
    const fingerprint = JSON.stringify(settings);
    const existing = state.workers.get(settings.kind);
    if (existing && existing.fingerprint === fingerprint) {
      existing.host = host;
      return existing;
    }
    if (existing) this.dispose(state, settings.kind, existing);
    const worker: Worker = {
      settings,
      fingerprint,
      host,
      result: { state: 'unknown', output: 'no result yet', everSucceeded: false },
      successes: 0,
      failures: 0,
      disposed: false,
    };
    state.workers.set(settings.kind, worker);
    const firstAt = Number.isFinite(startedAtMs) ? startedAtMs + settings.initialDelaySeconds * 1000 : 0;
    this.schedule(key, worker, Math.max(0, firstAt - this.options.clock.now()));
    return worker;
  }

  private schedule(key: ObjectKey, worker: Worker, delayMs: number): void {
    worker.timer = this.options.clock.setTimeout(() => {
      worker.timer = undefined;
      void this.check(key, worker);
    }, delayMs);
  }

  private async check(key: ObjectKey, worker: Worker): Promise<void> {
    const { settings } = worker;
    const timeoutMs = settings.timeoutSeconds * 1000;
    let outcome: ProbeOutcome;
    try {
      const h = settings.handler;
      if (!worker.host) outcome = { ok: false, output: 'the container has no address the agent can reach' };
      else if ('httpGet' in h) outcome = await this.options.transport.httpGet(worker.host, h.httpGet, timeoutMs);
      else if ('tcpSocket' in h) outcome = await this.options.transport.tcpConnect(worker.host, h.tcpSocket.port, timeoutMs);
      else outcome = { ok: false, output: 'exec probes are run by the engine' };
    } catch (error) {
      outcome = { ok: false, output: error instanceof Error ? error.message : String(error) };
    }
    if (worker.disposed) return;
    if (outcome.ok) {
      worker.successes += 1;
      worker.failures = 0;
    } else {
      worker.failures += 1;
      worker.successes = 0;
    }
    const before = worker.result.state;
    const next: ProbeState =
      worker.successes >= settings.successThreshold ? 'success' : worker.failures >= settings.failureThreshold ? 'failure' : before;
    worker.result = { state: next, output: outcome.output, everSucceeded: worker.result.everSucceeded || next === 'success' };
    if (next !== before) {
      this.options.logger.debug({ key, probe: settings.kind, state: next, output: outcome.output }, 'probe result changed');
      this.options.onChange(key);
    }
    this.schedule(key, worker, settings.periodSeconds * 1000);
  }

  private dispose(state: ContainerProbes, kind: ProbeKind, worker: Worker): void {
    worker.disposed = true;
    if (worker.timer !== undefined) this.options.clock.clearTimeout(worker.timer);
    state.workers.delete(kind);
  }
}
