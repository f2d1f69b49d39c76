// Which image a reference names on the engine, asked once for many Sessions: concurrent creates of
// the same image share one lookup, and an answer is reused for a moment (a converge creates
// hundreds of containers from one image). Only briefly: containers are created from the ID found
// here, so a reference re-tagged to a new image must be seen by the next Session created after it.
// A create that then fails with "no such image" forgets it.
import type { DockerRuntime, FoundImage } from '../runtime/docker-runtime.ts';
import type { Clock } from '../../reconciler/clock.ts';
import { systemClock } from '../../reconciler/clock.ts';

export const IMAGE_LOOKUP_TTL_MS = 2_000;

export class ImagePresence {
  private readonly found = new Map<string, { image: FoundImage; until: number }>();
  private readonly inFlight = new Map<string, Promise<FoundImage | undefined>>();

  constructor(
    private readonly runtime: Pick<DockerRuntime, 'findImage'>,
    private readonly clock: Clock = systemClock,
    private readonly ttlMs = IMAGE_LOOKUP_TTL_MS,
  ) {}

  /** The image `reference` names on the engine, or undefined when it is not there. */
  async find(reference: string): Promise<FoundImage | undefined> {
    const known = this.found.get(reference);
    if (known && known.until > this.clock.now()) return known.image;
    const pending = this.inFlight.get(reference);
    if (pending) return pending;
    const lookup = this.runtime
      .findImage(reference)
      .then((image) => {
        if (image) this.found.set(reference, { image, until: this.clock.now() + this.ttlMs });
        else this.found.delete(reference);
        return image;
      })
      .finally(() => this.inFlight.delete(reference));
    this.inFlight.set(reference, lookup);
    return lookup;
  }

  /** The engine said the image is missing after all (a create failed): ask again next time. */
  forget(reference: string): void {
    this.found.delete(reference);
  }
}
