// Swarm: one service with N replicas of the same image and command, restart condition `any`
// (Swarm's equivalent of unless-stopped), no published ports or networks (tasks then run on the
// default bridge, like everyone else's containers), and a 0 s stop grace period so `service rm`
// kills at once like the others' force removes. `--no-resolve-image`: there is no registry.
// The engine joins a single-node swarm on loopback only for the run, and leaves only if it
// was not in one before.
import type Docker from 'dockerode';
import { dockerCli } from './command.ts';
import type { Contender } from './contender.ts';
import { deferCleanup } from './cleanup.ts';
import { BENCH_IMAGE, removeByLabel } from './engine.ts';
import { BENCH_ID_LABEL } from './contender-floor.ts';

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

async function swarmState(docker: Docker): Promise<string> {
  const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string } };
  return info.Swarm?.LocalNodeState ?? 'inactive';
}

async function networkNames(docker: Docker): Promise<Set<string>> {
  return new Set((await docker.listNetworks()).map((n) => n.Name));
}

/**
 * Makes the engine a swarm manager if it is not in a swarm, listening and advertising on
 * 127.0.0.1 only. Returns how to undo exactly that (a no-op if the engine was in a swarm already).
 */
export async function ensureSwarm(docker: Docker): Promise<() => Promise<void>> {
  const state = await swarmState(docker);
  if (state === 'active') {
    log('swarm: the engine is in a swarm already; using it and leaving it as it is');
    return async () => {};
  }
  if (state !== 'inactive') throw new Error(`the engine's swarm state is "${state}"; settle it (docker swarm leave --force?) and run again`);
  const networksBefore = await networkNames(docker);
  log('swarm: docker swarm init on 127.0.0.1 (left again after the run)');
  const leave = deferCleanup('leave the swarm the bench initialised', async () => {
    await dockerCli(['swarm', 'leave', '--force']);
    // Swarm makes docker_gwbridge and keeps it after leaving; it was not there before us.
    for (const name of await networkNames(docker)) {
      if (!networksBefore.has(name) && name === 'docker_gwbridge') await docker.getNetwork(name).remove().catch(() => undefined);
    }
    log('swarm: left');
  });
  await dockerCli(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:2377', '--data-path-addr', '127.0.0.1']);
  return leave;
}

export class SwarmContender implements Contender {
  readonly name = 'swarm' as const;
  readonly label: string;
  private readonly service: string;

  constructor(
    private readonly docker: Docker,
    id: string,
    private readonly sessions: number,
  ) {
    this.label = `${BENCH_ID_LABEL}=${id}`;
    this.service = `dlbs-${id}`;
  }

  async prepare(): Promise<void> {}

  async up(signal: AbortSignal): Promise<void> {
    await dockerCli(
      [
        'service', 'create',
        '--detach',
        '--name', this.service,
        '--replicas', String(this.sessions),
        '--restart-condition', 'any',
        '--stop-grace-period', '0s',
        '--no-resolve-image',
        '--label', this.label,
        '--container-label', this.label,
        BENCH_IMAGE, 'sleep', 'infinity',
      ],
      { signal },
    );
  }

  async down(signal: AbortSignal): Promise<void> {
    await dockerCli(['service', 'rm', this.service], { signal });
  }

  check(): void {}

  async dispose(): Promise<void> {
    // The service first, or Swarm replaces the containers we remove.
    await dockerCli(['service', 'rm', this.service]).catch(() => undefined);
    await removeByLabel(this.docker, this.label);
  }
}
