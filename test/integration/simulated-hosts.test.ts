// The simulated hosts of `hack/test-env up hosts` are separate Docker engines: their own engine ID,
// data root and containers, the test image on each, and (in network namespace mode) a network the
// root namespace reaches only through what we choose: the engine's unix socket, or entering the
// namespace on purpose. Every container made here carries the label dockerlet.dev/test=<run id>.
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerCli, freePort, TEST_IMAGE, testEngineReady, uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { simulatedHosts } from '../support/hosts.ts';
import type { SimulatedHost } from '../support/hosts.ts';

const runId = uniqueRunId('simhosts');
const label = `dockerlet.dev/test=${runId}`;

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Our containers on one engine (socket undefined: the main test engine), by label. */
async function ours(socket?: string): Promise<string[]> {
  const out = await dockerCli(['ps', '--all', '--quiet', '--filter', `label=${label}`], socket ? { socket } : {});
  return out.split('\n').filter(Boolean);
}

/** Whether a TCP connection to 127.0.0.1:port from this process (the root namespace) is refused. */
function refusedHere(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('simulated hosts (hack/test-env up hosts)', () => {
  let hosts: SimulatedHost[] = [];

  async function ready(): Promise<SimulatedHost[]> {
    await testEngineReady();
    if (hosts.length === 0) hosts = await simulatedHosts();
    return hosts;
  }

  afterAll(async () => {
    for (const socket of [undefined, ...hosts.map((host) => host.socket)]) {
      const ids = await ours(socket).catch(() => []);
      if (ids.length > 0) await dockerCli(['rm', '--force', ...ids], socket ? { socket } : {});
    }
  });

  it('are distinct engines: own ID, name, data root; the test image with the main engine\'s image ID', async () => {
    const all = await ready();
    const mainInfo = await dockerCli(['info', '--format', '{{.ID}} {{.DockerRootDir}}']);
    const mainImage = await dockerCli(['image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE]);
    const infos = await Promise.all(all.map((host) => dockerCli(['info', '--format', '{{.ID}} {{.DockerRootDir}} {{.Name}}'], { socket: host.socket })));
    const ids = infos.map((info) => info.split(' ')[0]);
    const roots = infos.map((info) => info.split(' ')[1]);
    expect(new Set([mainInfo.split(' ')[0], ...ids]).size).toBe(all.length + 1);
    expect(new Set([mainInfo.split(' ')[1], ...roots]).size).toBe(all.length + 1);
    expect(infos.map((info) => info.split(' ')[2])).toEqual(all.map((host) => host.name));
    for (const host of all) {
      expect(await dockerCli(['image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE], { socket: host.socket }), host.name).toBe(mainImage);
    }
  });

  it('runs the test image on each host', async () => {
    for (const host of await ready()) {
      const out = await dockerCli(['run', '--rm', '--label', label, TEST_IMAGE, 'sh', '-c', `echo hello from ${host.name}`], { socket: host.socket });
      expect(out).toBe(`hello from ${host.name}`);
    }
  });

  it('a container created on host1 is listed only on host1', async () => {
    const [first, ...others] = await ready();
    if (!first) throw new Error('no simulated host');
    await dockerCli(['create', '--label', label, '--name', `${runId}-only-here`, TEST_IMAGE], { socket: first.socket });
    expect(await ours(first.socket)).toHaveLength(1);
    for (const host of others) expect(await ours(host.socket), host.name).toEqual([]);
    expect(await ours(), 'main engine').toEqual([]);
  });

  it('keeps a host\'s network apart: a port it publishes on 127.0.0.1 answers in its namespace, not in the root one (fallback: in both)', async () => {
    const [first] = await ready();
    if (!first) throw new Error('no simulated host');
    const port = await freePort();
    await dockerCli(
      ['run', '--detach', '--label', label, '--publish', `127.0.0.1:${port}:8080`, TEST_IMAGE, 'sh', '-c', `mkdir -p /www && echo page of ${first.name} >/www/index.html && exec httpd -f -p 8080 -h /www`],
      { socket: first.socket },
    );
    if (first.netns === undefined) {
      // The fallback shares the root namespace, as hack/test-env said loudly: the port is ours too.
      console.warn(`SIMULATED HOSTS WITHOUT NETWORK NAMESPACES: ${first.name}'s published port is reachable from the root namespace`);
      await eventually(async () => expect(await refusedHere(port)).toBe('connected'));
      return;
    }
    const netns = first.netns;
    // The engine itself runs in the namespace test-env created.
    const pids = (await run('ip', ['netns', 'pids', netns])).stdout.split('\n').filter(Boolean);
    const commands = await Promise.all(pids.map(async (pid) => (await run('cat', [`/proc/${pid}/cmdline`])).stdout.split('\0').join(' ')));
    expect(commands.some((command) => command.startsWith('dockerd ') && command.includes(first.socket))).toBe(true);
    // Entering the namespace on purpose reaches the page...
    const fetchPage = `fetch('http://127.0.0.1:${port}/').then(r=>r.text()).then(t=>process.stdout.write(t),e=>{console.error(String(e));process.exit(1)})`;
    await eventually(async () => {
      const inside = await run('ip', ['netns', 'exec', netns, process.execPath, '-e', fetchPage]);
      expect(inside.stderr).toBe('');
      expect(inside.stdout).toBe(`page of ${first.name}\n`);
    });
    // ...the root namespace, on the same address and port, finds nothing listening.
    expect(await refusedHere(port)).toBe('ECONNREFUSED');
    // The container's link to the host's bridge lives in the host's namespace, not in the root one.
    const veths = (await run('ip', ['-n', netns, '-o', 'link', 'show', 'type', 'veth'])).stdout.split('\n').filter(Boolean);
    expect(veths.length).toBeGreaterThan(0);
    const rootLinks = (await run('ip', ['-o', 'link', 'show'])).stdout;
    for (const veth of veths) {
      const name = /^\d+: ([^@:]+)/.exec(veth)?.[1];
      expect(name).toBeDefined();
      expect(rootLinks).not.toMatch(new RegExp(`^\\d+: ${name}[@:]`, 'm'));
    }
  });
});
