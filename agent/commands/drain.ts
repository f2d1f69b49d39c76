// `dockerlet drain AGENT`: asks the fleet's scheduler to take no new Sessions on AGENT and to move
// the Sessions bound there to other agents, one at a time (each waits until it runs on its new agent
// before the next moves). `--undo` takes the request back: the agent takes new Sessions again (what
// moved off stays where it is). The request lives where the fleet's bindings do: the Agent object's
// spec.drain on Kubernetes, the fleet's `draining` set in Redis.
import { Command, Option } from 'commander';
import type { AgentStatus, SessionBinding } from '../../crds/types.ts';
import { parseAgentStatus } from '../../controllers/agent/record.ts';
import { REDIS_KEYS } from '../state-layout.ts';
import { fleetRedisPrefix } from '../fleet.ts';
import { commonOptions, kubeOptions, redisOptions } from '../config.ts';
import type { RawCommonOptions, RawRedisOptions } from '../config.ts';
import { openRedis, redisReady } from '../redis/open-redis.ts';
import { decodeBinding } from '../status/redis-binding-store.ts';
import { requestDrain } from '../status/redis-drain-requests.ts';
import { readRedisSnapshot } from '../status/redis-status-store.ts';
import { readOnlyConfig, quietLogger } from './shared.ts';
import { recordedFleet, redisFor } from './status-source.ts';

interface DrainOptions extends RawCommonOptions, RawRedisOptions {
  undo: boolean;
  fleet?: string;
  kubeconfig?: string;
}

export function drainCommand(): Command {
  const command = new Command('drain')
    .description(
      'take no new Sessions on AGENT and move those bound there to other agents of the fleet, one at a time (README "Fleet"); --undo takes the request back',
    )
    .argument('<agent>', 'the agent to drain (its --agent-name)')
    .addOption(new Option('--undo', 'stop draining AGENT: it takes new Sessions again').default(false))
    .addOption(new Option('--fleet <name>', 'the fleet (default: the one the agent of --state-dir recorded)').env('DOCKERLET_FLEET'))
    .addHelpText(
      'after',
      '\nOn Kubernetes (--store kubernetes) it sets spec.drain on the Agent object, like\n' +
        '  kubectl patch agent AGENT --type merge -p \'{"spec":{"drain":true}}\'\n' +
        'On a YAML or Git store with --redis it adds AGENT to the fleet\'s set dockerlet:fleet:<fleet>:draining.\n' +
        'Watch the moves with `dockerlet get sessions` (or `kubectl get sessions`): the AGENT column.',
    );
  for (const option of [...commonOptions(), ...redisOptions(), ...kubeOptions().filter((o) => o.long === '--kubeconfig')]) command.addOption(option);
  return command.action(async (agent: string, options: DrainOptions, self: Command) => {
    const drain = !options.undo;
    if (options.store === 'kubernetes') {
      // Loaded only here: the Kubernetes client costs every other command (and the agent in a
      // 256 MiB task, with `get` exec'd beside it) about 100 MB it does not need.
      const { kubeConfigFor, patchAgentDrain } = await import('../kube/kube-backends.ts');
      const kubeConfig = kubeConfigFor(options.kubeconfig, 'dockerlet drain --store kubernetes');
      await patchAgentDrain(kubeConfig, agent, drain);
      process.stdout.write(`agent ${agent}: ${drain ? 'draining: no new Sessions; the fleet\'s scheduler moves its Sessions off one at a time' : 'no longer draining: it takes new Sessions again'}\n`);
      return;
    }
    const config = await readOnlyConfig(self, options);
    const redis = await redisFor(config, options);
    const fleet = options.fleet ?? (await recordedFleet(config.stateDir));
    if (!redis || !fleet) {
      self.error(
        `error: dockerlet drain needs the fleet's shared status: pass --redis <url> and --fleet <name> (or --state-dir of an agent of the fleet, which recorded both), or --store kubernetes with --kubeconfig`,
        { exitCode: 2 },
      );
    }
    const client = await openRedis(redis, quietLogger());
    try {
      await redisReady(client, quietLogger());
      const prefix = fleetRedisPrefix(fleet);
      // A mistyped name would be drained forever without a word: only agents the fleet has seen.
      const known = [...(await readRedisSnapshot<AgentStatus>(client, REDIS_KEYS.agents, { decode: parseAgentStatus }))].filter(([, r]) => r.fleet === fleet).map(([name]) => name);
      if (drain && !known.includes(agent)) {
        self.error(`error: no agent "${agent}" in fleet ${fleet} (agents seen: ${known.sort().join(', ') || 'none'}); see dockerlet get agents`, { exitCode: 2 });
      }
      const changed = await requestDrain(client, prefix, agent, drain);
      const bindings = await readRedisSnapshot<SessionBinding>(client, `${prefix}:bindings`, { decode: decodeBinding });
      const bound = [...bindings.values()].filter((b) => b.agent === agent).length;
      const state = drain
        ? `draining${changed ? '' : ' (already)'}: no new Sessions; ${bound} bound here move off one at a time`
        : `${changed ? 'no longer draining' : 'was not draining'}: it takes new Sessions again`;
      process.stdout.write(`agent ${agent} in fleet ${fleet}: ${state}\n`);
    } finally {
      client.disconnect();
    }
  });
}
