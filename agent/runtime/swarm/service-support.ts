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
  return problems;
}
