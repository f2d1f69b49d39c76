// The config of an agent run in-process by an integration test: one world's store, state and
// name, the test engine, a free port, quiet logs, and no periodic resync (tests trigger their own).
import type { AgentConfig } from '../../agent/config.ts';
import { defaultHostPolicy } from '../../controllers/session/policy.ts';
import type { HostPolicy } from '../../controllers/session/policy.ts';
import type { AgentWorld } from './agent-process.ts';
import { freePort, TEST_DOCKER_SOCKET } from './docker.ts';

/** The agent's default host policy (nothing from the host beyond Docker's defaults), plus what a test needs. */
export function testPolicy(allow: Partial<HostPolicy> = {}): HostPolicy {
  return { ...defaultHostPolicy(TEST_DOCKER_SOCKET), ...allow };
}

export async function inProcessAgentConfig(world: AgentWorld, overrides: Partial<AgentConfig> = {}): Promise<AgentConfig> {
  return {
    store: { kind: 'yaml', dir: world.storeDir },
    stateDir: world.stateDir,
    agentName: world.agentName,
    dockerSocket: TEST_DOCKER_SOCKET,
    runtime: 'docker',
    listenHost: '127.0.0.1',
    listenPort: await freePort(),
    logFormat: 'json',
    logLevel: 'error',
    workers: 4,
    resyncPeriodMs: 3_600_000,
    reconcileTimeoutMs: 60_000,
    stopTimeoutSeconds: 1,
    heartbeatIntervalMs: 1_000,
    gitPollIntervalMs: 30_000,
    pruneEmptyStore: false,
    leaderElection: 'none',
    lockDir: world.stateDir,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    livenessGraceMs: 3_000,
    agentLabels: {},
    rescheduleAfterMs: 60_000,
    cordon: false,
    fleetFlags: [],
    policy: testPolicy(),
    ...overrides,
  };
}
