// Finalizers, kind-agnostic (kube-rs's finalizer helper): a finalizer is added before anything
// outside the API server is created for an object, and removed only after that was cleaned up.
// Both patches are JSON Patches that begin with a `test` op on the whole finalizers array, so a
// patch computed from a stale read fails instead of dropping (or duplicating) someone else's
// finalizer; the caller re-reads and tries again.

export type JsonPatchOp =
  | { op: 'test'; path: string; value: unknown }
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string };

const FINALIZERS = '/metadata/finalizers';

/** The patch that adds `name`, or undefined when it is already there. */
export function addFinalizerPatch(current: readonly string[] | undefined, name: string): JsonPatchOp[] | undefined {
  const finalizers = current ?? [];
  if (finalizers.includes(name)) return undefined;
  if (finalizers.length === 0) {
    // The API server's JSON Patch treats a missing array as null for `test`: an object that
    // gained a finalizer meanwhile fails the test rather than having it replaced.
    return [
      { op: 'test', path: FINALIZERS, value: current === undefined ? null : [] },
      { op: 'add', path: FINALIZERS, value: [name] },
    ];
  }
  return [
    { op: 'test', path: FINALIZERS, value: [...finalizers] },
    { op: 'add', path: `${FINALIZERS}/-`, value: name },
  ];
}

/** The patch that removes `name` (and only it), or undefined when it is not there. */
export function removeFinalizerPatch(current: readonly string[] | undefined, name: string): JsonPatchOp[] | undefined {
  const finalizers = current ?? [];
  const index = finalizers.indexOf(name);
  if (index < 0) return undefined;
  return [
    { op: 'test', path: FINALIZERS, value: [...finalizers] },
    { op: 'remove', path: `${FINALIZERS}/${index}` },
  ];
}

/** What the finalizer helper needs from an API: read the live finalizers, apply a JSON Patch. */
export interface FinalizerTarget<K> {
  /** The object's current finalizers, read from the server (not a cache); undefined when it is gone. */
  read(key: K): Promise<{ finalizers?: string[] } | undefined>;
  /** Applies the patch. Resolves 'conflict' when a `test` op failed, 'gone' when the object is. */
  patch(key: K, ops: JsonPatchOp[]): Promise<'ok' | 'conflict' | 'gone'>;
}

export class FinalizerConflictError extends Error {
  override readonly name = 'FinalizerConflictError';
  constructor(key: string, finalizer: string, attempts: number) {
    super(`finalizer ${finalizer} on ${key}: the finalizers kept changing under us (${attempts} attempts); will retry`);
  }
}

/** How often a failed `test` is retried with a fresh read before giving up to the work queue's back-off. */
const ATTEMPTS = 3;

async function patchFinalizers<K>(
  target: FinalizerTarget<K>,
  key: K,
  name: string,
  known: readonly string[] | undefined,
  build: (current: readonly string[] | undefined, name: string) => JsonPatchOp[] | undefined,
): Promise<'changed' | 'unchanged' | 'gone'> {
  let current = known;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const ops = build(current, name);
    if (!ops) return 'unchanged';
    const result = await target.patch(key, ops);
    if (result === 'ok') return 'changed';
    if (result === 'gone') return 'gone';
    // The cached finalizers were stale: read the live ones and compute the patch again.
    const live = await target.read(key);
    if (!live) return 'gone';
    current = live.finalizers;
  }
  throw new FinalizerConflictError(String(key), name, ATTEMPTS);
}

/** Adds `name` unless present. `known` is the caller's (possibly cached) view of the finalizers. */
export function ensureFinalizer<K>(target: FinalizerTarget<K>, key: K, name: string, known: readonly string[] | undefined) {
  return patchFinalizers(target, key, name, known, addFinalizerPatch);
}

/** Removes `name` if present, never touching anyone else's finalizer. */
export function releaseFinalizer<K>(target: FinalizerTarget<K>, key: K, name: string, known: readonly string[] | undefined) {
  return patchFinalizers(target, key, name, known, removeFinalizerPatch);
}
