// No election: the single-replica embedded default. This replica leads from the start with
// token 1 until it is stopped; there is no one to hand over to, so nothing is released.
import type { LeaderElector, LeadershipCallbacks } from '../../reconciler/leader.ts';
import { LeadershipEndedError } from '../../reconciler/leader-elector.ts';

export interface NoLeaderElectionOptions {
  /** Shown as the leader in status; defaults to "embedded". */
  identity?: string;
}

export class NoLeaderElection implements LeaderElector {
  static readonly TOKEN = 1;
  readonly identity: string;
  #stopped = false;

  constructor(options: NoLeaderElectionOptions = {}) {
    this.identity = options.identity ?? 'embedded';
  }

  isLeader(): boolean {
    return !this.#stopped;
  }

  token(): number | undefined {
    return this.#stopped ? undefined : NoLeaderElection.TOKEN;
  }

  /**
   * Nobody else can lead, so nothing is fenced: valid even while stopping, so the status written
   * as the last reconciles wind down still reaches the store at shutdown.
   */
  validToken(): number | undefined {
    return NoLeaderElection.TOKEN;
  }

  healthy(): boolean {
    return true;
  }

  async run(callbacks: LeadershipCallbacks, signal: AbortSignal): Promise<void> {
    if (signal.aborted) {
      this.#stopped = true;
      return;
    }
    const leadership = new AbortController();
    callbacks.onStartedLeading({ token: NoLeaderElection.TOKEN }, leadership.signal);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.#stopped = true;
    leadership.abort(new LeadershipEndedError('Stopped'));
    callbacks.onStoppedLeading('Stopped');
  }
}
