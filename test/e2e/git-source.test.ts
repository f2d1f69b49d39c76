// The Git source as a user runs it: `dockerlet agent --store git:file:///…#main:sessions` against a
// bare repository pushed to with the git CLI, observed with `dockerlet get`, the docker CLI and a
// POST to the webhook endpoint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTestEngine, TEST_DOCKER_SOCKET } from '../support/docker.ts';
import { AgentProcess, AgentWorld, metricValue, runCli, sessionYaml } from '../support/agent-process.ts';
import { eventually } from '../support/eventually.ts';
import { GitRemote } from '../support/git.ts';

const sleeper = { command: ['sleep', 'infinity'] };

describe('Git source: dockerlet agent --store git:…', () => {
  let world: AgentWorld;
  let remote: GitRemote;
  let agent: AgentProcess;
  let store: string;
  let first: string;

  /** `get` without --store: it reads the store the agent recorded (the last applied revision). */
  const get = (args: string[]) => runCli(['get', ...args, '--state-dir', world.stateDir, '--agent-name', world.agentName, '--docker-socket', TEST_DOCKER_SOCKET]);
  const states = async (): Promise<Record<string, string>> => Object.fromEntries([...(await world.containers())].map(([key, c]) => [key, c.state]));

  beforeAll(async () => {
    await requireTestEngine();
    world = await AgentWorld.create();
    remote = await GitRemote.create();
    await remote.write('sessions/alpha.yaml', sessionYaml({ name: 'alpha', spec: sleeper }));
    await remote.write('docs/notes.yaml', 'not: a session\n');
    first = await remote.commitAndPush('alpha');
    store = `git:${remote.fileUrl}#main:sessions`;
    // A later --store wins over the world's directory; poll every second so the poll is seen too.
    agent = new AgentProcess(world, ['--store', store, '--git-poll-interval', '1s', '--heartbeat-interval', '1s']);
    await agent.start();
  });

  afterAll(async () => {
    await agent?.stop('SIGTERM');
    await world?.cleanup();
    await remote?.cleanup();
  });

  it('converges the Sessions of the commit and reports it in get agents', async () => {
    await eventually(async () => expect(await states()).toEqual({ 'default/alpha': 'running' }), { timeoutMs: 60_000 });
    await eventually(async () => {
      const result = await get(['agents', '-o', 'wide']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/REVISION/);
      expect(result.stdout).toContain(first.slice(0, 12));
    });
    const sessions = await get(['sessions']);
    expect(sessions.code).toBe(0);
    expect(sessions.stdout).toContain('alpha');
  });

  it('applies a pushed commit once, by polling and by the webhook', async () => {
    const appliesBefore = metricValue(await agent.metrics(), 'dockerlet_git_applies_total', { result: 'success' });
    await remote.write('sessions/beta.yaml', sessionYaml({ name: 'beta', spec: sleeper }));
    await remote.remove('sessions/alpha.yaml');
    const second = await remote.commitAndPush('beta instead of alpha');
    // Poll (1 s) picks it up without anyone asking.
    await eventually(async () => expect(await states()).toEqual({ 'default/beta': 'running' }), { timeoutMs: 60_000 });
    expect(metricValue(await agent.metrics(), 'dockerlet_git_applies_total', { result: 'success' })).toBe(appliesBefore + 1);

    await remote.write('sessions/gamma.yaml', sessionYaml({ name: 'gamma', spec: sleeper }));
    const third = await remote.commitAndPush('gamma');
    const response = await fetch(`http://127.0.0.1:${agent.port}/git/fetch`, { method: 'POST', body: '{}' });
    const body = (await response.json()) as { ok: boolean; revision?: string; lastAppliedRevision?: string };
    expect(response.status).toBe(200);
    expect(body).toMatchObject({ ok: true, revision: third, lastAppliedRevision: third });
    await eventually(async () => expect(await states()).toEqual({ 'default/beta': 'running', 'default/gamma': 'running' }), { timeoutMs: 60_000 });
    expect(metricValue(await agent.metrics(), 'dockerlet_git_applies_total', { result: 'success' })).toBe(appliesBefore + 2);
    expect(second).not.toBe(third);

    await eventually(async () => {
      const result = await get(['agents', '-o', 'json']);
      const agentRecord = (JSON.parse(result.stdout) as { items: { metadata: { name: string }; status?: { source?: Record<string, unknown> } }[] }).items.find(
        (a) => a.metadata.name === world.agentName,
      );
      expect(agentRecord?.status?.source).toMatchObject({ kind: 'git', url: remote.fileUrl, ref: 'main', path: 'sessions', lastAppliedRevision: third });
    });
  });

  it('refuses a malformed --store with the accepted forms', async () => {
    const result = await runCli(['agent', '--store', 'git:ftp://example.org/s.git', '--state-dir', world.stateDir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--store "git:ftp://example.org/s.git": URL scheme "ftp" is not supported');
    expect(result.stderr).toContain('accepted forms');
  });
});
