// --runtime swarm: the Session fields a one-replica Swarm service cannot honour. Pure, so
// `dockerlet validate --runtime swarm` and the agent give the same answer; the agent refuses such a
// Session (Stalled, UnsupportedByRuntime) instead of running it without what it asked for.
import type { SessionSpec } from '../../../crds/types.ts';
import { problem } from '../../../crds/problems.ts';
import type { FieldProblem } from '../../../crds/problems.ts';

const NOT_ON_SWARM = 'not supported with --runtime swarm';

export function swarmSpecProblems(spec: SessionSpec): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (spec.devices && spec.devices.length > 0) {
    problems.push(problem.forbidden(['spec', 'devices'], `${NOT_ON_SWARM}: a Swarm service cannot map host devices; run the Session on an agent with --runtime docker`));
  }
  if (spec.gpus) {
    problems.push(problem.forbidden(['spec', 'gpus'], `${NOT_ON_SWARM}: Swarm offers GPUs as generic node resources, not device requests; run the Session on an agent with --runtime docker`));
  }
  if (spec.updateStrategy?.type === 'StartFirst') {
    problems.push(problem.forbidden(['spec', 'updateStrategy', 'type'], `${NOT_ON_SWARM}: a Session's service is replaced, not renamed, so StartFirst cannot hand its name over; use Recreate or run the Session on an agent with --runtime docker`));
  }
  // Swarm runs a task on any node, and Swarm itself acts on the service's healthcheck (a task is not
  // "running" until it is healthy, an unhealthy one is replaced): the agent has no address to probe
  // from here, and wrapping the check in a wget or nc inside the image would depend on what the
  // image happens to contain. Exec probes become the service's healthcheck instead.
  for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
    const probe = spec[kind];
    const handler = probe?.httpGet ? 'httpGet' : probe?.tcpSocket ? 'tcpSocket' : undefined;
    if (handler) {
      problems.push(problem.forbidden(['spec', kind, handler], `${NOT_ON_SWARM}: the agent cannot reach a Swarm task to probe it; use exec (it becomes the service's healthcheck) or run the Session on an agent with --runtime docker`));
    }
  }
  return problems;
}
