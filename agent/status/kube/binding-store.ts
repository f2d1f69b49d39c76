// A fleet's bindings on Kubernetes: status.binding and the Scheduled condition of each Session,
// read from the informer and written through the status subresource, each write conditional on
// the resourceVersion the decision was made from. Two schedulers (a deposed leader that has not
// noticed yet) can therefore never both bind one Session: the second write gets 409 Conflict.
import type { Condition, ObjectKey, SessionBinding, SessionStatus } from '../../../crds/types.ts';
import { splitKey } from '../../../crds/types.ts';
import type { BindingStore, BindingWrite, BindResult } from '../../../controllers/scheduler/bindings.ts';
import { SCHEDULED } from '../../../controllers/scheduler/bindings.ts';
import type { SessionApi } from '../../sources/kube/session-api.ts';

/** What the binding store reads from the Session informer. */
export interface BindingSource {
  isComplete(): boolean;
  serverStatus(key: ObjectKey): SessionStatus | undefined;
  serverStatuses(): ReadonlyMap<ObjectKey, SessionStatus>;
  resourceVersion(key: ObjectKey): string | undefined;
  onBindingChange(listener: (key: ObjectKey) => void): () => void;
}

export class KubeBindingStore implements BindingStore {
  /** Bindings this process wrote, until the informer shows them (or something newer). */
  private readonly written = new Map<ObjectKey, { binding: SessionBinding; resourceVersion: string | undefined }>();

  constructor(
    private readonly api: Pick<SessionApi, 'patchStatusIf'>,
    private readonly source: BindingSource,
  ) {}

  fresh(): boolean {
    return this.source.isComplete();
  }

  get(key: ObjectKey): SessionBinding | undefined {
    const server = this.source.serverStatus(key)?.binding;
    const mine = this.written.get(key);
    if (!mine) return server;
    // The informer caught up (the object moved on from the version we wrote against).
    if (this.source.resourceVersion(key) !== mine.resourceVersion || (server && server.epoch >= mine.binding.epoch)) {
      this.written.delete(key);
      return server;
    }
    return mine.binding;
  }

  list(): ReadonlyMap<ObjectKey, SessionBinding> {
    const out = new Map<ObjectKey, SessionBinding>();
    for (const key of this.source.serverStatuses().keys()) {
      const binding = this.get(key);
      if (binding) out.set(key, binding);
    }
    for (const key of this.written.keys()) {
      const binding = this.get(key);
      if (binding) out.set(key, binding);
    }
    return out;
  }

  scheduled(key: ObjectKey): Condition | undefined {
    return this.source.serverStatus(key)?.conditions?.find((c) => c.type === SCHEDULED);
  }

  onChange(listener: (key: ObjectKey) => void): () => void {
    return this.source.onBindingChange(listener);
  }

  async bind(write: BindingWrite): Promise<BindResult> {
    const stored = this.get(write.key);
    if (stored?.agent !== write.previous?.agent || stored?.epoch !== write.previous?.epoch) return 'conflict';
    if (stored && write.next.epoch <= stored.epoch) return 'conflict';
    const resourceVersion = this.source.resourceVersion(write.key);
    const result = await this.patch(write.key, { binding: write.next }, write.scheduled);
    if (result === 'ok') this.written.set(write.key, { binding: write.next, resourceVersion });
    return result;
  }

  /** The binding goes with the Session object: nothing to drop. */
  async unbind(): Promise<BindResult> {
    return 'gone';
  }

  setScheduled(key: ObjectKey, condition: Condition): Promise<BindResult> {
    return this.patch(key, {}, condition);
  }

  /** The informer reads and follows (the desired store starts it). */
  async start(): Promise<void> {}

  async reload(): Promise<void> {}

  async close(): Promise<void> {}

  /** Status fields plus the Scheduled condition set in the conditions the server holds, if the object has not moved. */
  private async patch(key: ObjectKey, fields: Record<string, unknown>, scheduled: Condition): Promise<BindResult> {
    const resourceVersion = this.source.resourceVersion(key);
    const { namespace, name } = splitKey(key);
    if (!resourceVersion || !namespace) return 'gone';
    const others = (this.source.serverStatus(key)?.conditions ?? []).filter((c) => c.type !== SCHEDULED);
    return this.api.patchStatusIf(namespace, name, resourceVersion, { ...fields, conditions: [...others, scheduled] });
  }
}
