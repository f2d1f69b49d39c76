// Session status on the API server, through the status subresource. Memory is the truth while
// this replica leads (what it last decided); the server copy follows in batches: writes are
// coalesced per key for `flushDelayMs`, so a burst of reconciles of one Session costs one PATCH.
//
// A JSON merge patch of `status` (no resourceVersion precondition): the agent is the only
// writer of a Session's status, so optimistic concurrency would only turn every concurrent spec
// edit into a conflict to retry. Fields that disappeared are sent as null, which removes them.
// A failed write stays pending and is retried with back-off; a Session deleted meanwhile is dropped.
// status.binding and the Scheduled condition belong to the fleet's scheduler (agent/status/kube/
// binding-store.ts): never sent from here, and the server's Scheduled condition is sent back as is.
import type { Logger } from 'pino';
import type { ObjectKey, SessionStatus } from '../../../crds/types.ts';
import { splitKey } from '../../../crds/types.ts';
import type { Fence } from '../../../reconciler/fence.ts';
import type { ManagedStatusStore } from '../../../reconciler/store.ts';
import type { SessionApi } from '../../sources/kube/session-api.ts';
import { BatchFence } from '../batch-fence.ts';
import { SCHEDULED } from '../../../controllers/scheduler/bindings.ts';

/** Status fields the agent never writes (the scheduler does). */
const SCHEDULER_FIELDS: ReadonlySet<string> = new Set(['binding']);

/** Where the server's copy of each status is read (the informer's latest objects). */
export interface ServerStatusSource {
  serverStatus(key: ObjectKey): SessionStatus | undefined;
  serverStatuses(): ReadonlyMap<ObjectKey, SessionStatus>;
}

export interface KubeStatusStoreOptions {
  api: Pick<SessionApi, 'patchStatus'>;
  source: ServerStatusSource;
  logger: Logger;
  /** How long writes are collected before they go out. Default 50 ms. */
  flushDelayMs?: number;
  /** PATCHes in flight at once. Default 8. */
  concurrency?: number;
  /** Back-off after a failed flush; doubles up to 30 s. Default 500 ms. */
  retryDelayMs?: number;
  /** Leader-only writes: each batch is checked against the lease first (agent/status/batch-fence.ts). */
  fence?: Fence;
}

export class KubeStatusStore implements ManagedStatusStore<SessionStatus> {
  private readonly api: Pick<SessionApi, 'patchStatus'>;
  private readonly source: ServerStatusSource;
  private readonly logger: Logger;
  private readonly flushDelayMs: number;
  private readonly concurrency: number;
  private readonly retryDelayMs: number;
  /** What this replica decided last, per key; wins over the server copy until the next reload. */
  private readonly local = new Map<ObjectKey, SessionStatus>();
  /** Fields last sent per key, so a field that disappears is sent as null. */
  private readonly sentFields = new Map<ObjectKey, Set<string>>();
  /** Keys with a change to send, and the fencing token each was decided under. */
  private readonly pending = new Map<ObjectKey, number>();
  private readonly fence: BatchFence;
  private timer: NodeJS.Timeout | undefined;
  private flushes: Promise<void> = Promise.resolve();
  private failures = 0;
  /** PATCHes that succeeded; for tests and debugging. */
  patches = 0;

  constructor(options: KubeStatusStoreOptions) {
    this.api = options.api;
    this.source = options.source;
    this.logger = options.logger.child({ component: 'kube-status-store' });
    this.flushDelayMs = options.flushDelayMs ?? 50;
    this.concurrency = options.concurrency ?? 8;
    this.retryDelayMs = options.retryDelayMs ?? 500;
    this.fence = new BatchFence(options.fence, this.logger);
  }

  /** Status comes with the objects (the informer): nothing to read at start. */
  async load(): Promise<void> {}

