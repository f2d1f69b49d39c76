// The session reconciler above the runtime boundary, for unit tests: real observe/plan/execute/
// status and ContainerCache over a fake engine, in-memory stores and a FakeClock. One harness per
// test; `run()` reconciles one key the way the controller loop would.
import pino from 'pino';
import { expect } from 'vitest';
import type { SessionStatus } from '../../crds/types.ts';
import { RequeueAfterError, TerminalError } from '../../reconciler/errors.ts';
import type { ReconcileResult } from '../../reconciler/errors.ts';
import { FakeClock } from '../../reconciler/fake-clock.ts';
import { ContainerCache } from '../../controllers/session/container-cache.ts';
import { ImagePresence } from '../../controllers/session/image-presence.ts';
import { ownedBy } from '../../controllers/session/labels.ts';
import { defaultHostPolicy } from '../../controllers/session/policy.ts';
import { createSessionReconciler } from '../../controllers/session/reconcile.ts';
import type { SessionControllerDeps } from '../../controllers/session/reconcile.ts';
import { FAKE_OPS, FakeDockerRuntime } from './fake-runtime.ts';
import { MemoryDesiredStore, MemoryStatusStore } from './memory-stores.ts';
import { Prober } from '../../controllers/session/prober.ts';
import { FakeProbeTransport } from './fake-probes.ts';

/**
 * What one reconcile asked of the queue, as the controller loop would read it: success (maybe with
 * a later check), a wait (RequeueAfterError) or a stall (TerminalError). Any other error rejects.
 */
export type Step = ReconcileResult | { waitMs: number; reason: string } | { stalled: string };

async function step(run: Promise<ReconcileResult>): Promise<Step> {
  try {
    return await run;
  } catch (error) {
    if (error instanceof RequeueAfterError) return { waitMs: error.delayMs, reason: error.reason };
    if (error instanceof TerminalError) return { stalled: error.reason };
    throw error;
  }
}

export interface SessionHarnessOptions {
  agent: string;
  /** The key `run()` and `status()` use without an argument. */
  key: string;
  /** Images the fake engine has from the start. */
  images?: string[];
  /** Whether undesired containers may be removed (start-up adoption over, store complete). */
  mayDelete: boolean;
  start?: number;
  /** Extra reconciler dependencies (finalizer, events, ...), built from the harness's parts. */
  extra?: (parts: { runtime: FakeDockerRuntime; clock: FakeClock }) => Partial<SessionControllerDeps>;
}

export function sessionHarness(options: SessionHarnessOptions) {
  const clock = new FakeClock(options.start ?? Date.parse('2026-01-01T00:00:00Z'));
  const runtime = new FakeDockerRuntime({ clock });
  for (const image of options.images ?? ['busybox:1']) runtime.addImage(image);
  const store = new MemoryDesiredStore();
  const statusStore = new MemoryStatusStore<SessionStatus>();
  const logger = pino({ level: 'silent' });
  const changed: string[] = [];
  const cache = new ContainerCache({ runtime, clock, selector: ownedBy(options.agent), logger, onChange: (key) => changed.push(key) });
  const world = { mayDelete: options.mayDelete };
  const probes = new FakeProbeTransport();
  const prober = new Prober({ clock, transport: probes, logger, onChange: (key) => changed.push(key) });
  const reconcile = createSessionReconciler({
    agent: options.agent,
    store,
    statusStore,
    runtime,
    cache,
    images: new ImagePresence(runtime, clock),
    clock,
    logger,
    mayDeleteUndesired: () => world.mayDelete,
    stopTimeoutSeconds: 1,
    policy: defaultHostPolicy('/var/run/docker.sock'),
    prober,
    ...options.extra?.({ runtime, clock }),
  });
  const signal = new AbortController().signal;
  return {
    clock,
    runtime,
    store,
    statusStore,
    cache,
    changed,
    world,
    probes,
    prober,
    run: (key = options.key): Promise<Step> => step(reconcile(key, signal)),
    status: (key = options.key): SessionStatus | undefined => statusStore.get(key),
    /** The one container the engine has; fails the test if there is not exactly one. */
    only() {
      const all = runtime.allContainers();
      expect(all).toHaveLength(1);
      return all[0]!;
    },
    totalCalls: (): number => FAKE_OPS.reduce((sum, op) => sum + runtime.calls[op], 0),
  };
}

export type SessionHarness = ReturnType<typeof sessionHarness>;
