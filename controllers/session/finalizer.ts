// The Session controller's view of a finalizer: a store that can hold deletions back (Kubernetes)
// provides one; the YAML store does not, and a Session simply disappears with its file.
import type { Session } from '../../crds/types.ts';

export interface SessionFinalizer {
  /** The finalizer's name, e.g. "dockerlet.dev/container". */
  name: string;
  /** Adds the finalizer unless present. 'gone' when the Session no longer exists. */
  ensure(session: Session): Promise<'changed' | 'unchanged' | 'gone'>;
  /** Removes our finalizer (only ours) once the container is gone. */
  release(session: Session): Promise<'changed' | 'unchanged' | 'gone'>;
}
