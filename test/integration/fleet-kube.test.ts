// A fleet on one real kube-apiserver (README "Fleet"): two and three agent processes with distinct
// names and state directories on the one engine, all watching one namespace; bindings in Session
// status, each written conditionally on resourceVersion; kill -9 and return (fleet-scenario.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { removeContainersByLabel, requireTestEngine } from '../support/docker.ts';
import { FAST_FLEET_FLAGS, FleetOfAgents } from '../support/fleet.ts';
import { runFleetScenario } from '../support/fleet-scenario.ts';
import { installCrds, requireTestKube, TEST_KUBECONFIG } from '../support/kube.ts';
import { deleteAgentRecords, kubeOnlineSince } from '../support/kube-agents.ts';
import { KubeWorld } from '../support/kube-world.ts';

const SESSIONS = 20;

describe('fleet on Kubernetes', () => {
  let kc: KubeConfig;
  let kube: KubeWorld | undefined;
  let fleet: FleetOfAgents | undefined;

  beforeEach(async () => {
    await requireTestEngine();
    kc = await requireTestKube();
    await installCrds(kc);
    kube = await KubeWorld.create(kc, 'dlt-fleet');
  });

  afterEach(async () => {
    await fleet?.cleanup();
    await deleteAgentRecords(kc, fleet?.names() ?? []);
    fleet = undefined;
    if (kube) await removeContainersByLabel(`dockerlet.dev/namespace=${kube.namespace}`);
    await kube?.cleanup();
  });

  for (const size of [2, 3]) {
    it(`${size} agents: ${SESSIONS} Sessions run once each, spread; a killed agent's move within reschedule-after + 10 s; back, its stale copies go`, async () => {
      const world = kube!;
      fleet = await FleetOfAgents.create(size, () => ['--store', 'kubernetes', '--kubeconfig', TEST_KUBECONFIG, '--namespace', world.namespace, ...FAST_FLEET_FLAGS]);
      const names = Array.from({ length: SESSIONS }, (_, i) => `s${String(i).padStart(2, '0')}`);
      const keys = names.map((n) => `${world.namespace}/${n}`);
      const report = await runFleetScenario({
        fleet,
        namespace: world.namespace,
        keys,
        createSessions: async () => {
          for (const name of names) await world.createSession(name);
        },
        onlineSince: kubeOnlineSince(kc),
      });
      // Each Session's status names the agent that runs it, with the epoch its container carries.
      const sessions = await world.listSessions();
      for (const session of sessions) {
        const binding = (session.status as { binding?: { agent: string; epoch: number } } | undefined)?.binding;
        expect(binding?.agent, session.metadata.name).toBeDefined();
        expect(binding?.agent, session.metadata.name).not.toBe(report.victim);
        expect(session.status?.conditions?.find((c) => c.type === 'Scheduled')?.status, session.metadata.name).toBe('True');
      }
      const table = await world.table();
      expect(table.columns).toContain('Agent');
      console.log(`fleet kube ${size} agents: spread ${JSON.stringify([...report.spread])}, converged in ${report.convergedMs} ms, moved within ${report.movedWithinMs} ms, ${report.pollsAfterOnline} polls after return`);
    }, 240_000);
  }
});