  /** A new leader trusts the server: it drops what it decided earlier, once its own writes are out. */
  async reload(): Promise<void> {
    await this.flush();
    for (const key of [...this.local.keys()]) if (!this.pending.has(key)) this.local.delete(key);
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush().catch((error: unknown) => this.logger.warn({ err: error }, 'writing status at shutdown failed'));
  }

  get(key: ObjectKey): SessionStatus | undefined {
    return this.local.get(key) ?? this.source.serverStatus(key);
  }

  list(): ReadonlyMap<ObjectKey, SessionStatus> {
    const merged = new Map(this.source.serverStatuses());
    for (const [key, status] of this.local) merged.set(key, status);
    return merged;
  }

  async write(key: ObjectKey, status: SessionStatus): Promise<void> {
    const token = this.fence.stamp('status write');
    this.local.set(key, structuredClone(status));
    this.pending.set(key, token);
    this.schedule(this.flushDelayMs);
  }

  /** The Session is gone (its status went with it): forget it, send nothing. */
  async delete(key: ObjectKey): Promise<void> {
    this.local.delete(key);
    this.pending.delete(key);
    this.sentFields.delete(key);
  }

  /** Sends everything pending now. Rejects if some write failed (it stays pending and is retried). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.flushes.then(() => this.flushNow());
    this.flushes = run.catch(() => undefined);
    await run;
  }

  private schedule(delayMs: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch(() => {
        // Logged in flushNow; retried by the schedule it set.
      });
    }, delayMs);
    this.timer.unref();
  }

  private async flushNow(): Promise<void> {
    const stamped = new Map(this.pending);
    this.pending.clear();
    let keys: ObjectKey[];
    try {
      keys = (await this.fence.admit(stamped)).send;
    } catch (error) {
      // The lock could not be asked: keep everything pending (newer changes win) and retry.
      for (const [key, token] of stamped) if (!this.pending.has(key)) this.pending.set(key, token);
      this.schedule(Math.min(this.retryDelayMs * 2 ** this.failures, 30_000));
      throw error;
    }
    const failed: { key: ObjectKey; error: unknown }[] = [];
    for (let i = 0; i < keys.length; i += this.concurrency) {
      await Promise.all(
        keys.slice(i, i + this.concurrency).map(async (key) => {
          try {
            await this.send(key);
          } catch (error) {
            failed.push({ key, error });
          }
        }),
      );
    }
    if (failed.length === 0) {
      if (this.failures > 0) this.logger.info('writing Session status works again');
      this.failures = 0;
      return;
    }
    for (const { key } of failed) if (this.local.has(key) && !this.pending.has(key)) this.pending.set(key, stamped.get(key)!);
    const delay = Math.min(this.retryDelayMs * 2 ** this.failures, 30_000);
    if (this.failures === 0) this.logger.warn({ err: failed[0]?.error, keys: failed.length, retryInMs: delay }, 'writing Session status failed; retrying');
    this.failures += 1;
    this.schedule(delay);
    throw failed[0]?.error;
  }

  private async send(key: ObjectKey): Promise<void> {
    const status = this.local.get(key);
    if (!status) return;
    const server = this.source.serverStatus(key);
    const { binding: _binding, ...own } = status;
    const body: Record<string, unknown> = { ...own };
    const scheduled = server?.conditions?.find((c) => c.type === SCHEDULED);
    if (status.conditions) body['conditions'] = [...status.conditions.filter((c) => c.type !== SCHEDULED), ...(scheduled ? [scheduled] : [])];
    const previous = new Set([...(this.sentFields.get(key) ?? []), ...Object.keys(server ?? {})]);
    for (const field of previous) if (!(field in body) && !SCHEDULER_FIELDS.has(field)) body[field] = null;
    const { namespace, name } = splitKey(key);
    if (!namespace) return;
    const result = await this.api.patchStatus(namespace, name, { status: body });
    if (result === 'gone') {
      await this.delete(key);
      return;
    }
    this.patches += 1;
    this.sentFields.set(key, new Set(Object.keys(status)));
  }
}
