// The engine gate against the real engine: the DockerodeRuntime behind fencedRuntime sends each
// write while the lease is certainly held, and nothing once the fence refuses (the engine's own
// event stream, read with `docker events`, shows no event for the refused calls).
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerodeRuntime } from '../../agent/runtime/docker/dockerode-runtime.ts';
import { fencedRuntime } from '../../controllers/runtime/fenced-runtime.ts';
import { FencedError } from '../../reconciler/errors.ts';
import type { Fence } from '../../reconciler/fence.ts';
import { dockerCli, removeContainersByLabel, requireTestEngine, TEST_DOCKER_SOCKET, TEST_IMAGE, uniqueRunId } from '../support/docker.ts';

const RUN = uniqueRunId('fence');
const LABEL = 'dockerlet.dev/test-run';

beforeAll(() => requireTestEngine());
afterAll(() => removeContainersByLabel(`${LABEL}=${RUN}`));

/** Engine events of this run's containers from `sinceMs` on (the engine's clock: this host's), until now. */
async function events(sinceMs: number): Promise<string[]> {
  const until = String(Math.ceil(Date.now() / 1000) + 1);
  const out = await dockerCli(['events', '--since', String(Math.floor(sinceMs / 1000) - 1), '--until', until, '--filter', `label=${LABEL}=${RUN}`, '--format', '{{.TimeNano}} {{.Action}}']);
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ') as [string, string])
    .filter(([nanos]) => Number(BigInt(nanos) / 1_000_000n) >= sinceMs)
    .map(([, action]) => action);
}

describe('fencedRuntime on the real engine', () => {
  it('passes writes while the lease is held and sends none once the fence refuses', async () => {
    let valid = true;
    const fence: Fence = {
      require: (operation) => {
        if (!valid) throw new FencedError(operation, 7, 'renew deadline passed');
        return 7;
      },
      confirm: async () => {},
    };
    const runtime = fencedRuntime(new DockerodeRuntime({ socketPath: TEST_DOCKER_SOCKET, registry: new Registry() }), fence);
    const request = {
      name: `${RUN}-c`,
      image: TEST_IMAGE,
      cmd: ['sleep', '3600'],
      env: [],
      labels: { [LABEL]: RUN },
      ports: [],
      mounts: [],
      memoryBytes: 0,
      nanoCpus: 0,
      restartPolicy: { name: 'no' as const },
    };
    const before = Date.now();
    const id = await runtime.createContainer(request);
    await runtime.startContainer(id);
    expect((await runtime.inspectContainer(id)).state).toBe('running');

    valid = false;
    const refusedAt = Date.now();
    await expect(runtime.stopContainer(id, 1)).rejects.toBeInstanceOf(FencedError);
    await expect(runtime.removeContainer(id)).rejects.toThrow(/engine remove not sent/);
    await expect(runtime.createContainer({ ...request, name: `${RUN}-d` })).rejects.toBeInstanceOf(FencedError);
    // Reads still work: every replica keeps its cache current.
    expect((await runtime.inspectContainer(id)).state).toBe('running');
    expect(await events(before)).toEqual(['create', 'start']);
    expect(await events(refusedAt)).toEqual([]);
  });
});
