// The Git store end to end, in process: a real bare repository pushed to with the git CLI, the
// real engine, the agent's real HTTP server. Each commit is applied once (counted by
// dockerlet_git_applies_total), Sessions converge, the webhook fetches at once, a broken file in a
// new commit keeps its previous objects and says why (file:line) — after a restart and on a fresh
// cache too — and an unreachable remote deletes nothing.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { commonConfig } from '../../agent/config.ts';
import { inProcessAgentConfig } from '../support/agent-config.ts';
import type { GitSyncResult } from '../../agent/sources/git/git-store.ts';
import type { AgentStatus } from '../../crds/types.ts';
import { dockerCli, freePort, requireTestEngine, TEST_DOCKER_SOCKET } from '../support/docker.ts';
import { AgentWorld, metricValue, runCli, sessionYaml } from '../support/agent-process.ts';
import { consistently, eventually } from '../support/eventually.ts';
import { GitRemote } from '../support/git.ts';

const sleeper = { command: ['sleep', 'infinity'] };

// restartPolicy is line 8, column 3: the problem must point there.
const BROKEN_ALPHA = `apiVersion: dockerlet.dev/v1alpha1
kind: Session
metadata:
  name: alpha
spec:
  image: dockerlet-test/busybox:latest
  command: [sleep, infinity]
  restartPolicy: Sometimes
`;

