import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../reconciler/fake-clock.ts';
import { ImagePresence } from './image-presence.ts';

function counting(present: Set<string>) {
  const calls: string[] = [];
  return {
    calls,
    runtime: {
      imageExists: async (reference: string): Promise<boolean> => {
        calls.push(reference);
        await Promise.resolve();
        return present.has(reference);
      },
    },
  };
}

describe('ImagePresence', () => {
  it('shares one lookup between concurrent callers and trusts "present" for the TTL', async () => {
    const clock = new FakeClock(0);
    const { calls, runtime } = counting(new Set(['busybox:1']));
    const images = new ImagePresence(runtime, clock, 1_000);
    expect(await Promise.all(Array.from({ length: 50 }, () => images.isPresent('busybox:1')))).toEqual(Array(50).fill(true));
    expect(calls).toEqual(['busybox:1']);
    clock.advance(999);
    expect(await images.isPresent('busybox:1')).toBe(true);
    expect(calls).toHaveLength(1);
    clock.advance(2);
    expect(await images.isPresent('busybox:1')).toBe(true);
    expect(calls).toHaveLength(2);
  });

  it('never caches "missing", and asks again after forget', async () => {
    const present = new Set<string>();
    const { calls, runtime } = counting(present);
    const images = new ImagePresence(runtime, new FakeClock(0));
    expect(await images.isPresent('app:2')).toBe(false);
    present.add('app:2');
    expect(await images.isPresent('app:2')).toBe(true);
    images.forget('app:2');
    present.delete('app:2');
    expect(await images.isPresent('app:2')).toBe(false);
    expect(calls).toHaveLength(3);
  });
});
