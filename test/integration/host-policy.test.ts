// The host policy through the whole agent on the real engine: a Session that mounts the engine
// socket gets no container and is Stalled PolicyViolation naming the field; a hostPath under an
// allowed prefix runs (a symlink from there to the socket does not); a running Session edited into
// a violation keeps its container, same ID, running, and its status says so.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import type { SessionStatus } from '../../crds/types.ts';
import { getCondition } from '../../reconciler/conditions.ts';
import { dockerCli, requireTestEngine, TEST_DOCKER_SOCKET } from '../support/docker.ts';
import { AgentWorld } from '../support/agent-process.ts';
import { inProcessAgentConfig, testPolicy } from '../support/agent-config.ts';
import { consistently, eventually } from '../support/eventually.ts';

describe('host policy on the real engine', () => {
  let world: AgentWorld | undefined;
  let agent: RunningAgent | undefined;

  beforeAll(requireTestEngine);

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await world?.cleanup();
    world = undefined;
  });

  async function policyStall(w: AgentWorld, key: string): Promise<SessionStatus> {
    return eventually(
      async () => {
        const s = await w.sessionStatus(key);
        expect(getCondition(s?.conditions ?? [], 'Stalled')).toMatchObject({ status: 'True', reason: 'PolicyViolation' });
        return s as SessionStatus;
      },
      { timeoutMs: 20_000, message: `${key} Stalled PolicyViolation` },
    );
  }

  const mount = (path: string) => ({ volumes: [{ name: 'h', hostPath: path }], mounts: [{ name: 'h', mountPath: '/h' }] });

  it('refuses the engine socket and a symlink to it, runs an allowed prefix, and keeps a container edited into a violation', async () => {
    const w = (world = await AgentWorld.create());
    const allowed = join(w.root, 'allowed');
    await mkdir(allowed);
    await writeFile(join(allowed, 'marker'), 'from the host\n');
    await symlink(TEST_DOCKER_SOCKET, join(allowed, 'sneaky.sock'));
    agent = await startAgent(await inProcessAgentConfig(w, { policy: testPolicy({ hostPathPrefixes: [allowed] }) }), { logger: pino({ level: 'silent' }) });

    await w.writeSession({ name: 'sock', spec: { command: ['sleep', 'infinity'], ...mount(TEST_DOCKER_SOCKET) } });
    await w.writeSession({ name: 'link', spec: { command: ['sleep', 'infinity'], ...mount(join(allowed, 'sneaky.sock')) } });
    await w.writeSession({ name: 'ok', spec: { command: ['sleep', 'infinity'], ...mount(allowed) } });

    const ok = await w.runningContainer('default/ok');
    expect((await dockerCli(['exec', ok, 'cat', '/h/marker'])).trim()).toBe('from the host');

    const sock = await policyStall(w, 'default/sock');
    expect(sock.message).toBe(`spec.volumes[0].hostPath: ${JSON.stringify(TEST_DOCKER_SOCKET)} is the engine socket (--allow-dangerous-host-paths); refused by policy`);
    expect(sock.phase).toBe('Pending');
    const link = await policyStall(w, 'default/link');
    expect(link.message).toContain(`resolves to ${JSON.stringify(await realpath(TEST_DOCKER_SOCKET))}, which is the engine socket`);
    // Not created, not later either (a resync judges it again and refuses again).
    await agent.resync();
    await consistently(
      async () => {
        const containers = await w.containers();
        expect(containers.has('default/sock')).toBe(false);
        expect(containers.has('default/link')).toBe(false);
      },
      { durationMs: 2_000, message: 'no container for a refused Session' },
    );

    // Edited into a violation: nothing lost, the allowed version keeps running, and status says so.
    await w.writeSession({ name: 'ok', spec: { command: ['sleep', 'infinity'], ...mount(TEST_DOCKER_SOCKET) } });
    const edited = await policyStall(w, 'default/ok');
    expect(edited.containerID).toBe(ok);
    expect(edited.message).toContain('is the engine socket');
    expect(edited.message).toContain(`the container of the last accepted version, ${ok.slice(0, 12)}, keeps running as it was`);
    await agent.resync();
    await consistently(
      async () => {
        expect((await w.containers()).get('default/ok')).toEqual({ id: ok, state: 'running' });
      },
      { durationMs: 2_000, message: 'the allowed container keeps running' },
    );
    const mounts = JSON.parse(await dockerCli(['inspect', '--format', '{{json .Mounts}}', ok])) as { Source: string }[];
    expect(mounts.map((m) => m.Source)).toEqual([allowed]);
  });
});
