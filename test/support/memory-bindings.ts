// A fleet's bindings in memory for unit tests, with the stores' compare-and-set rule: a bind whose
// `previous` is not the stored binding, or whose epoch does not grow, is a conflict.
import type { Condition, ObjectKey, SessionBinding } from '../../crds/types.ts';
import type { BindingStore, BindingWrite, BindResult } from '../../controllers/scheduler/bindings.ts';

export class MemoryBindingStore implements BindingStore {
  readonly bindings = new Map<ObjectKey, SessionBinding>();
  readonly conditions = new Map<ObjectKey, Condition>();
  readonly writes: string[] = [];
  current = true;
  /** The next bind of these keys conflicts once (another scheduler came first). */
  readonly conflictOnce = new Set<ObjectKey>();
  private readonly listeners = new Set<(key: ObjectKey) => void>();

  async start(): Promise<void> {}
  async reload(): Promise<void> {}
  async close(): Promise<void> {}

  fresh(): boolean {
    return this.current;
  }

  get(key: ObjectKey): SessionBinding | undefined {
    return this.bindings.get(key);
  }

  list(): ReadonlyMap<ObjectKey, SessionBinding> {
    return new Map(this.bindings);
  }

  scheduled(key: ObjectKey): Condition | undefined {
    return this.conditions.get(key);
  }

  onChange(listener: (key: ObjectKey) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async bind(write: BindingWrite): Promise<BindResult> {
    const stored = this.bindings.get(write.key);
    if (this.conflictOnce.delete(write.key)) return 'conflict';
    if (stored?.agent !== write.previous?.agent || stored?.epoch !== write.previous?.epoch) return 'conflict';
    if (write.next.epoch <= (stored?.epoch ?? 0)) return 'conflict';
    this.bindings.set(write.key, write.next);
    this.conditions.set(write.key, write.scheduled);
    this.writes.push(`bind ${write.key} ${write.next.agent}@${write.next.epoch}`);
    for (const listener of this.listeners) listener(write.key);
    return 'ok';
  }

  async unbind(key: ObjectKey, previous: SessionBinding): Promise<BindResult> {
    if (this.bindings.get(key)?.epoch !== previous.epoch) return 'conflict';
    this.bindings.delete(key);
    this.conditions.delete(key);
    this.writes.push(`unbind ${key}`);
    return 'ok';
  }

  async setScheduled(key: ObjectKey, condition: Condition): Promise<BindResult> {
    this.conditions.set(key, condition);
    this.writes.push(`scheduled ${key} ${condition.status} ${condition.reason}`);
    return 'ok';
  }
}
