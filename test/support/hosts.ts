// The simulated Docker hosts that `hack/test-env up hosts` starts (hack/test-env-hosts.sh): one
// dockerd each, in a network namespace of its own when the kernel allows it, reached on a unix
// socket on this machine's filesystem. Fleet tests run one agent per host against these sockets.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dockerCli } from './docker.ts';

export interface SimulatedHost {
  /** host1, host2, … (also the engine's Name in `docker info`). */
  name: string;
  /** The engine's unix socket: pass it as --docker-socket. */
  socket: string;
  /** The network namespace (dockerlet-hostN); undefined when test-env fell back to the root one. */
  netns: string | undefined;
}

const TEST_STATE = process.env['DOCKERLET_TEST_STATE'] ?? '/tmp/dockerlet-test-env';
/** What `up hosts` starts by default; tests expect at least this many unless they say otherwise. */
const HOSTS_WANTED = Number(process.env['DOCKERLET_TEST_HOSTS'] ?? '3');
const MANIFEST = join(TEST_STATE, 'hosts.json');

function howToStart(count: number): string {
  return `run \`${count === 3 ? '' : `DOCKERLET_TEST_HOSTS=${count} `}bash hack/test-env up hosts\``;
}

function parseManifest(text: string): SimulatedHost[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) throw new Error(`${MANIFEST} is not a list`);
  return parsed.map((entry: unknown, index) => {
    const { name, socket, netns } = (entry ?? {}) as Record<string, unknown>;
    if (typeof name !== 'string' || typeof socket !== 'string' || (netns !== null && typeof netns !== 'string')) {
      throw new Error(`${MANIFEST}[${index}] is not {name, socket, netns}`);
    }
    return { name, socket, netns: netns ?? undefined };
  });
}

/**
 * The simulated hosts, each checked to answer on its socket. Fails (never skips) with the command
 * that fixes it when they are not up, or fewer than `count` (default DOCKERLET_TEST_HOSTS or 3).
 * When test-env fell back to the root network namespace it says so on stderr, every time.
 */
export async function simulatedHosts(count = HOSTS_WANTED): Promise<SimulatedHost[]> {
  let text: string;
  try {
    text = await readFile(MANIFEST, 'utf8');
  } catch (error) {
    throw new Error(`the simulated hosts are not up (no ${MANIFEST}): ${howToStart(count)}`, { cause: error });
  }
  const hosts = parseManifest(text);
  if (hosts.length < count) throw new Error(`${hosts.length} simulated host(s) up, this test needs ${count}: ${howToStart(count)}`);
  await Promise.all(
    hosts.map(async (host) => {
      try {
        await dockerCli(['version', '--format', '{{.Server.Version}}'], { socket: host.socket, timeoutMs: 10_000 });
      } catch (error) {
        throw new Error(`simulated host ${host.name} does not answer on ${host.socket}: ${howToStart(count)}`, { cause: error });
      }
    }),
  );
  if (hosts.some((host) => host.netns === undefined)) {
    console.warn('SIMULATED HOSTS WITHOUT NETWORK NAMESPACES: the kernel refused them, so hack/test-env runs the hosts in the root namespace (they share its network)');
  }
  return hosts;
}
