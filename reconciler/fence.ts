// Fencing: what every leader-only write asks just before it goes out. A leader frozen past its
// lease (SIGSTOP, a VM pause, a long GC) resumes with work in flight and timers due; its elector may
// not have noticed yet that the lease is gone. The fence does not wait for the elector: it answers
// from the monotonic clock (local, no I/O, cheap enough for every engine call), and where the store
// can check a token itself (Redis' scripts) or show the current holder (a Lease read), the store
// adds its own check to the batch it sends. README "High availability" has the per-backend table.
import { FencedError } from './errors.ts';
import type { LeaderElector, LeaseHolder } from './leader.ts';

export interface Fence {
  /**
   * The fencing token of a lease this replica certainly still holds: leading, and its last
   * successful renewal sent less than the renew deadline ago by the monotonic clock. Throws
   * FencedError naming `operation` otherwise. No I/O.
   */
  require(operation: string): number;
  /**
   * One round trip to the lock: throws FencedError unless it still names this replica with `token`
   * (someone else took the lease while this process could not tell). For stores that cannot check
   * a token themselves, once per batch of writes.
   */
  confirm(operation: string, token: number): Promise<void>;
}

/** Fences on whatever term of `elector` is current. `holder` asks the lock (LeaseLock.holder). */
export function electorFence(elector: Pick<LeaderElector, 'identity' | 'validToken'>, holder: () => Promise<LeaseHolder | undefined>): Fence {
  return {
    require(operation) {
      const token = elector.validToken();
      if (token === undefined) throw new FencedError(operation, undefined, 'this replica does not hold a lease it can be sure of');
      return token;
    },
    async confirm(operation, token) {
      const current = await holder();
      if (current?.identity !== elector.identity || current.token !== token) {
        const who = current ? `${current.identity}${current.token === undefined ? '' : ` with token ${current.token}`}` : 'nobody';
        throw new FencedError(operation, token, `the lease is held by ${who}`);
      }
    },
  };
}

/**
 * Fences on one term only: writes decided under `token` are refused once that term is over, even
 * if this replica leads again under a newer token (the reconciles of the old term were cancelled).
 */
export function termFence(fence: Fence, token: number): Fence {
  return {
    require(operation) {
      const current = fence.require(operation);
      if (current !== token) throw new FencedError(operation, token, `the term ended (this replica now leads under token ${current})`);
      return token;
    },
    confirm: (operation, t) => fence.confirm(operation, t),
  };
}

/**
 * A fence for what opens before the election does (the status stores): refuses until `bind` gives
 * it the elector's fence.
 */
export class LateFence implements Fence {
  #fence: Fence | undefined;

  bind(fence: Fence): void {
    this.#fence = fence;
  }

  require(operation: string): number {
    if (this.#fence === undefined) throw new FencedError(operation, undefined, 'leader election has not started');
    return this.#fence.require(operation);
  }

  confirm(operation: string, token: number): Promise<void> {
    if (this.#fence === undefined) return Promise.reject(new FencedError(operation, token, 'leader election has not started'));
    return this.#fence.confirm(operation, token);
  }
}
