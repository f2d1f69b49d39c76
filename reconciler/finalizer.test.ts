import { describe, expect, it } from 'vitest';
import { addFinalizerPatch, ensureFinalizer, FinalizerConflictError, releaseFinalizer, removeFinalizerPatch } from './finalizer.ts';
import type { FinalizerTarget, JsonPatchOp } from './finalizer.ts';

const NAME = 'dockerlet.dev/container';

describe('finalizer patches', () => {
  it('adds to a missing list with a test for null first', () => {
    expect(addFinalizerPatch(undefined, NAME)).toEqual([
      { op: 'test', path: '/metadata/finalizers', value: null },
      { op: 'add', path: '/metadata/finalizers', value: [NAME] },
    ]);
  });

  it('appends to an existing list, testing the whole list first', () => {
    expect(addFinalizerPatch(['other/x'], NAME)).toEqual([
      { op: 'test', path: '/metadata/finalizers', value: ['other/x'] },
      { op: 'add', path: '/metadata/finalizers/-', value: NAME },
    ]);
  });

  it('does nothing when already present or already absent', () => {
    expect(addFinalizerPatch([NAME], NAME)).toBeUndefined();
    expect(removeFinalizerPatch(['other/x'], NAME)).toBeUndefined();
    expect(removeFinalizerPatch(undefined, NAME)).toBeUndefined();
  });

  it('removes only ours, by index, after testing the list it computed the index from', () => {
    expect(removeFinalizerPatch(['a/b', NAME, 'c/d'], NAME)).toEqual([
      { op: 'test', path: '/metadata/finalizers', value: ['a/b', NAME, 'c/d'] },
      { op: 'remove', path: '/metadata/finalizers/1' },
    ]);
  });
});

/** A JSON-Patch target that applies test/add/remove to one in-memory finalizers list. */
class FakeTarget implements FinalizerTarget<string> {
  patches: JsonPatchOp[][] = [];
  constructor(public finalizers: string[] | undefined, public exists = true) {}

  async read(): Promise<{ finalizers?: string[] } | undefined> {
    if (!this.exists) return undefined;
    return this.finalizers ? { finalizers: [...this.finalizers] } : {};
  }

  async patch(_key: string, ops: JsonPatchOp[]): Promise<'ok' | 'conflict' | 'gone'> {
    this.patches.push(ops);
    if (!this.exists) return 'gone';
    let list = this.finalizers ? [...this.finalizers] : undefined;
    for (const op of ops) {
      if (op.op === 'test') {
        if (JSON.stringify(list ?? null) !== JSON.stringify(op.value)) return 'conflict';
      } else if (op.op === 'add') {
        if (op.path.endsWith('/-')) list = [...(list ?? []), op.value as string];
        else list = op.value as string[];
      } else {
        const index = Number(op.path.split('/').pop());
        list = (list ?? []).filter((_, i) => i !== index);
      }
    }
    this.finalizers = list;
    return 'ok';
  }
}

describe('ensureFinalizer / releaseFinalizer', () => {
  it('retries with a live read when the cached list was stale, keeping the other finalizer', async () => {
    const target = new FakeTarget(['other/x']);
    // The cache says there were no finalizers: the test op fails, the live list is used.
    expect(await ensureFinalizer(target, 'ns/web', NAME, undefined)).toBe('changed');
    expect(target.finalizers).toEqual(['other/x', NAME]);
    expect(target.patches).toHaveLength(2);
  });

  it('never removes a finalizer added by someone else after our read', async () => {
    const target = new FakeTarget(['first/a', NAME]);
    // Stale view: ours at index 0. The test op protects first/a from being removed.
    expect(await releaseFinalizer(target, 'ns/web', NAME, [NAME])).toBe('changed');
    expect(target.finalizers).toEqual(['first/a']);
  });

  it('reports an object that is gone, and gives up after repeated conflicts', async () => {
    expect(await releaseFinalizer(new FakeTarget([NAME], false), 'ns/web', NAME, [NAME])).toBe('gone');
    const flapping: FinalizerTarget<string> = {
      read: async () => ({ finalizers: [] }),
      patch: async () => 'conflict',
    };
    await expect(ensureFinalizer(flapping, 'ns/web', NAME, [])).rejects.toBeInstanceOf(FinalizerConflictError);
  });

  it('is a no-op without a patch when nothing needs to change', async () => {
    const target = new FakeTarget([NAME]);
    expect(await ensureFinalizer(target, 'ns/web', NAME, [NAME])).toBe('unchanged');
    expect(target.patches).toEqual([]);
  });
});
