// The agent as a Swarm service, the way a user deploys it (deploy/swarm/stack.yml), from the image
// hack/images/build-agent.sh builds locally: the engine socket mounted, a bind-mounted directory
// for the leadership ledger, an overlay network (peers get addresses from its attachments).
import { execFile } from 'node:child_process';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LeaseTimings } from '../../reconciler/leader.ts';
import { REPO } from './agent-process.ts';
import { dockerCli, TEST_DOCKER_SOCKET } from './docker.ts';
import { SWARM_TEST_LABEL } from './swarm.ts';

export const TEST_AGENT_IMAGE = process.env['TEST_AGENT_IMAGE'] ?? 'dockerlet-test/agent:latest';

/** Runs one of hack/images/build-*.sh, which builds its image or finds it up to date. */
export function buildLocalImage(script: 'build-agent.sh' | 'build-redis.sh'): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('bash', [join(REPO, 'hack/images', script)], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`bash hack/images/${script} failed: ${stderr.trim() || error.message}`, { cause: error }));
      else resolve();
    });
  });
}

/** Builds (or finds up to date) the local agent image; minutes on a cold, busy machine. */
export function buildAgentImage(): Promise<void> {
  return buildLocalImage('build-agent.sh');
}

export interface AgentServiceOptions {
  /** Service name, also the agent name. */
  name: string;
  runId: string;
  replicas: number;
  backend: 'swarm' | 'file';
  timings: LeaseTimings;
  /** Host directory (world-writable) mounted at /ledger; the ledger is /ledger/ledger.jsonl. */
  ledgerDir: string;
  /** Swarm's restart condition: `any` for agents, `none` to see a refusal once. */
  restartCondition?: 'any' | 'none';
}

/** A world-writable host directory for the ledger (the agent runs as uid 10001). */
export async function ledgerDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dockerlet-swarm-ledger-'));
  await chmod(dir, 0o777);
  return dir;
}

const ms = (value: number): string => `${value}ms`;

/** Creates the overlay network and the agent service; returns the service ID. */
export async function deployAgentService(options: AgentServiceOptions): Promise<string> {
  const label = `${SWARM_TEST_LABEL}=${options.runId}`;
  const network = `${options.name}-net`;
  await dockerCli(['network', 'create', '--driver', 'overlay', '--label', label, network]);
  return dockerCli([
    'service', 'create', '--detach', '--quiet',
    '--name', options.name,
    '--replicas', String(options.replicas),
    '--no-resolve-image',
    '--restart-condition', options.restartCondition ?? 'any',
    '--restart-delay', '1s',
    '--label', label,
    '--container-label', label,
    '--network', network,
    '--mount', `type=bind,src=${TEST_DOCKER_SOCKET},dst=/var/run/docker.sock`,
    '--mount', `type=bind,src=${options.ledgerDir},dst=/ledger`,
    TEST_AGENT_IMAGE,
    'agent',
    '--agent-name', options.name,
    '--leader-election', options.backend,
    '--lease-duration', ms(options.timings.leaseDurationMs),
    '--renew-deadline', ms(options.timings.renewDeadlineMs),
    '--retry-period', ms(options.timings.retryPeriodMs),
    '--leader-ledger', '/ledger/ledger.jsonl',
  ]);
}

export interface AgentLogLine {
  msg: string;
  time: number;
  [field: string]: unknown;
}

/** The agent's JSON log lines from one container (stdout and stderr). */
export async function agentLogs(containerId: string): Promise<AgentLogLine[]> {
  const text = await new Promise<string>((resolve, reject) => {
    execFile('docker', ['--host', `unix://${TEST_DOCKER_SOCKET}`, 'logs', containerId], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      error ? reject(error) : resolve(`${stdout}\n${stderr}`),
    );
  });
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as AgentLogLine);
}

/** What `docker service logs --raw` has for a service (failed tasks included). */
export function serviceLogs(service: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', ['--host', `unix://${TEST_DOCKER_SOCKET}`, 'service', 'logs', '--raw', service], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (error, stdout, stderr) =>
      error ? reject(error) : resolve(`${stdout}\n${stderr}`),
    );
  });
}
