// The benchmark's own engine client: plain dockerode, independent of agent/docker, so the floor
// measures the engine and nothing of ours. Also the cleanup that every scenario relies on.
import Docker from 'dockerode';

export const BENCH_IMAGE = 'dockerlet-test/busybox:latest';
/** Same override as hack/test-env and the tests, so every tool talks to the same engine. */
export const DOCKER_SOCKET = process.env['DOCKERLET_DOCKER_SOCKET'] ?? '/var/run/docker.sock';

export function engineClient(): Docker {
  // Pinning host/port/protocol keeps docker-modem from following DOCKER_HOST to a TCP engine.
  return new Docker({ socketPath: DOCKER_SOCKET, host: undefined, port: undefined, protocol: 'http' });
}

export interface EngineFacts {
  version: string;
  apiVersion: string;
  storageDriver: string;
  cpus: number;
  memoryBytes: number;
}

export async function engineFacts(docker: Docker): Promise<EngineFacts> {
  const [version, info] = await Promise.all([docker.version(), docker.info() as Promise<{ Driver?: string; NCPU?: number; MemTotal?: number }>]);
  return {
    version: version.Version,
    apiVersion: version.ApiVersion,
    storageDriver: info.Driver ?? 'unknown',
    cpus: info.NCPU ?? 0,
    memoryBytes: info.MemTotal ?? 0,
  };
}

/** Fails with the fix when the engine or the image is missing; the bench never pulls. */
export async function requireEngineAndImage(docker: Docker): Promise<void> {
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(`no Docker engine answers on ${DOCKER_SOCKET}: run \`bash hack/test-env up\``, { cause: error });
  }
  try {
    await docker.getImage(BENCH_IMAGE).inspect();
  } catch (error) {
    throw new Error(`image ${BENCH_IMAGE} is missing: run \`bash hack/test-env up\` (it builds it without a registry)`, { cause: error });
  }
}

/** Running containers carrying `label` ("key=value"): one list call, filtered by the engine. */
export async function countRunning(docker: Docker, label: string): Promise<number> {
  const containers = await docker.listContainers({ all: false, filters: { label: [label], status: ['running'] } });
  return containers.length;
}

/**
 * Polls with one list call per tick until `n` containers with `label` run, and returns the
 * moment the answer that showed them arrived (performance.now()). Ticks are start-to-start, so a
 * slow list call is not followed by a full extra interval. Throws past `deadline`.
 */
export async function waitAllRunning(
  docker: Docker,
  label: string,
  n: number,
  options: { intervalMs: number; deadline: number; signal?: AbortSignal; onTick?: (running: number) => void },
): Promise<number> {
  for (;;) {
    const tickStart = performance.now();
    const running = await countRunning(docker, label);
    const answeredAt = performance.now();
    options.onTick?.(running);
    if (running >= n) return answeredAt;
    options.signal?.throwIfAborted();
    if (answeredAt > options.deadline) throw new Error(`only ${running}/${n} containers with ${label} running before the deadline`);
    await sleep(Math.max(0, options.intervalMs - (answeredAt - tickStart)));
  }
}

/**
 * Runs `task` for 0..count-1 with at most `concurrency` in flight; rejects on the first failure.
 * Once `signal` aborts no new task starts, but it settles only after those in flight did, so a
 * cleanup that follows sees everything they created.
 */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < count && !failed) {
      signal?.throwIfAborted();
      const i = next++;
      try {
        await task(i);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(concurrency, count) }, worker));
  const failure = results.find((r) => r.status === 'rejected');
  if (failure) throw failure.reason;
}

/**
 * Force-removes every container (running or not) with `label`, and their anonymous volumes.
 * Lists again until none is left, so a container created while we were removing is not missed.
 */
export async function removeByLabel(docker: Docker, label: string, concurrency = 8): Promise<number> {
  let removed = 0;
  for (let attempt = 0; attempt < 5; attempt++) {
    const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
    if (containers.length === 0) return removed;
    await pool(containers.length, concurrency, async (i) => {
      try {
        await docker.getContainer(containers[i]!.Id).remove({ force: true, v: true });
        removed++;
      } catch (error) {
        // Gone already (or being removed by the engine) is what we want.
        const status = (error as { statusCode?: number }).statusCode;
        if (status !== 404 && status !== 409) throw error;
      }
    });
  }
  const left = await docker.listContainers({ all: true, filters: { label: [label] } });
  if (left.length > 0) throw new Error(`${left.length} containers with ${label} are still there after cleanup`);
  return removed;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
