// DockerodeRuntime against the real engine from `hack/test-env up`. No mocks and no skips: without
// an engine every test fails with the command that starts one.
import { Registry } from 'prom-client';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { DOCKER_API_REQUESTS_TOTAL, type DockerApiOp } from '../../agent/runtime/docker/api-metrics.ts';
import type { ContainerEvent, CreateContainerRequest } from '../../controllers/runtime/docker-runtime.ts';
import { DockerodeRuntime } from '../../agent/runtime/docker/dockerode-runtime.ts';
import { ConflictError, EngineError, EngineUnavailableError, NotFoundError } from '../../controllers/runtime/errors.ts';
import {
  TEST_DOCKER_SOCKET,
  TEST_IMAGE,
  dockerCli,
  freePort,
  removeContainersByLabel,
  testEngineReady,
  uniqueRunId,
} from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';

const MiB = 1024 * 1024;
const RUN = uniqueRunId();
const MANAGED_BY = 'dockerlet.dev/managed-by';
/** Every container this file creates carries this label, ours or "foreign", so cleanup finds it. */
const CLEANUP_LABEL = 'dockerlet.dev/test-run';
const OURS = { [MANAGED_BY]: RUN };

const registry = new Registry();
const runtime = new DockerodeRuntime({ socketPath: TEST_DOCKER_SOCKET, registry, requestTimeoutMs: 20_000 });

function request(name: string, overrides: Partial<CreateContainerRequest> = {}): CreateContainerRequest {
  return {
    name: `${RUN}-${name}`,
    image: TEST_IMAGE,
    env: [],
    labels: { ...OURS, [CLEANUP_LABEL]: RUN },
    ports: [],
    mounts: [],
    memoryBytes: 0,
    nanoCpus: 0,
    restartPolicy: { name: 'no' },
    ...overrides,
  };
}

/** A container without our managed-by label: dockerlet must never see it. */
function foreign(name: string): CreateContainerRequest {
  return request(name, { labels: { [CLEANUP_LABEL]: RUN, 'dockerlet.dev/name': 'not-ours' } });
}

async function requestCount(op: DockerApiOp, result: 'success' | 'error'): Promise<number> {
  const metric = registry.getSingleMetric(DOCKER_API_REQUESTS_TOTAL);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values.find((v) => v.labels['op'] === op && v.labels['result'] === result)?.value ?? 0;
}

async function hostConfig(id: string): Promise<{ Memory: number; MemorySwap: number; Mounts: unknown[] }> {
  return JSON.parse(await dockerCli(['inspect', '--format', '{{json .HostConfig}}', id])) as {
    Memory: number;
    MemorySwap: number;
    Mounts: unknown[];
  };
}

beforeEach(testEngineReady);

afterAll(async () => {
  const reachable = await testEngineReady().then(
    () => true,
    () => false,
  );
  if (reachable) await removeContainersByLabel(`${CLEANUP_LABEL}=${RUN}`);
});

