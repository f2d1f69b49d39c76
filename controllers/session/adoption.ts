// Start-up adoption: until every key known at start (desired or found on the engine) has been
// reconciled once, nothing is deleted. A restarted agent first adopts what runs, then collects.
import type { Logger } from 'pino';
import type { ObjectKey } from '../../crds/types.ts';

export class StartupAdoption {
  private pending: Set<ObjectKey> | undefined;
  private complete = false;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly logger: Logger) {}

  /** Resolves once start-up adoption is complete. */
  done(): Promise<void> {
    return this.complete ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  begin(keys: Iterable<ObjectKey>): void {
    this.pending = new Set(keys);
    this.finishIfDone();
  }

  reconciled(key: ObjectKey): void {
    if (!this.pending || this.complete) return;
    this.pending.delete(key);
    this.finishIfDone();
  }

  isComplete(): boolean {
    return this.complete;
  }

  private finishIfDone(): void {
    if (this.pending && this.pending.size === 0 && !this.complete) {
      this.complete = true;
      this.logger.info('start-up adoption complete; orphan collection enabled');
      for (const resolve of this.waiters.splice(0)) resolve();
    }
  }
}
