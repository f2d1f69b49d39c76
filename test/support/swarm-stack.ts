// deploy/swarm/stack.yml itself, deployed with `docker stack deploy` on the single-node test swarm,
// with only what one node and this machine need on top of it: the stack's variables (local image
// names, the socket's group, the Git source, a unique agent name) and an override file that lets
// the 3 agent replicas share the one node and mounts the test's bare repository read-only.
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REPO } from './agent-process.ts';
import { dockerCli, TEST_DOCKER_SOCKET } from './docker.ts';
import { eventually } from './eventually.ts';
import { buildLocalImage, TEST_AGENT_IMAGE } from './swarm-agent.ts';

export const STACK_FILE = join(REPO, 'deploy/swarm/stack.yml');
export const TEST_REDIS_IMAGE = process.env['TEST_REDIS_IMAGE'] ?? 'dockerlet-test/redis:latest';
/** Where the override mounts the bare repository inside the agents' containers. */
export const STACK_GIT_MOUNT = '/git/sessions.git';
/** The socket the stack mounts into the agents (deploy/swarm/stack.yml). */
const STACK_SOCKET = '/var/run/docker.sock';

/** Builds (or finds up to date) the local Redis image the stack's redis service runs here. */
export function buildRedisImage(): Promise<void> {
  return buildLocalImage('build-redis.sh');
}

export interface StackOptions {
  /** Stack name: services are <name>_agent and <name>_redis. */
  name: string;
  /** DOCKERLET_AGENT_NAME: the label on every Session service the agents create. */
  agentName: string;
  /** Host path of the bare repository the agents follow. */
  bareRepo: string;
  /** `#<ref>:<path>` inside the repository. */
  refAndPath: string;
  /** A directory for the override file. */
  workDir: string;
}

/** The override for one node: max_replicas_per_node lifted to the replica count, the repository mounted. */
export function singleNodeOverride(bareRepo: string): Record<string, unknown> {
  const volumes: Record<string, unknown>[] = [{ type: 'bind', source: bareRepo, target: STACK_GIT_MOUNT, read_only: true }];
  // Mounts merge by target: this replaces the stack's socket mount only if the engine listens elsewhere.
  if (TEST_DOCKER_SOCKET !== STACK_SOCKET) volumes.push({ type: 'bind', source: TEST_DOCKER_SOCKET, target: STACK_SOCKET });
  return {
    version: '3.8',
    services: { agent: { deploy: { placement: { max_replicas_per_node: 3 } }, volumes } },
  };
}

export async function deployStack(options: StackOptions): Promise<void> {
  const override = join(options.workDir, 'single-node.override.yml');
  await writeFile(override, stringify(singleNodeOverride(options.bareRepo)));
  const env = {
    DOCKERLET_IMAGE: TEST_AGENT_IMAGE,
    DOCKERLET_REDIS_IMAGE: TEST_REDIS_IMAGE,
    DOCKER_GID: String((await stat(TEST_DOCKER_SOCKET)).gid),
    DOCKERLET_GIT: `file://${STACK_GIT_MOUNT}${options.refAndPath}`,
    DOCKERLET_AGENT_NAME: options.agentName,
  };
  // --resolve-image never: the images exist only on this engine; there is no registry to ask.
  await dockerCli(['stack', 'deploy', '--resolve-image', 'never', '--compose-file', STACK_FILE, '--compose-file', override, options.name], { env, timeoutMs: 120_000 });
}

/** Removes the stack, then the Session services its agents created, then its volume. Never throws. */
export async function removeStack(name: string, agentName: string): Promise<string[]> {
  const problems: string[] = [];
  const attempt = async (what: string, action: () => Promise<unknown>): Promise<void> => {
    await action().catch((error: unknown) => problems.push(`${what}: ${error instanceof Error ? error.message : String(error)}`));
  };
  // The agents first, or they would recreate the Session services removed after them.
  await attempt('stack rm', () => dockerCli(['stack', 'rm', '--detach=false', name], { timeoutMs: 180_000 }));
  await attempt('session services', async () => {
    const ids = (await dockerCli(['service', 'ls', '--quiet', '--filter', `label=dockerlet.dev/agent=${agentName}`])).split('\n').filter(Boolean);
    if (ids.length > 0) await dockerCli(['service', 'rm', ...ids]);
  });
  // The volume is in use until Swarm has removed the redis task's container.
  const volume = `${name}_redis-data`;
  await attempt('volume', () =>
    eventually(
      async () => {
        await dockerCli(['volume', 'rm', volume]).catch((error: unknown) => {
          if (!/no such volume/i.test(String(error))) throw error;
        });
      },
      { timeoutMs: 60_000, intervalMs: 500, message: `volume ${volume} removed` },
    ),
  );
  return problems;
}

/** `docker exec` in a container; stdout. */
export function execIn(container: string, args: string[]): Promise<string> {
  return dockerCli(['exec', container, ...args]);
}

/** An HTTP request from inside an agent's container to its own --listen port (not published). */
export function agentHttp(container: string, path: string, method = 'GET'): Promise<string> {
  const script = `fetch('http://127.0.0.1:9464${path}',{method:'${method}'}).then(r=>r.text()).then(t=>process.stdout.write(t),e=>{console.error(e);process.exit(1)})`;
  return execIn(container, ['/usr/bin/node', '-e', script]);
}
