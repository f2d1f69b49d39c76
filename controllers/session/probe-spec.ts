// A Session's probes as the agent runs them: Kubernetes' defaults filled in, which runner each one
// has, and the engine HEALTHCHECK the exec probes become. Pure.
//
// Who runs what (README "Health"):
//   exec       → the engine's own HEALTHCHECK, so it keeps running while the agent is down (one per
//                container: the exec probes of a Session must agree, crds/rules.ts exec-probes-agree);
//   httpGet,
//   tcpSocket  → the agent, against the container's address on its primary network.
import type { Probe, SessionSpec } from '../../crds/types.ts';
import type { HealthcheckRequest } from '../runtime/docker-runtime.ts';

export const PROBE_KINDS = ['startupProbe', 'readinessProbe', 'livenessProbe'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

/** A probe with every default applied (the schema applies them too; unit fixtures may not). */
export interface ProbeSettings {
  kind: ProbeKind;
  handler: { exec: { command: readonly string[] } } | { httpGet: HttpGetTarget } | { tcpSocket: { port: number } };
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
  successThreshold: number;
}

export interface HttpGetTarget {
  path: string;
  port: number;
  scheme: 'HTTP' | 'HTTPS';
  headers: readonly { name: string; value: string }[];
}

export function probeSettings(kind: ProbeKind, probe: Probe): ProbeSettings {
  const handler: ProbeSettings['handler'] = probe.exec
    ? { exec: { command: probe.exec.command } }
    : probe.httpGet
      ? {
          httpGet: {
            path: probe.httpGet.path ?? '/',
            port: probe.httpGet.port,
            scheme: probe.httpGet.scheme ?? 'HTTP',
            headers: probe.httpGet.httpHeaders ?? [],
          },
        }
      : { tcpSocket: { port: probe.tcpSocket?.port ?? 0 } };
  return {
    kind,
    handler,
    initialDelaySeconds: probe.initialDelaySeconds ?? 0,
    periodSeconds: probe.periodSeconds ?? 10,
    timeoutSeconds: probe.timeoutSeconds ?? 1,
    failureThreshold: probe.failureThreshold ?? 3,
    // Liveness and startup probes succeed on one success (the schema allows only 1 for them).
    successThreshold: kind === 'readinessProbe' ? (probe.successThreshold ?? 1) : 1,
  };
}

/** The Session's probes, startup first (it gates the others). */
export function sessionProbes(spec: SessionSpec): ProbeSettings[] {
  return PROBE_KINDS.flatMap((kind) => {
    const probe = spec[kind];
    return probe ? [probeSettings(kind, probe)] : [];
  });
}

export function isExec(probe: ProbeSettings): boolean {
  return 'exec' in probe.handler;
}

/** "httpGet :8080/healthz", "tcpSocket :5432", "exec [cat /tmp/ready]": how messages name a probe's check. */
export function describeHandler(probe: ProbeSettings): string {
  const h = probe.handler;
  if ('exec' in h) return `exec [${h.exec.command.join(' ')}]`;
  if ('httpGet' in h) return `httpGet ${h.httpGet.scheme === 'HTTPS' ? 'https ' : ''}:${h.httpGet.port}${h.httpGet.path}`;
  return `tcpSocket :${h.tcpSocket.port}`;
}

/**
 * The engine HEALTHCHECK of the Session's exec probes, or undefined when it has none. They agree
 * (crds/rules.ts), so the first one speaks for all: interval = periodSeconds, timeout =
 * timeoutSeconds, retries = failureThreshold, start period = initialDelaySeconds.
 */
export function desiredHealthcheck(spec: SessionSpec): HealthcheckRequest | undefined {
  const exec = sessionProbes(spec).find(isExec);
  if (!exec || !('exec' in exec.handler)) return undefined;
  return {
    command: [...exec.handler.exec.command],
    intervalSeconds: exec.periodSeconds,
    timeoutSeconds: exec.timeoutSeconds,
    retries: exec.failureThreshold,
    startPeriodSeconds: exec.initialDelaySeconds,
  };
}

/** Cut long probe output for a condition message (the engine keeps up to 4 KiB of it). */
export function cutShort(text: string, max = 200): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}
