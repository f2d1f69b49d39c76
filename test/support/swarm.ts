// Helpers for tests on the real single-node swarm that `hack/test-env up` initialises (loopback
// only). Everything a test creates carries SWARM_TEST_LABEL=<run id> and is removed by that label.
import { dockerCli, TEST_IMAGE, testEngineReady } from './docker.ts';

export const SWARM_TEST_LABEL = 'dev.dockerlet.test.swarm';

/** Fails (never skips) when the engine is not a swarm manager, with the command that fixes it. */
export async function requireTestSwarm(): Promise<void> {
  await testEngineReady();
  const state = await dockerCli(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}']);
  if (state !== 'active true') {
    throw new Error(`the test engine is not a swarm manager (swarm state "${state}"): run \`bash hack/test-env up\` (its swarm group runs docker swarm init on 127.0.0.1)`);
  }
}

/** Creates a service of the busybox test image that sleeps, labelled with the run id; returns its ID. */
export async function createSleepService(name: string, runId: string, options: { replicas?: number; args?: string[] } = {}): Promise<string> {
  return dockerCli([
    'service', 'create', '--detach', '--quiet',
    '--name', name,
    '--replicas', String(options.replicas ?? 1),
    '--no-resolve-image',
    '--stop-grace-period', '0s',
    '--label', `${SWARM_TEST_LABEL}=${runId}`,
    '--container-label', `${SWARM_TEST_LABEL}=${runId}`,
    ...(options.args ?? []),
    TEST_IMAGE, 'sleep', 'infinity',
  ]);
}

/** Removes this run's services (first, or Swarm replaces the containers), then containers and networks. */
export async function removeSwarmRun(runId: string): Promise<void> {
  const label = `${SWARM_TEST_LABEL}=${runId}`;
  const services = (await dockerCli(['service', 'ls', '--quiet', '--filter', `label=${label}`])).split('\n').filter(Boolean);
  if (services.length > 0) await dockerCli(['service', 'rm', ...services]);
  const containers = (await dockerCli(['ps', '--all', '--quiet', '--filter', `label=${label}`])).split('\n').filter(Boolean);
  if (containers.length > 0) await dockerCli(['rm', '--force', '--volumes', ...containers]).catch(() => undefined);
  const networks = (await dockerCli(['network', 'ls', '--quiet', '--filter', `label=${label}`])).split('\n').filter(Boolean);
  // A network is in use until the service's tasks are gone; Swarm takes a moment after `service rm`.
  for (let attempt = 0; networks.length > 0 && attempt < 40; attempt++) {
    try {
      await dockerCli(['network', 'rm', ...networks]);
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

export interface TaskRow {
  id: string;
  slot: number;
  desiredState: string;
  state: string;
  containerId: string;
}

/** The service's tasks as the docker CLI sees them (an independent view from our dockerode code). */
export async function serviceTasks(service: string): Promise<TaskRow[]> {
  const ids = (await dockerCli(['service', 'ps', '--quiet', '--no-trunc', service])).split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const text = await dockerCli(['inspect', '--format', '{{.ID}} {{.Slot}} {{.DesiredState}} {{.Status.State}} {{.Status.ContainerStatus.ContainerID}}', ...ids]);
  return text.split('\n').filter(Boolean).map((line) => {
    const [id = '', slot = '0', desiredState = '', state = '', containerId = ''] = line.split(' ');
    return { id, slot: Number(slot), desiredState, state, containerId };
  });
}
