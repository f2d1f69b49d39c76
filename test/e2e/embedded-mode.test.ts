// The embedded default as a user runs it: `dockerlet agent` on a YAML directory and the real
// engine, observed with `dockerlet get`, `dockerlet diff`, `dockerlet validate` and the docker CLI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTestEngine } from '../support/docker.ts';
import { AgentProcess, AgentWorld, condition, getSessions, runCli } from '../support/agent-process.ts';
import type { SessionView } from '../support/agent-process.ts';
import { eventually } from '../support/eventually.ts';

const N = 20;
const names = Array.from({ length: N }, (_, i) => `s${String(i).padStart(2, '0')}`);
const sleeper = { command: ['sleep', 'infinity'], resources: { memory: '32Mi' } };

function byKey(views: SessionView[]): Map<string, SessionView> {
  return new Map(views.map((v) => [`${v.metadata.namespace ?? 'default'}/${v.metadata.name}`, v]));
}

describe('embedded mode: YAML directory + local engine', () => {
  let world: AgentWorld;
  let agent: AgentProcess;

  beforeAll(async () => {
    await requireTestEngine();
    world = await AgentWorld.create();
    for (const name of names) await world.writeSession({ name, spec: sleeper });
    agent = new AgentProcess(world);
    await agent.start();
  });

  afterAll(async () => {
    await agent?.stop('SIGTERM');
    await world?.cleanup();
  });

  it(`converges ${N} sessions to Running with Ready=True, shown by get sessions -o json`, async () => {
    await eventually(
      async () => {
        const views = byKey(await getSessions(world));
        for (const name of names) {
          const view = views.get(`default/${name}`);
          expect(view?.status?.phase, name).toBe('Running');
          expect(condition(view, 'Ready')?.status, name).toBe('True');
        }
      },
      { timeoutMs: 90_000, message: `${N} sessions Running` },
    );
    const containers = await world.containers();
    expect(containers.size).toBe(N);
    for (const { state } of containers.values()) expect(state).toBe('running');
    const table = await world.cli(['get', 'sessions']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/NAMESPACE\s+NAME\s+PHASE\s+READY\s+AGENT\s+IMAGE/);
    expect(table.stdout).toContain('s00');
    const diff = await world.cli(['diff']);
    expect(diff.stdout).toContain(`No changes: ${N} session(s) match the engine.`);
    expect(diff.code).toBe(0);
  });

  it('recreates exactly the session whose image or env changed, and updates memory in place', async () => {
    const before = await world.containers();
    await world.writeSession({ name: 's01', spec: { ...sleeper, env: [{ name: 'MODE', value: 'changed' }] } });
    await world.writeSession({ name: 's02', spec: { ...sleeper, resources: { memory: '64Mi' } } });
    await eventually(
      async () => {
        const after = await world.containers();
        expect(after.get('default/s01')?.id).not.toBe(before.get('default/s01')?.id);
        expect(after.get('default/s01')?.state).toBe('running');
        const inspected = await world.inspectMemory('default/s02');
        expect(inspected).toBe(64 * 1024 * 1024);
      },
      { timeoutMs: 30_000, message: 'env change recreated, memory updated' },
    );
    const after = await world.containers();
    expect(after.get('default/s02')?.id).toBe(before.get('default/s02')?.id);
    for (const name of names.filter((n) => n !== 's01')) {
      expect(after.get(`default/${name}`)?.id, name).toBe(before.get(`default/${name}`)?.id);
    }
  });

  it('stops without removing on state: Stopped, and starts the same container on Running', async () => {
    const id = (await world.containers()).get('default/s03')?.id;
    await world.writeSession({ name: 's03', spec: { ...sleeper, state: 'Stopped' } });
    await eventually(async () => {
      const c = (await world.containers()).get('default/s03');
      expect(c).toEqual({ id, state: 'exited' });
      expect(byKey(await getSessions(world)).get('default/s03')?.status?.phase).toBe('Stopped');
    });
    await world.writeSession({ name: 's03', spec: sleeper });
    await eventually(async () => expect((await world.containers()).get('default/s03')).toEqual({ id, state: 'running' }));
  });

  it('removes the container when its file is removed', async () => {
    await world.removeFile('default-s04.yaml');
    await eventually(async () => expect((await world.containers()).has('default/s04')).toBe(false));
    await eventually(async () => expect(byKey(await getSessions(world)).has('default/s04')).toBe(false));
  });

  it('reports a malformed file and an invalid session by file and field, while the rest converge', async () => {
    await world.writeFile('broken.yaml', 'apiVersion: dockerlet.dev/v1alpha1\nkind: Session\nmetadata: {name: broken\nspec: [\n');
    await world.writeSession({ name: 'bad-memory', spec: { command: ['sleep', 'infinity'], resources: { memory: '-1Gi' } } }, 'bad-memory.yaml');
    await world.writeSession({ name: 'fresh', spec: sleeper });
    try {
      await eventually(async () => {
        const views = byKey(await getSessions(world));
        expect(views.get('default/fresh')?.status?.phase).toBe('Running');
        const bad = views.get('default/bad-memory');
        expect(condition(bad, 'Stalled')?.status).toBe('True');
        expect(condition(bad, 'Stalled')?.message).toContain('bad-memory.yaml');
        expect(condition(bad, 'Stalled')?.message).toContain('spec.resources.memory');
      });
      expect((await world.containers()).has('default/bad-memory')).toBe(false);
      const table = await world.cli(['get', 'sessions']);
      expect(table.stderr).toContain('broken.yaml');
      const validate = await runCli(['validate', `${world.storeDir}/broken.yaml`, `${world.storeDir}/bad-memory.yaml`]);
      expect(validate.code).toBe(1);
      expect(validate.stderr).toContain('broken.yaml');
      expect(validate.stderr).toMatch(/bad-memory\.yaml:\d+:\d+: spec\.resources\.memory: Invalid value: "-1Gi"/);
    } finally {
      await world.removeFile('broken.yaml');
      await world.removeFile('bad-memory.yaml');
    }
  });

  it('recreates nothing when the agent restarts, and applies an edit made while it was down', async () => {
    await eventually(async () => {
      const views = byKey(await getSessions(world));
      for (const view of views.values()) expect(view.status?.phase).toBe('Running');
    });
    const before = await world.containers();
    expect(await agent.stop('SIGKILL')).not.toBe(0);
    await world.writeSession({ name: 's05', spec: { ...sleeper, env: [{ name: 'EDITED', value: 'while-down' }] } });
    agent = new AgentProcess(world);
    await agent.start();
    await eventually(async () => {
      const after = await world.containers();
      expect(after.get('default/s05')?.id).not.toBe(before.get('default/s05')?.id);
      expect(after.get('default/s05')?.state).toBe('running');
    });
    const after = await world.containers();
    let recreated = 0;
    for (const [key, c] of before) if (key !== 'default/s05' && after.get(key)?.id !== c.id) recreated += 1;
    expect(recreated).toBe(0);
    expect(after.size).toBe(before.size);
  });
});
