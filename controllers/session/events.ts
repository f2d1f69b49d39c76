// Which Event an operation or failure of the session controller is reported as. Pure.
import type { Session } from '../../crds/types.ts';
import { API_VERSION } from '../../crds/types.ts';
import type { EventSubject } from '../../reconciler/events.ts';
import type { Operation } from './operations.ts';
import type { Plan } from './plan.ts';

export function sessionSubject(session: Session): EventSubject {
  const subject: EventSubject = { apiVersion: API_VERSION, kind: 'Session', name: session.metadata.name };
  if (session.metadata.namespace) subject.namespace = session.metadata.namespace;
  if (session.metadata.uid) subject.uid = session.metadata.uid;
  return subject;
}

/** CamelCase reason of a successful operation; a create that replaces a container is a recreate. */
export function operationReason(op: Operation, plan: Plan): string {
  switch (op.type) {
    case 'pull':
      return 'Pulled';
    case 'create': {
      const replaces = plan.operations.some((other) => other.type === 'remove' && other.cause === op.cause);
      return replaces ? 'Recreated' : 'Created';
    }
    case 'start':
      return op.restart ? 'Restarted' : 'Started';
    case 'stop':
      return 'Stopped';
    case 'update':
      return 'Updated';
    case 'remove':
      return 'Removed';
    case 'rename':
      return 'Promoted';
  }
}
