// What a Session's probe results mean, as Kubernetes reads them: a startup probe gates the others;
// readiness decides Ready; liveness (or a startup probe that ran out of attempts) asks for a
// restart. Pure: the plan and the status take the verdict as input.
import type { SessionSpec } from '../../crds/types.ts';
import type { ProbeKind, ProbeSettings } from './probe-spec.ts';
import { cutShort, describeHandler, sessionProbes } from './probe-spec.ts';
import type { ProbeResult, ProbeResults } from './prober.ts';

export interface ProbeVerdict {
  ready: boolean;
  /** Why it is not ready: the probe and its last output, cut short. */
  message?: string;
  /** The container must be restarted, and why. */
  restart?: { probe: Extract<ProbeKind, 'livenessProbe' | 'startupProbe'>; message: string };
  /**
   * Whether the container was healthy (its liveness probe, or its startup probe, passed) since it
   * last started: a restart after that starts the crash back-off over, one before it counts on.
   */
  wasHealthy: boolean;
}

function line(probe: ProbeSettings, result: ProbeResult | undefined, what: string): string {
  const output = result?.output ? `: ${cutShort(result.output)}` : '';
  return `${probe.kind} ${describeHandler(probe)} ${what}${output}`;
}

export function probeVerdict(spec: SessionSpec, probed: ProbeResults): ProbeVerdict {
  const probes = sessionProbes(spec);
  const find = (kind: ProbeKind): ProbeSettings | undefined => probes.find((p) => p.kind === kind);
  const startup = find('startupProbe');
  const liveness = find('livenessProbe');
  const readiness = find('readinessProbe');
  const { results } = probed;

  if (startup && !probed.started) {
    const result = results.startupProbe;
    if (result?.state === 'failure') {
      const message = line(startup, result, `failed ${startup.failureThreshold} times in a row`);
      return { ready: false, message, restart: { probe: 'startupProbe', message }, wasHealthy: false };
    }
    return { ready: false, message: line(startup, result, 'has not passed yet'), wasHealthy: false };
  }
  const wasHealthy = liveness ? (results.livenessProbe?.everSucceeded ?? false) : true;
  if (liveness && results.livenessProbe?.state === 'failure') {
    const message = line(liveness, results.livenessProbe, `failed ${liveness.failureThreshold} times in a row`);
    return { ready: false, message, restart: { probe: 'livenessProbe', message }, wasHealthy };
  }
  if (!readiness) return { ready: true, wasHealthy };
  const result = results.readinessProbe;
  if (result?.state === 'success') return { ready: true, wasHealthy };
  const what = result?.state === 'failure' ? `failed ${readiness.failureThreshold} times in a row` : 'has not passed yet';
  return { ready: false, message: line(readiness, result, what), wasHealthy };
}
