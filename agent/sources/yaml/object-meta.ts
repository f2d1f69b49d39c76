// Server-owned metadata for objects read from files: uid, generation and creationTimestamp. A
// file has none of them, yet controllers rely on them the way they rely on the API server's:
// the uid labels containers, generation/observedGeneration say whether status is current.
import { createHash } from 'node:crypto';
import { API_GROUP } from '../../../crds/types.ts';
import { canonicalJson } from '../../../reconciler/canonical-json.ts';
import type { ObjectKey, Session } from '../../../crds/types.ts';

export interface GenerationRecord {
  generation: number;
  /** specHash() of the spec that generation describes. */
  specHash: string;
}

/**
 * Where generations survive restarts. Without it every restart starts at generation 1 while the
 * status written before still says observedGeneration 4, and "is status current?" lies. The agent
 * backs it with its status storage; `get` is asked once per key, `set` on every new generation.
 */
export interface GenerationStore {
  get(key: ObjectKey): GenerationRecord | undefined;
  set(key: ObjectKey, record: GenerationRecord): void;
}

export type UidFor = (namespace: string, name: string) => string;

/** A UUID-shaped name-based id (RFC 4122 version 5 layout over sha1), stable across restarts. */
export const defaultUidFor: UidFor = (namespace, name) => {
  const bytes = createHash('sha1').update(`${API_GROUP}/${namespace}/${name}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

export function specHash(spec: unknown): string {
  return createHash('sha256').update(canonicalJson(spec ?? {})).digest('hex');
}

/** Objects handed out by stores are shared with every reader; mutating one must fail loudly. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export class ObjectMetaTracker {
  private readonly uidFor: UidFor;
  private readonly generationStore: GenerationStore | undefined;
  /** Kept after an object is deleted too, so a generation never goes backwards in this process. */
  private readonly generations = new Map<ObjectKey, GenerationRecord>();
  private readonly created = new Map<ObjectKey, string>();

  constructor(options: { uidFor?: UidFor; generationStore?: GenerationStore } = {}) {
    this.uidFor = options.uidFor ?? defaultUidFor;
    this.generationStore = options.generationStore;
  }

  /**
   * Returns a frozen copy of `raw` with namespace, uid, generation and creationTimestamp filled in.
   * Call it only for the version that is the key's current object: a new spec bumps the generation.
   * `firstSeen` (RFC 3339) becomes creationTimestamp the first time the key is seen.
   */
  decorate(key: ObjectKey, raw: Session, firstSeen: string): Session {
    const object = structuredClone(raw);
    const namespace = key.slice(0, key.indexOf('/'));
    // Like the API server: generation and creationTimestamp are server-owned, whatever the file says;
    // status lives in the status store, never in the desired object.
    delete object.status;
    const created = this.created.get(key) ?? firstSeen;
    this.created.set(key, created);
    object.metadata = {
      ...object.metadata,
      namespace,
      uid: object.metadata.uid ?? this.uidFor(namespace, object.metadata.name),
      generation: this.generationFor(key, specHash(object.spec)),
      creationTimestamp: created,
    };
    return deepFreeze(object);
  }

  /** The object is gone: a later object with this key is a new one (new creationTimestamp). */
  forget(key: ObjectKey): void {
    this.created.delete(key);
  }

  private generationFor(key: ObjectKey, hash: string): number {
    const known = this.generations.get(key) ?? this.generationStore?.get(key);
    if (known && known.specHash === hash) {
      this.generations.set(key, known);
      return known.generation;
    }
    const next: GenerationRecord = { generation: known ? known.generation + 1 : 1, specHash: hash };
    this.generations.set(key, next);
    this.generationStore?.set(key, next);
    return next.generation;
  }
}
