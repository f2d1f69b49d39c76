// The engine side of the informer pattern: one list call fills the cache, engine events keep it
// fresh, and reconciles read from memory. A resync is one list call; a container is inspected only
// when it is new, changed state behind our back, or an event says it changed.
import deepEqual from 'fast-deep-equal';
import type { Logger } from 'pino';
import type { ObjectKey } from '../../crds/types.ts';
import type { ContainerDetails, ContainerEvent, DockerRuntime } from '../runtime/docker-runtime.ts';
import { NotFoundError } from '../runtime/errors.ts';
import { ownerKey } from './labels.ts';
import type { Clock } from '../../reconciler/clock.ts';
import { systemClock } from '../../reconciler/clock.ts';

/**
 * Events that never carry news of their own: a `kill` only sends a signal (if the process exits,
 * `die` follows), `stop` comes after its `die`, and `restart` after its `start`. Refreshing on them
 * too made a `docker kill` cost an inspect more and a `docker stop` two more.
 */
const FOLLOWED_BY_ANOTHER: ReadonlySet<string> = new Set(['kill', 'stop', 'restart']);

export interface ContainerCacheOptions {
  runtime: DockerRuntime;
  /** Label selector of the containers this cache holds (ownedBy(agent)). */
  selector: Record<string, string>;
  logger: Logger;
  /** Called with the owning key whenever a container of that key changed. */
  onChange: (key: ObjectKey) => void;
  /** The host's clock, the one the engine stamps its events with. */
  clock?: Clock;
}

export class ContainerCache {
  private readonly byId = new Map<string, ContainerDetails>();
  /**
   * IDs per owning key. Every reconcile asks for its key's containers (several times); scanning
   * all N containers each time made a resync O(N²): with 300 Sessions, 270,000 label reads.
   */
  private readonly byKey = new Map<ObjectKey, Set<string>>();
  /**
   * Per ID, the start stamp of the knowledge the cache holds: the inspect that was applied, or
   * the removal (a tombstone). A finished inspect is applied only if it started after that, so a
   * slow inspect never overwrites fresher knowledge or resurrects a destroyed container, while a
   * finished one is never thrown away just because an even slower one is still in flight (an
   * inspect can wait seconds for the container lock while the engine restarts it).
   */
  private readonly applied = new Map<string, number>();
  /** One counter for all IDs: stamps are taken when an inspect or removal starts. */
  private clock = 0;
  /** Wall time (ms) at which the inspect behind each cached entry started. */
  private readonly readAtMs = new Map<string, number>();
  /**
   * Keys whose reconcile is running engine operations now, with the events of their containers
   * held back (ID → time of the latest held event, ms). The reconcile refreshes what it touched
   * once its operations are done, which covers every event they caused: refreshing on each of
   * them too (create, start…) cost two more inspects per new container, each waiting for the
   * container's lock while the engine was busy starting it.
   */
  private readonly holding = new Map<ObjectKey, { holders: number; events: Map<string, number> }>();
  private synced = false;

  constructor(private readonly options: ContainerCacheOptions) {}

  hasSynced(): boolean {
    return this.synced;
  }

  /** Containers owned by `key`, oldest first. */
  containersFor(key: ObjectKey): ContainerDetails[] {
    const ids = this.byKey.get(key);
    if (!ids) return [];
    const containers: ContainerDetails[] = [];
    for (const id of ids) {
      const details = this.byId.get(id);
      if (details) containers.push(details);
    }
    return containers.sort((a, b) => a.created - b.created);
  }

  keys(): Set<ObjectKey> {
    return new Set(this.byKey.keys());
  }

  size(): number {
    return this.byId.size;
  }

  /** One list call; inspects only containers that are new or whose state moved without an event. */
  async relist(): Promise<void> {
    // Anything refreshed after this point is newer than the list answer and must not be undone
    // by it (a container created while the list was in flight is not in the answer).
    const listedAt = this.stamp();
    const summaries = await this.options.runtime.listContainers(this.options.selector);
    const seen = new Set<string>();
    const stale: string[] = [];
    for (const summary of summaries) {
      seen.add(summary.id);
      const cached = this.byId.get(summary.id);
      if (this.newerThan(summary.id, listedAt)) continue;
      if (!cached || cached.state !== summary.state) stale.push(summary.id);
    }
    for (const id of [...this.byId.keys()]) {
      if (!seen.has(id) && !this.newerThan(id, listedAt)) this.forget(id, 'absent from relist');
    }
    // Tombstones older than this list are no longer needed: the list itself is newer knowledge.
    for (const [id, stamp] of this.applied) {
      if (!this.byId.has(id) && stamp < listedAt) this.applied.delete(id);
    }
    await Promise.all(stale.map((id) => this.refresh(id)));
    this.synced = true;
  }

