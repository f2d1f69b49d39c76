import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../reconciler/fake-clock.ts';
import { ImagePresence } from './image-presence.ts';

function counting(ids: Map<string, string>) {
  const calls: string[] = [];
  return {
    calls,
    runtime: {
      findImage: async (reference: string) => {
        calls.push(reference);
        await Promise.resolve();
        const id = ids.get(reference);
        return id === undefined ? undefined : { id };
      },
    },
  };
}

describe('ImagePresence', () => {
  it('shares one lookup between concurrent callers and reuses the answer for the TTL', async () => {
    const clock = new FakeClock(0);
    const { calls, runtime } = counting(new Map([['busybox:1', 'sha256:b1']]));
    const images = new ImagePresence(runtime, clock, 1_000);
    expect(await Promise.all(Array.from({ length: 50 }, () => images.find('busybox:1')))).toEqual(Array(50).fill({ id: 'sha256:b1' }));
    expect(calls).toEqual(['busybox:1']);
    clock.advance(999);
    expect(await images.find('busybox:1')).toEqual({ id: 'sha256:b1' });
    expect(calls).toHaveLength(1);
    clock.advance(2);
    expect(await images.find('busybox:1')).toEqual({ id: 'sha256:b1' });
    expect(calls).toHaveLength(2);
  });

  it('sees a re-tagged reference once the TTL is over', async () => {
    const clock = new FakeClock(0);
    const ids = new Map([['app:dev', 'sha256:old']]);
    const { runtime } = counting(ids);
    const images = new ImagePresence(runtime, clock);
    expect(await images.find('app:dev')).toEqual({ id: 'sha256:old' });
    ids.set('app:dev', 'sha256:new'); // docker build -t app:dev .
    clock.advance(2_001);
    expect(await images.find('app:dev')).toEqual({ id: 'sha256:new' });
  });

  it('never caches "missing", and asks again after forget', async () => {
    const ids = new Map<string, string>();
    const { calls, runtime } = counting(ids);
    const images = new ImagePresence(runtime, new FakeClock(0));
    expect(await images.find('app:2')).toBeUndefined();
    ids.set('app:2', 'sha256:a2');
    expect(await images.find('app:2')).toEqual({ id: 'sha256:a2' });
    images.forget('app:2');
    ids.delete('app:2');
    expect(await images.find('app:2')).toBeUndefined();
    expect(calls).toHaveLength(3);
  });
});
