// The agent image (hack/images/build-agent.sh, the local twin of deploy/swarm/Dockerfile) with a
// Git store, run as deploy/swarm/stack.yml runs it: non-root (uid 10001 in the socket's group),
// the engine socket mounted, the repository a bare one mounted read-only and owned by another
// user (root here). The image must carry git and what a fetch and an apply run (FIELD-NOTES #9:
// a dependency that exists only on the build machine makes every container exit at start).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentWorld, sessionYaml } from '../support/agent-process.ts';
import { dockerCli, removeContainersByLabel, requireTestEngine, TEST_DOCKER_SOCKET } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { GitRemote } from '../support/git.ts';
import { agentLogs, buildAgentImage, TEST_AGENT_IMAGE } from '../support/swarm-agent.ts';

const sleeper = { command: ['sleep', 'infinity'] };
const IMAGE_TEST_LABEL = 'dev.dockerlet.test.agent-image';

describe('the agent image with --store git:', () => {
  let world: AgentWorld;
  let remote: GitRemote;
  let agentContainer = '';

  const states = async (): Promise<Record<string, string>> => Object.fromEntries([...(await world.containers())].map(([key, c]) => [key, c.state]));

  beforeAll(async () => {
    await requireTestEngine();
    await buildAgentImage();
    world = await AgentWorld.create();
    remote = await GitRemote.create();
    await remote.write('sessions/alpha.yaml', sessionYaml({ name: 'alpha', spec: sleeper }));
    await remote.commitAndPush('alpha');
    agentContainer = await dockerCli([
      'run', '--detach',
      '--name', `${world.agentName}-agent`,
      '--label', `${IMAGE_TEST_LABEL}=${world.agentName}`,
      '--volume', `${TEST_DOCKER_SOCKET}:/var/run/docker.sock`,
      '--volume', `${remote.bare}:/git/sessions.git:ro`,
      TEST_AGENT_IMAGE,
      'agent',
      '--agent-name', world.agentName,
      '--store', 'git:file:///git/sessions.git#main:sessions',
      '--git-poll-interval', '1s',
    ]);
  });

  afterAll(async () => {
    // The agent first, so nothing recreates a Session container while they are removed.
    if (world) await removeContainersByLabel(`${IMAGE_TEST_LABEL}=${world.agentName}`);
    await world?.cleanup();
    await remote?.cleanup();
  });

  it('runs as uid 10001, fetches the mounted repository, applies its commits and converges them', async () => {
    expect(await dockerCli(['inspect', '--format', '{{.Config.User}}', agentContainer])).toMatch(/^10001:\d+$/);
    await eventually(async () => expect(await states()).toEqual({ 'default/alpha': 'running' }), { timeoutMs: 90_000, message: 'alpha runs' });
    const first = (await agentLogs(agentContainer)).find((l) => l.msg === 'applied commit');
    expect(first).toMatchObject({ sessions: 1, problems: 0 });

    // A second commit is fetched by the next poll inside the image: fetch and extract keep working.
    await remote.write('sessions/beta.yaml', sessionYaml({ name: 'beta', spec: sleeper }));
    await remote.remove('sessions/alpha.yaml');
    const second = await remote.commitAndPush('beta instead of alpha');
    await eventually(async () => expect(await states()).toEqual({ 'default/beta': 'running' }), { timeoutMs: 60_000, message: 'beta replaces alpha' });
    const applied = (await agentLogs(agentContainer)).filter((l) => l.msg === 'applied commit');
    expect(applied.map((l) => l['revision'])).toEqual([first!['revision'], second]);
    expect((await agentLogs(agentContainer)).filter((l) => l.msg === 'git fetch failed; keeping the last applied revision')).toEqual([]);
  });
});