  /** Inspects one container and stores (or drops) what the engine says now. */
  async refresh(id: string): Promise<void> {
    const started = this.stamp();
    const startedAtMs = (this.options.clock ?? systemClock).now();
    try {
      const details = await this.options.runtime.inspectContainer(id);
      if (this.newerThan(id, started)) return;
      this.applied.set(id, started);
      this.readAtMs.set(id, startedAtMs);
      const before = this.byId.get(id);
      this.store(id, details, before);
      // Only a change is news: re-reading an unchanged container must not wake its owner again,
      // or a reconcile that refreshes would requeue itself forever.
      if (before && deepEqual(before, details)) return;
      this.options.logger.debug({ containerId: id, state: details.state }, 'container changed');
      this.notify(details.labels, before?.labels);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      if (!this.newerThan(id, started)) this.forget(id, 'inspect: not found');
    }
  }

  /** Drops a container we removed ourselves or that the engine destroyed. */
  forget(id: string, reason = 'removed'): void {
    this.applied.set(id, this.stamp());
    this.readAtMs.delete(id);
    const before = this.byId.get(id);
    if (!before) return;
    this.options.logger.debug({ containerId: id, reason }, 'container forgotten');
    this.byId.delete(id);
    this.unindex(id, before.labels);
    this.notify(before.labels);
  }

  /** Holds back the events of `key`'s containers until `release(key)`; see `holding`. */
  hold(key: ObjectKey): void {
    const held = this.holding.get(key);
    if (held) held.holders += 1;
    else this.holding.set(key, { holders: 1, events: new Map() });
  }

  /**
   * Ends a `hold`. Containers with held events that no refresh has read since are refreshed now
   * (one that someone else created or changed meanwhile), as if their events came now.
   */
  async release(key: ObjectKey): Promise<void> {
    const held = this.holding.get(key);
    if (!held) return;
    held.holders -= 1;
    if (held.holders > 0) return;
    this.holding.delete(key);
    const stale = [...held.events].filter(([id, at]) => {
      if (this.byId.has(id)) return (this.readAtMs.get(id) ?? 0) <= at;
      // Forgotten since (removed by the reconcile, or destroyed): nothing left to read.
      return !this.applied.has(id);
    });
    const results = await Promise.allSettled(stale.map(([id]) => this.refresh(id)));
    for (const [i, result] of results.entries()) {
      if (result.status === 'fulfilled') continue;
      this.options.logger.warn({ err: result.reason, containerId: stale[i]![0] }, 'refreshing container after held events failed');
      this.options.onChange(key);
    }
  }

  /** Applies one engine event. Errors are logged here, where they are handled. */
  handleEvent(event: ContainerEvent): void {
    if (FOLLOWED_BY_ANOTHER.has(event.action)) return;
    if (event.action === 'destroy') {
      this.forget(event.containerId, 'destroy event');
      return;
    }
    const key = ownerKey(event.labels);
    const held = key ? this.holding.get(key) : undefined;
    if (held) {
      held.events.set(event.containerId, Math.max(held.events.get(event.containerId) ?? 0, event.timeNano / 1e6));
      return;
    }
    // Engine and agent share the host clock (unix socket only): an entry read after the event
    // happened already shows it, typically the refresh that follows our own create or start.
    if (this.byId.has(event.containerId) && (this.readAtMs.get(event.containerId) ?? 0) > event.timeNano / 1e6) return;
    this.refresh(event.containerId).catch((error: unknown) => {
      this.options.logger.warn({ err: error, containerId: event.containerId }, 'refreshing container after event failed');
      // The container changed and we could not see how: let its owner reconcile and look again.
      const key = ownerKey(event.labels);
      if (key) this.options.onChange(key);
    });
  }

  private store(id: string, details: ContainerDetails, before: ContainerDetails | undefined): void {
    this.byId.set(id, details);
    // Labels cannot change on a container, but the index must not depend on that.
    if (before) this.unindex(id, before.labels);
    const key = ownerKey(details.labels);
    if (!key) return;
    let ids = this.byKey.get(key);
    if (!ids) this.byKey.set(key, (ids = new Set()));
    ids.add(id);
  }

  private unindex(id: string, labels: Record<string, string>): void {
    const key = ownerKey(labels);
    const ids = key ? this.byKey.get(key) : undefined;
    if (!key || !ids) return;
    ids.delete(id);
    if (ids.size === 0) this.byKey.delete(key);
  }

  /** Whether the cache holds knowledge of `id` that started after `stamp`. */
  private newerThan(id: string, stamp: number): boolean {
    return (this.applied.get(id) ?? 0) > stamp;
  }

  private stamp(): number {
    this.clock += 1;
    return this.clock;
  }

  private notify(labels: Record<string, string>, previous?: Record<string, string>): void {
    const key = ownerKey(labels);
    if (key) this.options.onChange(key);
    const before = previous ? ownerKey(previous) : undefined;
    if (before && before !== key) this.options.onChange(before);
  }
}
