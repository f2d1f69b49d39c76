// What a set of Sessions asks of an agent: the sum of their CPU and memory limits, and how many
// there are. The scheduler fits new Sessions against it; an agent reports its own in status.allocated.
import type { AgentAllocated, Session } from '../../crds/types.ts';
import { parseCpuToNanoCpus, parseMemoryToBytes } from '../../crds/quantity.ts';

export interface SessionRequest {
  /** 0 when the Session sets no CPU limit: it asks nothing that capacity could refuse. */
  nanoCpus: number;
  memoryBytes: number;
}

// Parsed once per frozen Session (the stores hand out deep-frozen objects): a scheduling pass
// asks for every Session's request, and quantities are strings.
const requests = new WeakMap<Session, SessionRequest>();

export function sessionRequest(session: Session): SessionRequest {
  const known = requests.get(session);
  if (known) return known;
  const { cpu, memory } = session.spec.resources ?? {};
  const request = { nanoCpus: cpu ? parseCpuToNanoCpus(cpu) : 0, memoryBytes: memory ? parseMemoryToBytes(memory) : 0 };
  if (Object.isFrozen(session)) requests.set(session, request);
  return request;
}

export const NOTHING_ALLOCATED: Readonly<AgentAllocated> = Object.freeze({ nanoCpus: 0, memoryBytes: 0, sessions: 0 });

export function addRequest(allocated: AgentAllocated, request: SessionRequest): AgentAllocated {
  return {
    nanoCpus: (allocated.nanoCpus ?? 0) + request.nanoCpus,
    memoryBytes: (allocated.memoryBytes ?? 0) + request.memoryBytes,
    sessions: (allocated.sessions ?? 0) + 1,
  };
}

export function allocationOf(sessions: Iterable<Session>): AgentAllocated {
  let allocated: AgentAllocated = { ...NOTHING_ALLOCATED };
  for (const session of sessions) allocated = addRequest(allocated, sessionRequest(session));
  return allocated;
}
