// Golden plans for a Session the host policy refuses: nothing is created for a new one, and a
// running container of an earlier, allowed version is left exactly as it is (no remove, no stop).
import { describe, expect, it } from 'vitest';
import { plan, planToString } from './plan.ts';
import { policyViolations, defaultHostPolicy } from './policy.ts';
import { A, containerFor, input, session } from './plan-fixtures.ts';

const policy = defaultHostPolicy('/var/run/docker.sock');
const socketMount = session({ volumes: [{ name: 'docker', hostPath: '/var/run/docker.sock' }], mounts: [{ name: 'docker', mountPath: '/var/run/docker.sock' }] });

describe('plan under the host policy', () => {
  it('creates nothing for a Session that mounts the engine socket', () => {
    const refused = policyViolations(policy, socketMount);
    expect(planToString(plan(input({ desired: socketMount, imagePresent: true, refused })))).toBe(
      [
        'plan default/web: no changes',
        '  stalled: PolicyViolation: spec.volumes[0].hostPath: "/var/run/docker.sock" is the engine socket (--allow-dangerous-host-paths); refused by policy',
      ].join('\n'),
    );
  });

  it('keeps the running container of the last allowed version when the Session is edited into a violation', () => {
    const edited = session({ ports: [{ containerPort: 80, hostPort: 80 }], capabilities: { add: ['SYS_ADMIN'] } });
    const refused = policyViolations(policy, edited);
    const running = containerFor(session({}), A, 'running');
    expect(planToString(plan(input({ desired: edited, containers: [running], refused })))).toBe(
      [
        'plan default/web: no changes',
        '  stalled: PolicyViolation: spec.ports[0].hostPort: 80 is outside --allow-host-ports (1024-65535); refused by policy; spec.capabilities.add[0]: "SYS_ADMIN" is not in Docker\'s default set nor in --allow-capabilities (none); refused by policy',
      ].join('\n'),
    );
  });

  it('judges the policy before what the runtime cannot run', () => {
    const p = plan(input({ desired: socketMount, refused: ['spec.x: refused by policy'], unsupported: ['spec.devices: Forbidden: not supported with --runtime swarm'] }));
    expect(p.stalled?.reason).toBe('PolicyViolation');
  });
});
