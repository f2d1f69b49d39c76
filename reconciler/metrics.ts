// Prometheus metrics of the reconcile runtime, named as controller-runtime's with a `dockerlet_`
// prefix. Labels are the controller or queue name only: per-object state belongs in status, and a
// label per key would grow without bound.
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { WorkQueueMetrics } from './workqueue.ts';

/**
 * `requeue` is a reconcile that waits on something (RequeueAfterError); `requeue_after` is a
 * successful reconcile that asked for a later check (ReconcileResult.requeueAfterMs); `fenced` is one
 * whose write was refused because this replica no longer certainly leads (FencedError).
 */
export const RECONCILE_RESULTS = ['success', 'error', 'requeue', 'requeue_after', 'terminal', 'fenced'] as const;
export type ReconcileResultLabel = (typeof RECONCILE_RESULTS)[number];

export interface ReconcilerMetrics {
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  /** Failed reconciles, retried or terminal (as controller-runtime counts them). */
  readonly reconcileErrors: Counter<'controller'>;
  readonly reconcileTime: Histogram<'controller'>;
  /** A periodic resync, from the start of its relist until every key it enqueued was reconciled. */
  readonly resyncDuration: Histogram<'controller'>;
  readonly workqueueDepth: Gauge<'name'>;
  readonly workqueueAdds: Counter<'name'>;
  readonly workqueueQueueDuration: Histogram<'name'>;
  readonly workqueueWorkDuration: Histogram<'name'>;
  readonly workqueueRetries: Counter<'name'>;
  readonly workqueueUnfinishedWork: Gauge<'name'>;
  /** Hooks for one work queue, labelled with its name. */
  forQueue(name: string): WorkQueueMetrics;
  /** Creates a controller's series at zero, so rates work from the first scrape. */
  initController(controller: string): void;
}

// controller-runtime's reconcile_time_seconds buckets.
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25,
  1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
// A resync of hundreds of keys: tens of milliseconds on a quiet engine, seconds on a busy one.
const RESYNC_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
// Our clocks tick in milliseconds, so client-go's nanosecond buckets would stay empty.
const QUEUE_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1000];

/** One set per registry, so every controller sharing a registry shares the metric objects. */
const byRegistry = new WeakMap<Registry, ReconcilerMetrics>();

/**
 * Registers the metrics on `registry`, or returns the ones already registered there: several
 * controllers share one registry, and prom-client throws on a duplicate name.
 */
export function createReconcilerMetrics(registry: Registry): ReconcilerMetrics {
  const cached = byRegistry.get(registry);
  // registry.clear() drops metrics behind our back; only reuse what is still registered.
  if (cached !== undefined && registry.getSingleMetric('dockerlet_reconcile_total') === cached.reconcileTotal) {
    return cached;
  }
  const metrics = build(registry);
  byRegistry.set(registry, metrics);
  return metrics;
}

function build(registry: Registry): ReconcilerMetrics {
  const unfinishedProbes = new Map<string, () => number>();
  const reconcileTotal = counter(registry, 'dockerlet_reconcile_total', 'Total number of reconciliations per controller.', ['controller', 'result']);
  const reconcileErrors = counter(registry, 'dockerlet_reconcile_errors_total', 'Total number of reconciliation errors per controller.', ['controller']);
  const reconcileTime = histogram(registry, 'dockerlet_reconcile_time_seconds', 'Length of time per reconciliation per controller.', ['controller'], RECONCILE_BUCKETS);
  const resyncDuration = histogram(
    registry,
    'dockerlet_resync_duration_seconds',
    'Length of a periodic resync per controller: its relist plus the reconcile of every key it enqueued.',
    ['controller'],
    RESYNC_BUCKETS,
  );
  const workqueueDepth = gauge(registry, 'dockerlet_workqueue_depth', 'Current depth of workqueue.', ['name']);
  const workqueueAdds = counter(registry, 'dockerlet_workqueue_adds_total', 'Total number of adds handled by workqueue.', ['name']);
  const workqueueQueueDuration = histogram(registry, 'dockerlet_workqueue_queue_duration_seconds', 'How long in seconds an item stays in workqueue before being requested.', ['name'], QUEUE_BUCKETS);
  const workqueueWorkDuration = histogram(registry, 'dockerlet_workqueue_work_duration_seconds', 'How long in seconds processing an item from workqueue takes.', ['name'], QUEUE_BUCKETS);
  const workqueueRetries = counter(registry, 'dockerlet_workqueue_retries_total', 'Total number of retries handled by workqueue.', ['name']);
  const workqueueUnfinishedWork = gauge(
    registry,
    'dockerlet_workqueue_unfinished_work_seconds',
    'How many seconds of work has been done that is in progress and has not been observed by work_duration.',
    ['name'],
    function collect(this: Gauge<'name'>) {
      // Computed at scrape time, instead of client-go's 500 ms ticker.
      for (const [name, probe] of unfinishedProbes) this.set({ name }, probe());
    },
  );

  return {
    reconcileTotal,
    reconcileErrors,
    reconcileTime,
    resyncDuration,
    workqueueDepth,
    workqueueAdds,
    workqueueQueueDuration,
    workqueueWorkDuration,
    workqueueRetries,
    workqueueUnfinishedWork,
    forQueue(name) {
      const labels = { name };
      workqueueAdds.inc(labels, 0);
      workqueueRetries.inc(labels, 0);
      workqueueDepth.set(labels, 0);
      return {
        added: () => workqueueAdds.inc(labels),
        depth: (n) => workqueueDepth.set(labels, n),
        queueDuration: (seconds) => workqueueQueueDuration.observe(labels, seconds),
        workDuration: (seconds) => workqueueWorkDuration.observe(labels, seconds),
        retry: () => workqueueRetries.inc(labels),
        // A queue made later under the same name (a new leadership term) replaces the old probe.
        unfinishedWork: (probe) => void unfinishedProbes.set(name, probe),
      };
    },
    initController(controller) {
      for (const result of RECONCILE_RESULTS) reconcileTotal.inc({ controller, result }, 0);
      reconcileErrors.inc({ controller }, 0);
    },
  };
}

// Reuse a metric someone already registered under the name (another copy of this module), as long
// as it has the expected type; a different type is a real conflict.
function existing<M>(registry: Registry, name: string, type: abstract new (...args: never[]) => M): M | undefined {
  const found = registry.getSingleMetric(name);
  if (found === undefined) return undefined;
  if (found instanceof type) return found;
  throw new Error(`metric ${name} is already registered with a different type`);
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  return existing<Counter<L>>(registry, name, Counter) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

function gauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
  collect?: (this: Gauge<L>) => void,
): Gauge<L> {
  return (
    existing<Gauge<L>>(registry, name, Gauge) ??
    new Gauge({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) })
  );
}

function histogram<L extends string>(registry: Registry, name: string, help: string, labelNames: L[], buckets: number[]): Histogram<L> {
  return existing<Histogram<L>>(registry, name, Histogram) ?? new Histogram({ name, help, labelNames, buckets, registers: [registry] });
}
