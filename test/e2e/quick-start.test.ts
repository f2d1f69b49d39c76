// The README's quick start, run as a new user runs it: every command in the ```sh blocks of its
// "Quick start" section, taken from the README text itself (so the two cannot drift) and run
// verbatim with `bash -c` in a copy of this checkout. `bash hack/run` runs in the background with
// its own agent name (DOCKERLET_AGENT_NAME, so it never touches another agent's containers), and
// the quick start must not touch Redis, the swarm or Kubernetes: stand-ins on PATH record any call
// to their tools, the docker CLI is wrapped to record every subcommand, and the swarm's state and
// the Redis processes are compared before and after.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerCli, removeContainersByLabel, requireTestEngine, uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { REPO } from '../support/agent-process.ts';
import { copyCheckout, FORBIDDEN_TOOLS, portsInUse, processIds, quickStartCommands, runShell, writeToolShims } from '../support/quick-start.ts';

const README = join(REPO, 'README.md');
const EXAMPLE_VOLUME = 'team-a-desktop-home';

describe('README quick start, every command as written', () => {
  const agentName = uniqueRunId('quickstart');
  let root = '';
  let checkout = '';
  let calls = '';
  let env: NodeJS.ProcessEnv = {};
  let commands: string[] = [];
  let run: ChildProcess | undefined;
  const runOutput: string[] = [];
  let runExit: Promise<number | null> = Promise.resolve(null);
  let volumeExisted = true;
  const before = { swarm: '', redis: [] as number[] };

  beforeAll(async () => {
    await requireTestEngine();
    commands = quickStartCommands(await readFile(README, 'utf8'));
    const busy = await portsInUse([8080, 9464]);
    if (busy.length > 0) throw new Error(`port(s) ${busy.join(', ')} in use on 127.0.0.1: the quick start publishes the web example on 8080 and metrics on 9464; stop what holds them`);
    root = await mkdtemp(join(tmpdir(), 'dockerlet-quickstart-'));
    checkout = join(root, 'dockerlet');
    calls = join(root, 'calls');
    await mkdir(calls);
    await copyCheckout(REPO, checkout);
    const shims = await writeToolShims(join(root, 'bin'), calls);
    env = { ...process.env, PATH: `${shims}:${process.env['PATH'] ?? ''}`, DOCKERLET_AGENT_NAME: agentName };
    // The README's defaults, not whatever the test runner's environment says.
    for (const name of ['DOCKERLET_STORE', 'DOCKERLET_STATE_DIR', 'DOCKERLET_LISTEN', 'DOCKERLET_REDIS_URL', 'DOCKERLET_RUNTIME']) delete env[name];
    before.swarm = await dockerCli(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}']);
    before.redis = await processIds('redis-server');
    volumeExisted = (await dockerCli(['volume', 'ls', '--quiet', '--filter', `name=^${EXAMPLE_VOLUME}$`])) !== '';
  });

  afterAll(async () => {
    if (run?.pid !== undefined && run.exitCode === null) {
      process.kill(-run.pid, 'SIGTERM');
      await runExit;
    }
    await removeContainersByLabel(`dockerlet.dev/agent=${agentName}`);
    if (!volumeExisted) await dockerCli(['volume', 'rm', EXAMPLE_VOLUME]).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('finds the quick-start commands in the README', () => {
    expect(commands[0]).toMatch(/^bash hack\/run\b/);
    expect(commands.length).toBeGreaterThanOrEqual(4);
  });

  it('runs each command as written and sees what the README promises', async () => {
    for (const command of commands) {
      if (/^bash hack\/run\b/.test(command)) {
        run = spawn('bash', ['-c', command], { cwd: checkout, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
        const collect = (chunk: Buffer): void => {
          runOutput.push(...chunk.toString().split('\n').filter(Boolean));
        };
        run.stdout?.on('data', collect);
        run.stderr?.on('data', collect);
        const child = run;
        runExit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
      } else if (command.startsWith('bash hack/test ') || command === 'bash hack/test') {
        // The suite this test is part of: running it here would run it inside itself. What proves
        // it is CI, which runs exactly this command and nothing else (.ci/run).
        const ci = await readFile(join(REPO, '.ci', 'run'), 'utf8');
        const lines = ci.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#') && !/^(set|cd) /.test(line));
        expect(lines).toEqual([command.replace(/\s+#.*$/, '')]);
      } else if (/dockerlet\.js get sessions/.test(command)) {
        await eventually(
          async () => {
            assertRunning();
            const result = await runShell(command, checkout, env);
            expect(result.code, result.stderr).toBe(0);
            for (const [namespace, name, phase] of [
              ['default', 'web', 'Running'],
              ['default', 'worker', 'Running'],
              // Ready (True) only once its readiness probe got HTTP 200 from /healthz.
              ['default', 'status', 'Running'],
              ['team-a', 'desktop', 'Running'],
              ['team-a', 'ide', 'Stopped'],
            ] as const) {
              expect(result.stdout).toMatch(new RegExp(`^${namespace}\\s+${name}\\s+${phase}\\s+True\\s+${agentName}\\s`, 'm'));
            }
          },
          { timeoutMs: 120_000, message: `\`${command}\` shows the examples converged` },
        );
      } else if (/curl http:\/\/127\.0\.0\.1:8080\//.test(command)) {
        const page = await eventually(
          async () => {
            const result = await runShell(command, checkout, env);
            expect(result.code, result.stderr).toBe(0);
            return result.stdout;
          },
          { timeoutMs: 30_000, message: `\`${command}\` answers` },
        );
        expect(page).toMatch(/^<!doctype html>/i);
        expect(page).toContain('<h1>Hello from the web Session</h1>');
      } else if (/curl http:\/\/127\.0\.0\.1:9464\/metrics/.test(command)) {
        const result = await runShell(command, checkout, env);
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toContain('dockerlet_sessions{phase="Running"} 4');
        expect(result.stdout).toContain('dockerlet_sessions{phase="Stopped"} 1');
      } else {
        throw new Error(`the README's quick start has a command this test does not check; add a check for it: ${command}`);
      }
    }
  });

  it('touched neither Redis, the swarm, Kubernetes, npm, apt nor any registry', async () => {
    expect(await readCalls('forbidden.calls'), `tools run by the quick start (of ${FORBIDDEN_TOOLS.join(', ')})`).toEqual([]);
    const docker = await readCalls('docker.calls');
    expect(docker.length, 'the docker CLI was run (the wrapper records it)').toBeGreaterThan(0);
    expect(docker.filter((args) => /^(swarm|service|stack|node|pull|login|push)\b/.test(args))).toEqual([]);
    expect(await dockerCli(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}'])).toBe(before.swarm);
    expect(await processIds('redis-server')).toEqual(before.redis);
    const setup = runOutput.filter((line) => line.startsWith('test-env: '));
    expect(setup.join('\n')).toContain('up: done (engine)');
    expect(setup.filter((line) => /redis|swarm|kube/i.test(line))).toEqual([]);
  });

  function assertRunning(): void {
    if (run?.exitCode !== null && run?.exitCode !== undefined) {
      throw new Error(`bash hack/run exited with ${run.exitCode}:\n${runOutput.slice(-20).join('\n')}`);
    }
  }

  async function readCalls(file: string): Promise<string[]> {
    const text = await readFile(join(calls, file), 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean);
  }
});
