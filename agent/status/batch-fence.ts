// Fencing for status stores whose backend cannot compare a token itself (the API server, files):
// each change is stamped with the token it was decided under, and before a batch goes out the
// stamps are checked against a lease this replica certainly holds now (local, monotonic clock), and
// the lock is asked once (Fence.confirm: a Lease read, holder.json, the service labels) that it
// still names us with that token. What a check refuses is dropped, not retried: those changes
// belong to a term that is over, and whoever leads now writes its own. The window left is the time
// between that read and the writes of the batch (README "High availability", fencing table).
import type { Logger } from 'pino';
import { FencedError } from '../../reconciler/errors.ts';
import type { Fence } from '../../reconciler/fence.ts';

/** Unfenced stores stamp this. */
const NO_TOKEN = 0;

export class BatchFence {
  readonly #fence: Fence | undefined;
  readonly #log: Logger;
  /** The last token refused, so a refusal is logged once per term. */
  #refusedToken: number | undefined;
  /** Changes dropped by the fence; for tests and logs. */
  refused = 0;

  constructor(fence: Fence | undefined, logger: Logger) {
    this.#fence = fence;
    this.#log = logger;
  }

  /** The token a change made now is decided under; throws FencedError when there is none. */
  stamp(operation: string): number {
    return this.#fence ? this.#fence.require(operation) : NO_TOKEN;
  }

  /**
   * Splits a batch of stamped changes into those that may go out now and those refused. Rejects
   * (the batch stays pending and is retried) only when the lock could not be asked.
   */
  async admit<K>(stamped: ReadonlyMap<K, number>): Promise<{ send: K[]; refused: K[] }> {
    const fence = this.#fence;
    if (!fence || stamped.size === 0) return { send: [...stamped.keys()], refused: [] };
    let current: number;
    try {
      current = fence.require('status write');
      await fence.confirm('status write', current);
    } catch (error) {
      if (!(error instanceof FencedError)) throw error;
      return this.#refuse([...stamped.keys()], error.token ?? Math.max(...stamped.values()), error.why);
    }
    const send: K[] = [];
    const stale: K[] = [];
    for (const [key, token] of stamped) (token === current ? send : stale).push(key);
    if (stale.length > 0) this.#refuse(stale, Math.max(...stale.map((k) => stamped.get(k)!)), `decided under an earlier term; this replica now leads under token ${current}`);
    return { send, refused: stale };
  }

  #refuse<K>(keys: K[], token: number, why: string): { send: K[]; refused: K[] } {
    this.refused += keys.length;
    if (this.#refusedToken !== token) {
      this.#refusedToken = token;
      this.#log.warn({ token, changes: keys.length, why }, 'status writes refused by the fence: another replica may lead now; dropped');
    }
    return { send: [], refused: keys };
  }
}
