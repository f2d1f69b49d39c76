import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.ts';
import { createReconcilerMetrics } from './metrics.ts';
import { WorkQueue } from './workqueue.ts';

describe('createReconcilerMetrics', () => {
  it('registers every metric under its dockerlet_ name', () => {
    const registry = new Registry();
    createReconcilerMetrics(registry);
    expect(registry.getMetricsAsArray().map((m) => m.name).sort()).toEqual([
      'dockerlet_reconcile_errors_total',
      'dockerlet_reconcile_time_seconds',
      'dockerlet_reconcile_total',
      'dockerlet_resync_duration_seconds',
      'dockerlet_workqueue_adds_total',
      'dockerlet_workqueue_depth',
      'dockerlet_workqueue_queue_duration_seconds',
      'dockerlet_workqueue_retries_total',
      'dockerlet_workqueue_unfinished_work_seconds',
      'dockerlet_workqueue_work_duration_seconds',
    ]);
  });

  it('returns the existing metrics when called twice on one registry', () => {
    const registry = new Registry();
    const first = createReconcilerMetrics(registry);
    expect(() => createReconcilerMetrics(registry)).not.toThrow();
    expect(createReconcilerMetrics(registry)).toBe(first);
    expect(createReconcilerMetrics(new Registry())).not.toBe(first);
  });

  it('re-registers after registry.clear()', () => {
    const registry = new Registry();
    const first = createReconcilerMetrics(registry);
    registry.clear();
    const second = createReconcilerMetrics(registry);
    expect(second).not.toBe(first);
    expect(registry.getSingleMetric('dockerlet_reconcile_total')).toBe(second.reconcileTotal);
  });

  it('refuses a name already taken by a metric of another type', () => {
    const registry = new Registry();
    new Counter({ name: 'dockerlet_workqueue_depth', help: 'x', registers: [registry] });
    expect(() => createReconcilerMetrics(registry)).toThrow(/different type/);
  });

  it('initialises a controller at zero for every result', async () => {
    const registry = new Registry();
    createReconcilerMetrics(registry).initController('sessions');
    const text = await registry.metrics();
    for (const result of ['success', 'error', 'requeue', 'requeue_after', 'terminal']) {
      expect(text).toContain(`dockerlet_reconcile_total{controller="sessions",result="${result}"} 0`);
    }
    expect(text).toContain('dockerlet_reconcile_errors_total{controller="sessions"} 0');
  });

  it('labels queue metrics with the queue name and reads unfinished work at scrape time', async () => {
    const registry = new Registry();
    const metrics = createReconcilerMetrics(registry);
    const clock = new FakeClock();
    const q = new WorkQueue({ name: 'agents', clock, metrics: metrics.forQueue('agents') });
    q.add('a');
    q.add('b');
    expect(await registry.metrics()).toContain('dockerlet_workqueue_depth{name="agents"} 2');
    clock.advance(2_000);
    await q.get();
    clock.advance(3_000);
    const text = await registry.metrics();
    expect(text).toContain('dockerlet_workqueue_adds_total{name="agents"} 2');
    expect(text).toContain('dockerlet_workqueue_depth{name="agents"} 1');
    expect(text).toContain('dockerlet_workqueue_queue_duration_seconds_sum{name="agents"} 2');
    expect(text).toContain('dockerlet_workqueue_unfinished_work_seconds{name="agents"} 3');
  });
});
