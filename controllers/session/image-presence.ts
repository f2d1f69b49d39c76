// Whether an image is on the engine, asked once for many Sessions: concurrent creates of the same
// image share one lookup, and a "present" answer is trusted for a short while (images are rarely
// removed under a running agent; a create that then fails with "no such image" forgets it).
import type { DockerRuntime } from '../../agent/docker/docker-runtime.ts';
import type { Clock } from '../../reconciler/clock.ts';
import { systemClock } from '../../reconciler/clock.ts';

export const IMAGE_PRESENT_TTL_MS = 30_000;

export class ImagePresence {
  private readonly presentUntil = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(
    private readonly runtime: Pick<DockerRuntime, 'imageExists'>,
    private readonly clock: Clock = systemClock,
    private readonly ttlMs = IMAGE_PRESENT_TTL_MS,
  ) {}

  async isPresent(reference: string): Promise<boolean> {
    if ((this.presentUntil.get(reference) ?? 0) > this.clock.now()) return true;
    const pending = this.inFlight.get(reference);
    if (pending) return pending;
    const lookup = this.runtime
      .imageExists(reference)
      .then((present) => {
        if (present) this.presentUntil.set(reference, this.clock.now() + this.ttlMs);
        else this.presentUntil.delete(reference);
        return present;
      })
      .finally(() => this.inFlight.delete(reference));
    this.inFlight.set(reference, lookup);
    return lookup;
  }

  /** The engine said the image is missing after all (a create failed): ask again next time. */
  forget(reference: string): void {
    this.presentUntil.delete(reference);
  }
}
