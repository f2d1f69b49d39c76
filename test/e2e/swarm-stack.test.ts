// The shipped deploy/swarm/stack.yml, deployed with `docker stack deploy` on the real single-node
// swarm as deploy/swarm/README.md says to try it on one node: 3 agent replicas (--leader-election
// swarm, --runtime swarm), Redis, a bare Git repository as the source. One replica leads; a
// Session committed to the repository becomes a running Swarm service; `dockerlet get sessions`,
// run in a standby's container, shows it with its node and address from the status in Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, sessionYaml } from '../support/agent-process.ts';
import { dockerCli, uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { GitRemote } from '../support/git.ts';
import { requireTestSwarm, serviceTasks } from '../support/swarm.ts';
import type { TaskRow } from '../support/swarm.ts';
import { buildAgentImage } from '../support/swarm-agent.ts';
import { agentHttp, buildRedisImage, deployStack, execIn, removeStack } from '../support/swarm-stack.ts';

const sleeper = { command: ['sleep', 'infinity'] };
const LEADER_GAUGE = 'dockerlet_leader_election_master_status';

describe('deploy/swarm/stack.yml on the single-node swarm', () => {
  const stack = uniqueRunId('dlstack');
  // The stack's DOCKERLET_AGENT_NAME: the label that finds the Session services its agents create.
  const agentName = stack;
  const agentService = `${stack}_agent`;
  let remote: GitRemote | undefined;
  let agents: TaskRow[] = [];
  let leader: TaskRow | undefined;

  const identity = (task: TaskRow): string => `${agentService}.${task.slot}.${task.id}`;

  /** Session services of this stack's agents: Session name → replicas ("1/1"). */
  async function sessionServices(): Promise<Map<string, string>> {
    const rows = new Map<string, string>();
    const out = await dockerCli(['service', 'ls', '--filter', `label=dockerlet.dev/agent=${agentName}`, '--format', '{{.ID}} {{.Replicas}}']);
    for (const line of out.split('\n').filter(Boolean)) {
      const [id = '', replicas = ''] = line.split(' ');
      rows.set(await dockerCli(['service', 'inspect', '--format', '{{index .Spec.Labels "dockerlet.dev/name"}}', id]), replicas);
    }
    return rows;
  }

  beforeAll(async () => {
    await requireTestSwarm();
    await Promise.all([buildAgentImage(), buildRedisImage()]);
    remote = await GitRemote.create();
    await remote.write('sessions/alpha.yaml', sessionYaml({ name: 'alpha', spec: sleeper }));
    await remote.commitAndPush('alpha');
    await deployStack({ name: stack, agentName, bareRepo: remote.bare, refAndPath: '#main:sessions', workDir: remote.root });
  }, 300_000);

  afterAll(async () => {
    const problems = await removeStack(stack, agentName);
    await remote?.cleanup();
    expect(problems).toEqual([]);
  }, 300_000);

  it('runs 3 agent replicas of which exactly one leads, holding the lease in the service labels', async () => {
    agents = await eventually(
      async () => {
        const running = (await serviceTasks(agentService)).filter((t) => t.desiredState === 'running' && t.state === 'running');
        expect(running).toHaveLength(3);
        return running;
      },
      { timeoutMs: 60_000, intervalMs: 500, message: `3 running tasks of ${agentService}` },
    );
    leader = await eventually(
      async () => {
        const gauges = await Promise.all(agents.map(async (task) => metricValue(await agentHttp(task.containerId, '/metrics'), LEADER_GAUGE, { name: agentName })));
        expect([...gauges].sort()).toEqual([0, 0, 1]);
        return agents[gauges.indexOf(1)]!;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, message: 'exactly one replica reports itself leader' },
    );
    const holder = await dockerCli(['service', 'inspect', '--format', '{{index .Spec.Labels "dockerlet.dev/lease.holder"}}', agentService]);
    expect(holder).toBe(identity(leader));
  });

  it('runs the committed Session as a Swarm service; get sessions in a standby shows it from Redis with node and address', async () => {
    await eventually(async () => expect(Object.fromEntries(await sessionServices())).toEqual({ alpha: '1/1' }), {
      timeoutMs: 60_000,
      intervalMs: 1_000,
      message: 'alpha runs as a one-replica service',
    });
    // A standby never writes status: what it prints comes from the leader through Redis.
    const standby = agents.find((t) => t.id !== leader?.id)!;
    const node = await dockerCli(['node', 'inspect', 'self', '--format', '{{.Description.Hostname}}']);
    await eventually(
      async () => {
        // No flags: the CLI reads the stack's DOCKERLET_* settings, as the agent does.
        const [header = '', ...rows] = (await execIn(standby.containerId, ['/usr/bin/node', '/app/bin/dockerlet.js', 'get', 'sessions'])).split('\n');
        const columns = header.split(/\s+/);
        expect(columns).toEqual(expect.arrayContaining(['NAME', 'PHASE', 'AGENT', 'NODE', 'ADDRESS']));
        expect(rows).toHaveLength(1);
        const cells = rows[0]!.split(/\s+/);
        expect(cells[columns.indexOf('NAME')]).toBe('alpha');
        expect(cells[columns.indexOf('PHASE')]).toBe('Running');
        expect(cells[columns.indexOf('AGENT')]).toBe(agentName);
        expect(cells[columns.indexOf('NODE')]).toBe(node);
        expect(cells[columns.indexOf('ADDRESS')]).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      },
      { timeoutMs: 30_000, intervalMs: 1_000, message: 'get sessions shows alpha Running on this node with an address' },
    );
  });

  it('applies a pushed commit at once when the leader’s webhook is called', async () => {
    await remote!.write('sessions/beta.yaml', sessionYaml({ name: 'beta', spec: sleeper }));
    const commit = await remote!.commitAndPush('beta');
    const answer = JSON.parse(await agentHttp(leader!.containerId, '/git/fetch', 'POST')) as { ok: boolean; lastAppliedRevision?: string };
    expect(answer).toMatchObject({ ok: true, lastAppliedRevision: commit });
    await eventually(async () => expect(Object.fromEntries(await sessionServices())).toEqual({ alpha: '1/1', beta: '1/1' }), {
      timeoutMs: 60_000,
      intervalMs: 1_000,
      message: 'beta runs next to alpha',
    });
  });
});