describe('DockerodeRuntime against the real engine', () => {
  it('reports the engine', async () => {
    const info = await runtime.info();
    expect(info.version).toMatch(/^\d+\.\d+/);
    expect(info.apiVersion).toMatch(/^1\.\d+$/);
    expect(info.os).toBe('linux');
    expect(info.cpus).toBeGreaterThan(0);
    expect(info.memoryBytes).toBeGreaterThan(0);
  });

  it('creates, starts, inspects, stops, restarts and removes a container', async () => {
    const hostPort = await freePort();
    const id = await runtime.createContainer(
      request('roundtrip', {
        env: ['GREETING=hello from env'],
        // httpd serves /www, where the shell wrote the env value: a fetch proves env, cmd and port.
        cmd: ['sh', '-c', 'mkdir -p /www && echo "$GREETING" > /www/greeting && exec httpd -f -p 8080 -h /www'],
        ports: [{ containerPort: 8080, protocol: 'tcp', hostPort, hostIP: '127.0.0.1' }],
        mounts: [{ type: 'tmpfs', target: '/scratch', readOnly: false, tmpfsSizeBytes: 4 * MiB }],
        memoryBytes: 64 * MiB,
        nanoCpus: 500_000_000,
        restartPolicy: { name: 'on-failure', maximumRetryCount: 3 },
      }),
    );
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    const created = await runtime.inspectContainer(id);
    expect(created).toMatchObject({
      id,
      name: `${RUN}-roundtrip`,
      image: TEST_IMAGE,
      state: 'created',
      memoryBytes: 64 * MiB,
      nanoCpus: 500_000_000,
      restartPolicy: { name: 'on-failure', maximumRetryCount: 3 },
      restartCount: 0,
    });
    expect(created.labels).toMatchObject(OURS);
    expect(created.startedAt).toBeUndefined();
    const config = await hostConfig(id);
    expect(config.MemorySwap).toBe(64 * MiB); // no swap
    expect(config.Mounts).toEqual([
      expect.objectContaining({ Type: 'tmpfs', Target: '/scratch', TmpfsOptions: expect.objectContaining({ SizeBytes: 4 * MiB }) }),
    ]);

    await runtime.startContainer(id);
    await runtime.startContainer(id); // already running: 304 is success
    const running = await runtime.inspectContainer(id);
    expect(running.state).toBe('running');
    expect(running.startedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(running.ipAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(running.ports).toEqual([{ containerPort: 8080, protocol: 'tcp', hostIP: '127.0.0.1', hostPort }]);
    const body = await eventually(async () => (await fetch(`http://127.0.0.1:${hostPort}/greeting`)).text(), {
      timeoutMs: 10_000,
      message: 'httpd answering on the published port',
    });
    expect(body).toBe('hello from env\n');

    await runtime.stopContainer(id, 1);
    await runtime.stopContainer(id, 1); // already stopped: 304 is success
    const stopped = await runtime.inspectContainer(id);
    expect(stopped.state).toBe('exited');
    expect(stopped.finishedAt).toMatch(/^\d{4}-/);

    await runtime.startContainer(id);
    expect((await runtime.inspectContainer(id)).state).toBe('running');

    await runtime.removeContainer(id); // force: no stop needed
    await expect(runtime.inspectContainer(id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('updates memory (up and down), CPU and restart policy in place', async () => {
    const id = await runtime.createContainer(request('update', { memoryBytes: 64 * MiB, nanoCpus: 250_000_000 }));
    await runtime.startContainer(id);

    await runtime.updateContainer(id, { memoryBytes: 128 * MiB });
    let details = await runtime.inspectContainer(id);
    expect(details).toMatchObject({ id, state: 'running', memoryBytes: 128 * MiB });
    expect((await hostConfig(id)).MemorySwap).toBe(128 * MiB);

    await runtime.updateContainer(id, { memoryBytes: 32 * MiB, nanoCpus: 750_000_000, restartPolicy: { name: 'unless-stopped' } });
    details = await runtime.inspectContainer(id);
    expect(details).toMatchObject({
      id,
      state: 'running',
      memoryBytes: 32 * MiB,
      nanoCpus: 750_000_000,
      restartPolicy: { name: 'unless-stopped' },
    });
    expect((await hostConfig(id)).MemorySwap).toBe(32 * MiB);
  });

  it('lists only containers with the selected labels, in exactly one engine call', async () => {
    const mine = await runtime.createContainer(request('listed'));
    const other = await runtime.createContainer(foreign('unlisted'));
    await runtime.startContainer(mine);

    const before = await requestCount('list', 'success');
    const listed = await runtime.listContainers(OURS);
    expect(await requestCount('list', 'success')).toBe(before + 1);

    const ids = listed.map((c) => c.id);
    expect(ids).toContain(mine);
    expect(ids).not.toContain(other);
    for (const container of listed) expect(container.labels[MANAGED_BY]).toBe(RUN);
    expect(listed.find((c) => c.id === mine)).toMatchObject({ name: `${RUN}-listed`, image: TEST_IMAGE, state: 'running' });
    expect(listed.find((c) => c.id === mine)?.created).toBeGreaterThan(1_600_000_000);

    // Every pair must match.
    expect(await runtime.listContainers({ ...OURS, 'dockerlet.dev/name': 'nobody' })).toEqual([]);
  });

  it('maps a missing container to NotFoundError and a taken name to ConflictError', async () => {
    const missing = `${RUN}-missing`;
    await expect(runtime.inspectContainer(missing)).rejects.toBeInstanceOf(NotFoundError);
    await expect(runtime.removeContainer(missing)).rejects.toBeInstanceOf(NotFoundError);
    await expect(runtime.startContainer(missing)).rejects.toBeInstanceOf(NotFoundError);
    expect(await requestCount('inspect', 'error')).toBeGreaterThan(0);

    await runtime.createContainer(request('dup'));
    const duplicate = runtime.createContainer(request('dup'));
    await expect(duplicate).rejects.toBeInstanceOf(ConflictError);
    await expect(duplicate).rejects.toMatchObject({ statusCode: 409, message: expect.stringContaining('already in use') });
  });

  it('tells whether an image exists', async () => {
    expect((await runtime.findImage(TEST_IMAGE))?.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await runtime.findImage(`dockerlet-test/nope:${RUN}`)).toBeUndefined();
  });

  it('fails a pull that cannot reach its registry with EngineError, quickly', async () => {
    const started = Date.now();
    const pull = runtime.pullImage('localhost:1/nope:latest');
    await expect(pull).rejects.toBeInstanceOf(EngineError);
    await expect(pull).rejects.not.toBeInstanceOf(EngineUnavailableError); // the engine answered
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await requestCount('pull', 'error')).toBeGreaterThan(0);

    const aborted = AbortSignal.abort(new Error('caller gave up'));
    await expect(runtime.pullImage('localhost:1/nope:latest', aborted)).rejects.toThrow('caller gave up');
  });

  it('streams events of our containers only, and stops on abort', async () => {
    const controller = new AbortController();
    const events: ContainerEvent[] = [];
    const disconnects: unknown[] = [];
    runtime.watchEvents(
      OURS,
      { onEvent: (event) => events.push(event), onReconnect: () => {}, onDisconnect: (error) => disconnects.push(error) },
      controller.signal,
    );
    try {
      // There is no "connected" callback: poke a container until its update event shows up.
      const probe = await runtime.createContainer(request('events-probe'));
      await eventually(
        async () => {
          await runtime.updateContainer(probe, { restartPolicy: { name: 'no' } });
          expect(events.some((e) => e.containerId === probe && e.action === 'update')).toBe(true);
        },
        { timeoutMs: 15_000, intervalMs: 200, message: 'event stream connected' },
      );

      // The foreign container goes first: events arrive in order, so once ours is destroyed,
      // anything about the foreign one would already be here.
      const other = await runtime.createContainer(foreign('events-foreign'));
      await runtime.startContainer(other);
      await dockerCli(['kill', other]);
      await runtime.removeContainer(other);

      const mine = await runtime.createContainer(request('events-mine'));
      await runtime.startContainer(mine);
      await dockerCli(['kill', mine]);
      await runtime.removeContainer(mine);

      await eventually(() => expect(events.some((e) => e.containerId === mine && e.action === 'destroy')).toBe(true), {
        timeoutMs: 15_000,
        message: 'destroy event',
      });
      const actions = events.filter((e) => e.containerId === mine).map((e) => e.action);
      expect(actions).toEqual(['create', 'start', 'kill', 'die', 'destroy']);
      const die = events.find((e) => e.containerId === mine && e.action === 'die');
      expect(die?.exitCode).toBe(137);
      expect(die?.labels).toMatchObject(OURS);
      expect(die?.labels).not.toHaveProperty('name'); // engine attributes are not labels
      expect(die?.timeNano).toBeGreaterThan(0);
      expect(events.filter((e) => e.containerId === other)).toEqual([]);
      expect(events.every((e) => !e.action.startsWith('exec_'))).toBe(true);
      expect(disconnects).toEqual([]);
    } finally {
      controller.abort();
    }

    // After abort nothing more is delivered and nothing is reported as a disconnect.
    const count = events.length;
    const late = await runtime.createContainer(request('events-late'));
    await runtime.removeContainer(late);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(events.length).toBe(count);
    expect(disconnects).toEqual([]);
    expect(await requestCount('events', 'success')).toBe(1);
  });

  it("a write follows its caller's signal: an abort ends a slow stop at once, an aborted signal sends nothing", async () => {
    // sleep as PID 1 ignores SIGTERM: the engine waits the whole grace period, then kills.
    const graceSeconds = 4;
    const id = await runtime.createContainer(request('abort-stop', { cmd: ['sleep', '3600'] }));
    await runtime.startContainer(id);
    const watching = new AbortController();
    const kills: ContainerEvent[] = [];
    runtime.watchEvents(OURS, { onEvent: (e) => e.containerId === id && e.action === 'kill' && kills.push(e), onReconnect: () => {}, onDisconnect: () => {} }, watching.signal);
    try {
      const leadership = new AbortController();
      const stopping = runtime.stopContainer(id, graceSeconds, leadership.signal);
      stopping.catch(() => {}); // looked at below
      // The engine has the request once it signals the container (its `kill` event, SIGTERM).
      await eventually(() => expect(kills).not.toHaveLength(0), { timeoutMs: 10_000, message: 'the engine sent SIGTERM' });
      const abortedAt = Date.now();
      const reason = new Error('leadership ended');
      leadership.abort(reason);
      await expect(stopping).rejects.toBe(reason);
      expect(Date.now() - abortedAt).toBeLessThan(1_000);
      expect(await requestCount('stop', 'error')).toBeGreaterThan(0);
      // The engine goes on with the stop it was asked for: the next leader finds the outcome.
      await eventually(async () => expect((await runtime.inspectContainer(id)).state).toBe('exited'), {
        timeoutMs: graceSeconds * 1000 + 10_000,
        message: 'the engine finished the stop',
      });

      const startsBefore = (await requestCount('start', 'success')) + (await requestCount('start', 'error'));
      const ended = AbortSignal.abort(reason);
      await expect(runtime.startContainer(id, ended)).rejects.toBe(reason);
      await expect(runtime.removeContainer(id, ended)).rejects.toBe(reason);
      expect((await requestCount('start', 'success')) + (await requestCount('start', 'error'))).toBe(startsBefore);
      expect((await runtime.inspectContainer(id)).state).toBe('exited');
    } finally {
      watching.abort();
    }
  });
});
