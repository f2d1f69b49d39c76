// The probe fields are in the CRD (Kubernetes' shape) before the agent runs them. Until it does, a
// Session that sets one is refused the way a field the runtime cannot run is (Stalled
// UnsupportedByRuntime, the container left as it is): reporting Ready without ever probing would be
// a lie that anything gated on readiness acts on.
import { problem } from '../../crds/problems.ts';
import type { FieldProblem } from '../../crds/problems.ts';
import type { SessionSpec } from '../../crds/types.ts';

const PROBES = ['readinessProbe', 'livenessProbe', 'startupProbe'] as const;

export function probeProblems(spec: SessionSpec): FieldProblem[] {
  return PROBES.filter((field) => spec[field] !== undefined).map((field) =>
    problem.forbidden(['spec', field], 'this version of the agent does not run probes yet; remove the field'),
  );
}
