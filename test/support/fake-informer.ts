// A stand-in for client-node's informer in unit tests: the test decides what each start() does
// (deliver objects, fail like a list or watch would) and can fail a running watch later.
import type { Informer, KubernetesObject } from '@kubernetes/client-node';

type ObjectCb<T> = (obj: T) => void;
type ErrorCb = (err?: unknown) => void;

export class FakeInformer<T extends KubernetesObject> implements Informer<T> {
  starts = 0;
  stops = 0;
  /** What the next start() does; the default succeeds and delivers nothing. */
  onStart: (informer: FakeInformer<T>, attempt: number) => void = () => {};
  private readonly callbacks = { add: [] as ObjectCb<T>[], update: [] as ObjectCb<T>[], delete: [] as ObjectCb<T>[], error: [] as ErrorCb[], connect: [] as ErrorCb[] };

  on(verb: 'add' | 'update' | 'delete' | 'change', cb: ObjectCb<T>): void;
  on(verb: 'error' | 'connect', cb: ErrorCb): void;
  on(verb: string, cb: ObjectCb<T> | ErrorCb): void {
    if (verb === 'change') {
      for (const v of ['add', 'update', 'delete'] as const) this.callbacks[v].push(cb as ObjectCb<T>);
      return;
    }
    (this.callbacks[verb as keyof typeof this.callbacks] as (ObjectCb<T> | ErrorCb)[]).push(cb);
  }

  off(): void {}

  async start(): Promise<void> {
    this.starts += 1;
    this.onStart(this, this.starts);
  }

  async stop(): Promise<void> {
    this.stops += 1;
  }

  add(obj: T): void {
    for (const cb of this.callbacks.add) cb(obj);
  }

  update(obj: T): void {
    for (const cb of this.callbacks.update) cb(obj);
  }

  delete(obj: T): void {
    for (const cb of this.callbacks.delete) cb(obj);
  }

  /** What the library does when a list or watch fails: calls the error callbacks and stops. */
  fail(error: unknown): void {
    for (const cb of this.callbacks.error) cb(error);
  }
}
