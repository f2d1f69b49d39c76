// Issue 5's acceptance as a user runs it: `dockerlet agent --runtime swarm --store git:…` on the
// real single-node swarm. A commit that adds, changes and removes Session files is applied once,
// the Sessions' services converge, and `dockerlet get sessions` shows node and address.
// Only services carrying this run's unique agent name are removed afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerCli, TEST_DOCKER_SOCKET } from '../support/docker.ts';
import { AgentProcess, AgentWorld, metricValue, runCli, sessionYaml } from '../support/agent-process.ts';
import { eventually } from '../support/eventually.ts';
import { GitRemote } from '../support/git.ts';
import { requireTestSwarm } from '../support/swarm.ts';

const sleeper = { command: ['sleep', 'infinity'] };

describe('Sessions as Swarm services from a Git source', () => {
  let world: AgentWorld;
  let remote: GitRemote;
  let agent: AgentProcess;

  const get = (args: string[]) => runCli(['get', ...args, '--state-dir', world.stateDir, '--agent-name', world.agentName, '--docker-socket', TEST_DOCKER_SOCKET]);

  /** This agent's services: Session key → service ID, with the replicas running/desired. */
  async function services(): Promise<Map<string, { id: string; replicas: string }>> {
    const out = await dockerCli([
      'service', 'ls',
      '--filter', `label=dockerlet.dev/agent=${world.agentName}`,
      '--format', '{{.ID}} {{.Replicas}} {{.Name}}',
    ]);
    const rows = new Map<string, { id: string; replicas: string }>();
    for (const line of out.split('\n').filter(Boolean)) {
      const [id = '', replicas = ''] = line.split(' ');
      const key = await dockerCli(['service', 'inspect', '--format', '{{index .Spec.Labels "dockerlet.dev/namespace"}}/{{index .Spec.Labels "dockerlet.dev/name"}}', id]);
      rows.set(key.trim(), { id, replicas });
    }
    return rows;
  }

  beforeAll(async () => {
    await requireTestSwarm();
    world = await AgentWorld.create();
    remote = await GitRemote.create();
    await remote.write('sessions/alpha.yaml', sessionYaml({ name: 'alpha', spec: sleeper }));
    await remote.write('sessions/beta.yaml', sessionYaml({ name: 'beta', spec: sleeper }));
    await remote.commitAndPush('alpha and beta');
    agent = new AgentProcess(world, ['--store', `git:${remote.fileUrl}#main:sessions`, '--runtime', 'swarm', '--git-poll-interval', '1s', '--stop-timeout', '1']);
    await agent.start();
  });

  afterAll(async () => {
    await agent?.stop('SIGTERM');
    if (world) {
      const ids = (await dockerCli(['service', 'ls', '--quiet', '--filter', `label=dockerlet.dev/agent=${world.agentName}`])).split('\n').filter(Boolean);
      if (ids.length > 0) await dockerCli(['service', 'rm', ...ids]);
      await world.cleanup();
    }
    await remote?.cleanup();
  });

  it('converges the commit to services and shows node and address in get sessions', async () => {
    await eventually(
      async () => {
        const rows = await services();
        expect([...rows.keys()].sort()).toEqual(['default/alpha', 'default/beta']);
        for (const row of rows.values()) expect(row.replicas).toBe('1/1');
      },
      { timeoutMs: 90_000, message: 'two services, one running task each' },
    );
    const node = (await dockerCli(['node', 'inspect', 'self', '--format', '{{.Description.Hostname}}'])).trim();
    await eventually(
      async () => {
        // The default table: under --runtime swarm, where a Session runs is part of it.
        const result = await get(['sessions']);
        expect(result.code).toBe(0);
        const [header = '', ...rows] = result.stdout.trim().split('\n');
        const columns = header.split(/\s+/);
        const nodeAt = columns.indexOf('NODE');
        const addressAt = columns.indexOf('ADDRESS');
        expect(nodeAt).toBeGreaterThan(0);
        expect(addressAt).toBe(nodeAt + 1);
        expect(rows).toHaveLength(2);
        for (const row of rows) {
          const cells = row.split(/\s+/);
          expect(cells[2]).toBe('Running');
          expect(cells[nodeAt]).toBe(node);
          expect(cells[addressAt]).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        }
      },
      { timeoutMs: 30_000, message: 'get sessions shows node and address' },
    );
  });

  it('applies a commit that changes one Session, removes one and adds one, once', async () => {
    const before = await services();
    const applies = metricValue(await agent.metrics(), 'dockerlet_git_applies_total', { result: 'success' });
    await remote.write('sessions/alpha.yaml', sessionYaml({ name: 'alpha', spec: { ...sleeper, env: [{ name: 'REVISION', value: '2' }] } }));
    await remote.remove('sessions/beta.yaml');
    await remote.write('sessions/gamma.yaml', sessionYaml({ name: 'gamma', spec: sleeper }));
    await remote.commitAndPush('change alpha, remove beta, add gamma');
    await eventually(
      async () => {
        const rows = await services();
        expect([...rows.keys()].sort()).toEqual(['default/alpha', 'default/gamma']);
        // env is a config-hash field: alpha's service was replaced.
        expect(rows.get('default/alpha')?.id).not.toBe(before.get('default/alpha')?.id);
        for (const row of rows.values()) expect(row.replicas).toBe('1/1');
      },
      { timeoutMs: 90_000, message: 'services converged to the new commit' },
    );
    expect(metricValue(await agent.metrics(), 'dockerlet_git_applies_total', { result: 'success' })).toBe(applies + 1);
  });
});