describe('Git store against a real repository and the real engine', () => {
  let world: AgentWorld;
  let remote: GitRemote;
  let agent: RunningAgent | undefined;
  let port = 0;

  beforeAll(requireTestEngine);

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await world?.cleanup();
    await remote?.cleanup();
  });

  async function start(store: string, pollIntervalMs = 3_600_000, stateDir = world.stateDir): Promise<RunningAgent> {
    port = await freePort();
    const config = await inProcessAgentConfig(world, {
      ...commonConfig({ store, stateDir, agentName: world.agentName, dockerSocket: TEST_DOCKER_SOCKET }),
      listenPort: port,
      heartbeatIntervalMs: 500,
      // Polling is off in effect (1 h) unless a test wants it: every fetch here is one we asked for.
      gitPollIntervalMs: pollIntervalMs,
      lockDir: stateDir,
    });
    agent = await startAgent(config, { logger: pino({ level: 'silent' }) });
    return agent;
  }

  async function webhook(method = 'POST'): Promise<{ status: number; body: GitSyncResult }> {
    const response = await fetch(`http://127.0.0.1:${port}/git/fetch`, { method, body: method === 'POST' ? '{"ref":"refs/heads/main"}' : null });
    const text = await response.text();
    return { status: response.status, body: method === 'POST' ? (JSON.parse(text) as GitSyncResult) : ({ ok: false, applied: false, problems: [text] } as GitSyncResult) };
  }

  async function applies(a: RunningAgent, result = 'success'): Promise<number> {
    return metricValue(await a.registry.metrics(), 'dockerlet_git_applies_total', { result });
  }

  async function states(): Promise<Record<string, string>> {
    return Object.fromEntries([...(await world.containers())].map(([key, c]) => [key, c.state]));
  }

  async function agentSource(store: string): Promise<NonNullable<AgentStatus['source']>> {
    const result = await runCli(['get', 'agents', '-o', 'json', '--store', store, '--state-dir', world.stateDir, '--agent-name', world.agentName]);
    if (result.code !== 0) throw new Error(`get agents failed (${result.code}): ${result.stderr}`);
    const items = (JSON.parse(result.stdout) as { items: { metadata: { name: string }; status?: AgentStatus }[] }).items;
    const source = items.find((a) => a.metadata.name === world.agentName)?.status?.source;
    if (!source) throw new Error('agent record has no source yet');
    return source;
  }

  it('applies each commit once: adds, changes and removes Sessions; the webhook fetches now; a broken file keeps its objects', async () => {
    world = await AgentWorld.create();
    remote = await GitRemote.create();
    await remote.write('README.md', 'not desired state\n');
    await remote.write('sessions/alpha.yaml', sessionYaml({ name: 'alpha', spec: sleeper }));
    await remote.write('sessions/beta.yaml', sessionYaml({ name: 'beta', spec: sleeper }));
    const first = await remote.commitAndPush('alpha and beta');
    const store = `git:${remote.fileUrl}#main:sessions`;

    const a = await start(store);
    await eventually(async () => expect(await states()).toEqual({ 'default/alpha': 'running', 'default/beta': 'running' }), { timeoutMs: 30_000 });
    expect(await applies(a)).toBe(1);
    await eventually(async () => expect(await agentSource(store)).toMatchObject({ kind: 'git', url: remote.fileUrl, ref: 'main', path: 'sessions', revision: first, lastAppliedRevision: first }));
    expect((await agentSource(store)).lastError).toBeUndefined();
    const alphaBefore = (await world.containers()).get('default/alpha')!.id;

    // Change alpha (new config hash: recreated), remove beta, add gamma; the webhook fetches at once.
    await remote.write('sessions/alpha.yaml', sessionYaml({ name: 'alpha', spec: { command: ['sleep', '86400'] } }));
    await remote.remove('sessions/beta.yaml');
    await remote.write('sessions/nested/gamma.yaml', sessionYaml({ name: 'gamma', spec: sleeper }));
    const second = await remote.commitAndPush('change alpha, drop beta, add gamma');
    const hooked = await webhook();
    expect(hooked).toEqual({ status: 200, body: { ok: true, applied: true, revision: second, lastAppliedRevision: second, problems: [] } });
    await eventually(async () => expect(await states()).toEqual({ 'default/alpha': 'running', 'default/gamma': 'running' }), { timeoutMs: 30_000 });
    expect((await world.containers()).get('default/alpha')!.id).not.toBe(alphaBefore);
    expect(await applies(a)).toBe(2);

    // The same commit again is not applied again.
    expect(await webhook()).toEqual({ status: 200, body: { ok: true, applied: false, revision: second, lastAppliedRevision: second, problems: [] } });
    expect(await applies(a)).toBe(2);
    expect((await webhook('GET')).status).toBe(405);

    // A commit that breaks alpha and adds delta: delta runs, alpha keeps its previous container.
    const alphaKept = (await world.containers()).get('default/alpha')!.id;
    await remote.write('sessions/alpha.yaml', BROKEN_ALPHA);
    await remote.write('sessions/delta.yaml', sessionYaml({ name: 'delta', spec: sleeper }));
    const third = await remote.commitAndPush('break alpha, add delta');
    const broken = await webhook();
    expect(broken.status).toBe(200);
    expect(broken.body).toMatchObject({ ok: true, applied: true, revision: third, lastAppliedRevision: third });
    expect(broken.body.problems).toEqual([expect.stringMatching(/^alpha\.yaml:8:3: spec\.restartPolicy: Unsupported value: "Sometimes"/)]);
    await eventually(async () => expect(await states()).toEqual({ 'default/alpha': 'running', 'default/delta': 'running', 'default/gamma': 'running' }), { timeoutMs: 30_000 });
    expect((await world.containers()).get('default/alpha')!.id).toBe(alphaKept);
    expect(await applies(a)).toBe(3);
    await eventually(async () => {
      const source = await agentSource(store);
      expect(source.lastAppliedRevision).toBe(third);
      expect(source.lastError).toMatch(/alpha\.yaml:8:3: spec\.restartPolicy/);
    });
    // The Session says why too, through the same Stalled condition a broken file in a directory gets.
    await eventually(async () => {
      const result = await runCli(['get', 'sessions', '-o', 'json', '--store', store, '--state-dir', world.stateDir, '--agent-name', world.agentName]);
      const alpha = (JSON.parse(result.stdout) as { items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string; message?: string }[] } }[] }).items.find((s) => s.metadata.name === 'alpha');
      expect(alpha?.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', message: expect.stringContaining('alpha.yaml:8:3') });
    });

    // Fixed in the next commit: the error clears.
    await remote.write('sessions/alpha.yaml', sessionYaml({ name: 'alpha', spec: { command: ['sleep', '86400'] } }));
    const fourth = await remote.commitAndPush('fix alpha');
    expect((await webhook()).body).toEqual({ ok: true, applied: true, revision: fourth, lastAppliedRevision: fourth, problems: [] });
    await eventually(async () => expect((await agentSource(store)).lastError).toBeUndefined());
    expect((await world.containers()).get('default/alpha')!.id).toBe(alphaKept);

    // A file that does not even parse keeps all it defined; and with the store incomplete, a
    // Session removed in the same commit is not collected either (nothing is deleted on doubt).
    const gammaKept = (await world.containers()).get('default/gamma')!.id;
    await remote.write('sessions/nested/gamma.yaml', 'apiVersion: dockerlet.dev/v1alpha1\nkind: Session\nmetadata: {name: gamma\n');
    await remote.remove('sessions/delta.yaml');
    const fifth = await remote.commitAndPush('gamma unparseable, delta removed');
    const unparseable = await webhook();
    expect(unparseable.body).toMatchObject({ ok: true, applied: true, lastAppliedRevision: fifth });
    expect(unparseable.body.problems).toEqual([expect.stringMatching(/^nested\/gamma\.yaml:\d+(:\d+)?: /)]);
    await a.resync();
    await consistently(async () => expect(await states()).toEqual({ 'default/alpha': 'running', 'default/delta': 'running', 'default/gamma': 'running' }), { durationMs: 1_500 });
    expect((await world.containers()).get('default/gamma')!.id).toBe(gammaKept);
    expect(await applies(a)).toBe(5);
  });

  it('a broken file keeps the objects of its last good revision across a restart: its container removed by hand comes back from them', async () => {
    world = await AgentWorld.create();
    remote = await GitRemote.create();
    await remote.write('sessions/alpha.yaml', sessionYaml({ name: 'alpha', spec: sleeper }));
    await remote.write('sessions/beta.yaml', sessionYaml({ name: 'beta', spec: sleeper }));
    await remote.commitAndPush('alpha and beta');
    const store = `git:${remote.fileUrl}#main:sessions`;
    let a = await start(store);
    await eventually(async () => expect(await states()).toEqual({ 'default/alpha': 'running', 'default/beta': 'running' }), { timeoutMs: 30_000 });

    // alpha broken and beta changed in one commit, then two more commits: the revision alpha was
    // good at is no longer the previous one, and the process that read it good is gone.
    await remote.write('sessions/alpha.yaml', BROKEN_ALPHA);
    await remote.write('sessions/beta.yaml', sessionYaml({ name: 'beta', spec: { command: ['sleep', '86400'] } }));
    await remote.commitAndPush('break alpha, change beta');
    expect((await webhook()).body).toMatchObject({ ok: true, applied: true });
    await remote.write('sessions/gamma.yaml', sessionYaml({ name: 'gamma', spec: sleeper }));
    const latest = await remote.commitAndPush('add gamma');
    expect((await webhook()).body).toMatchObject({ ok: true, applied: true, lastAppliedRevision: latest });
    await eventually(async () => expect(await states()).toEqual({ 'default/alpha': 'running', 'default/beta': 'running', 'default/gamma': 'running' }), { timeoutMs: 30_000 });
    await a.stop();
    agent = undefined;

    a = await start(store);
    const alphaBefore = (await world.containers()).get('default/alpha')!.id;
    await dockerCli(['rm', '--force', alphaBefore]);
    await a.resync();
    // Recreated from the first commit's alpha (the only valid one), not left removed.
    const alphaAfter = await eventually(
      async () => {
        const alpha = (await world.containers()).get('default/alpha');
        expect(alpha).toMatchObject({ state: 'running' });
        expect(alpha!.id).not.toBe(alphaBefore);
        return alpha!.id;
      },
      { timeoutMs: 30_000, message: 'alpha recreated by the restarted agent' },
    );
    expect(await dockerCli(['inspect', '--format', '{{json .Config.Entrypoint}}', alphaAfter])).toBe(JSON.stringify(sleeper.command));
    await eventually(async () => {
      const result = await runCli(['get', 'sessions', '-o', 'json', '--store', store, '--state-dir', world.stateDir, '--agent-name', world.agentName]);
      const alpha = (JSON.parse(result.stdout) as { items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string; message?: string }[] } }[] }).items.find((i) => i.metadata.name === 'alpha');
      expect(alpha?.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', message: expect.stringMatching(/alpha\.yaml:8:3: .*\(still running the last valid version\)$/) });
    });

    // A new replica, with a state directory of its own (no cache, no record): it finds alpha's
    // last good version in the repository's history.
    await a.stop();
    agent = undefined;
    a = await start(store, 3_600_000, join(world.root, 'fresh-state'));
    await dockerCli(['rm', '--force', alphaAfter]);
    await a.resync();
    await eventually(
      async () => {
        const alpha = (await world.containers()).get('default/alpha');
        expect(alpha).toMatchObject({ state: 'running' });
        expect(alpha!.id).not.toBe(alphaAfter);
      },
      { timeoutMs: 30_000, message: 'alpha recreated by an agent with a fresh cache' },
    );
  });

  it('an unreachable remote deletes nothing and reports why; the next fetch that works applies what is new', async () => {
    world = await AgentWorld.create();
    remote = await GitRemote.create();
    await remote.write('alpha.yaml', sessionYaml({ name: 'alpha', spec: sleeper }));
    await remote.write('beta.yaml', sessionYaml({ name: 'beta', spec: sleeper }));
    const first = await remote.commitAndPush('two sessions');
    // A local path, no ref (the remote's HEAD branch), no path (the repository root).
    const store = `git:${remote.bare}`;
    let a = await start(store);
    await eventually(async () => expect(await states()).toEqual({ 'default/alpha': 'running', 'default/beta': 'running' }), { timeoutMs: 30_000 });
    const before = await world.containers();

    // Remove beta upstream, then make the remote unreachable before the agent has fetched it.
    await remote.remove('beta.yaml');
    const second = await remote.commitAndPush('drop beta');
    const moved = `${remote.bare}.away`;
    await rename(remote.bare, moved);
    const failed = await webhook();
    expect(failed.status).toBe(502);
    expect(failed.body).toMatchObject({ ok: false, applied: false, lastAppliedRevision: first });
    expect(failed.body.error).toMatch(/does not appear to be a git repository|Could not read from remote repository/);
    expect(metricValue(await a.registry.metrics(), 'dockerlet_git_fetches_total', { result: 'error' })).toBe(1);
    await eventually(async () => expect((await agentSource(store)).lastError).toMatch(/^git fetch of .* failed \(keeping revision [0-9a-f]{12}\)/));
    // Nothing changes while the store cannot be read, even across a full resync.
    await a.resync();
    await consistently(async () => expect(await world.containers()).toEqual(before), { durationMs: 1_500 });

    // Restarted while the remote is still gone: it serves the revision it applied, deletes nothing.
    await a.stop();
    agent = undefined;
    a = await start(store);
    await eventually(async () => expect(metricValue(await a.registry.metrics(), 'dockerlet_git_fetches_total', { result: 'error' })).toBe(1));
    await a.resync();
    await consistently(async () => expect(await world.containers()).toEqual(before), { durationMs: 1_500 });
    await eventually(async () => expect(await agentSource(store)).toMatchObject({ lastAppliedRevision: first, lastError: expect.stringMatching(/^git fetch of .* failed/) }));

    await rename(moved, remote.bare);
    expect((await webhook()).body).toMatchObject({ ok: true, applied: true, revision: second, lastAppliedRevision: second });
    await eventually(async () => expect(await states()).toEqual({ 'default/alpha': 'running' }), { timeoutMs: 30_000 });
    expect(await applies(a)).toBe(1);
  });

  it('polls on its own interval, and after a restart applies nothing it applied before', async () => {
    world = await AgentWorld.create();
    remote = await GitRemote.create('trunk');
    await remote.write('s/alpha.yaml', sessionYaml({ name: 'alpha', spec: sleeper }));
    await remote.commitAndPush('alpha', 'trunk');
    const store = `git:${remote.fileUrl}#:s`;
    let a = await start(store, 300);
    await eventually(async () => expect(await states()).toEqual({ 'default/alpha': 'running' }), { timeoutMs: 30_000 });

    await remote.write('s/beta.yaml', sessionYaml({ name: 'beta', spec: sleeper }));
    const second = await remote.commitAndPush('beta', 'trunk');
    // No webhook: the poll finds it.
    await eventually(async () => expect(await states()).toEqual({ 'default/alpha': 'running', 'default/beta': 'running' }), { timeoutMs: 30_000 });
    expect(await applies(a)).toBe(2);
    // Polling goes on, but a commit is applied once.
    await eventually(async () => expect(metricValue(await a.registry.metrics(), 'dockerlet_git_fetches_total', { result: 'success' })).toBeGreaterThanOrEqual(5));
    expect(await applies(a)).toBe(2);

    const ids = await world.containers();
    await a.stop();
    agent = undefined;
    a = await start(store, 300);
    expect((await webhook()).body).toMatchObject({ ok: true, applied: false, revision: second, lastAppliedRevision: second });
    expect(await applies(a)).toBe(0);
    await consistently(async () => expect(await world.containers()).toEqual(ids), { durationMs: 1_000 });

    // A commit without the store's path applies nothing at all, is not retried, and deletes nothing.
    await remote.remove('s/alpha.yaml');
    await remote.remove('s/beta.yaml');
    await remote.write('elsewhere.txt', 'moved out\n');
    const third = await remote.commitAndPush('no s/ any more', 'trunk');
    const refused = await webhook();
    expect(refused.status).toBe(502);
    expect(refused.body).toMatchObject({ ok: false, applied: false, revision: third, lastAppliedRevision: second, error: `path "s" does not exist in commit ${third.slice(0, 12)}` });
    expect(await applies(a, 'error')).toBe(1);
    await eventually(async () => expect((await agentSource(store)).lastError).toContain('path "s" does not exist'));
    await a.resync();
    await consistently(async () => expect(await world.containers()).toEqual(ids), { durationMs: 1_500 });
    // Polls go on (every 300 ms) without trying that commit again.
    const fetched = metricValue(await a.registry.metrics(), 'dockerlet_git_fetches_total', { result: 'success' });
    await eventually(async () => expect(metricValue(await a.registry.metrics(), 'dockerlet_git_fetches_total', { result: 'success' })).toBeGreaterThan(fetched + 2));
    expect(await applies(a, 'error')).toBe(1);
  });
});
