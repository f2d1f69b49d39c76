// `dockerlet diff`: the plan the agent would execute now, without executing it.
import { Command } from 'commander';
import { Registry } from 'prom-client';
import { ContainerCache } from '../../controllers/session/container-cache.ts';
import { ownedBy } from '../../controllers/session/labels.ts';
import { ImagePresence } from '../../controllers/session/image-presence.ts';
import { observe } from '../../controllers/session/observe.ts';
import { plan, planToString } from '../../controllers/session/plan.ts';
import { commonOptions, configOrExit, policyOptions } from '../config.ts';
import type { RawCommonOptions } from '../config.ts';
import { hostPolicyConfig, resolveEngineSocket } from '../policy-config.ts';
import type { RawPolicyOptions } from '../policy-config.ts';
import { openRuntime } from '../runtime/open-runtime.ts';
import { loadStoreOnce, quietLogger, readOnlyConfig } from './shared.ts';

interface DiffOptions extends RawCommonOptions, RawPolicyOptions {
  pruneEmptyStore?: boolean;
}

export function diffCommand(): Command {
  const command = new Command('diff')
    .description('Print the plan the agent would execute now (desired store vs the engine), without executing it.')
    .option('--prune-empty-store', 'plan removals even when the store is empty (as the agent flag does)')
    .addHelpText(
      'after',
      `
Exit status: 0 when the engine matches the store, 1 when there are changes to make, 2 on errors.
Give it the agent's --allow-*/--max-* flags: a Session the agent's host policy refuses shows as
"stalled: PolicyViolation" and plans nothing.

Example:
  dockerlet diff --store ./examples`,
    );
  for (const option of [...commonOptions(), ...policyOptions()]) command.addOption(option);
  return command.action(async (options: DiffOptions, self: Command) => {
    const config = await readOnlyConfig(self, options);
    const policy = await resolveEngineSocket(configOrExit(self, () => hostPolicyConfig(options, config.dockerSocket)));
    const logger = quietLogger();
    const store = await loadStoreOnce(config.storeDir, logger);
    const runtime = openRuntime({ runtime: config.runtime, socketPath: config.dockerSocket, registry: new Registry(), logger, stopTimeoutSeconds: 10 });
    const cache = new ContainerCache({ runtime, selector: ownedBy(config.agentName), logger, onChange: () => {} });
    await cache.relist();
    const images = new ImagePresence(runtime);
    for (const problem of store.loadProblems()) process.stderr.write(`warning: store: ${problem}\n`);
    const mayDeleteUndesired = store.isComplete() && (options.pruneEmptyStore === true || store.size() > 0);
    const keys = [...new Set([...store.list().map((e) => e.key), ...cache.keys()])].sort();
    let changes = 0;
    for (const key of keys) {
      const observed = await observe({ agent: config.agentName, store, cache, images, runtime, policy }, key);
      if (observed.entry?.problem) process.stdout.write(`${key}: ${observed.entry.problem.message}\n`);
      if (observed.entry?.problem && !observed.entry.object) continue;
      const thePlan = plan({
        key,
        agent: config.agentName,
        desired: observed.desired,
        containers: observed.containers,
        imagePresent: observed.imagePresent,
        ...(observed.envFiles ? { envFiles: observed.envFiles } : {}),
        ...(observed.missingNetworks ? { missingNetworks: observed.missingNetworks } : {}),
        ...(observed.refused ? { refused: observed.refused } : {}),
        mayDeleteUndesired,
        crashLoop: { consecutiveRestarts: 0 },
        now: Date.now(),
      });
      if (thePlan.operations.length === 0 && !thePlan.wait && !thePlan.stalled) continue;
      changes += thePlan.operations.length;
      process.stdout.write(`${planToString(thePlan)}\n`);
    }
    process.stdout.write(changes === 0 ? `No changes: ${keys.length} session(s) match the engine.\n` : `${changes} operation(s) pending.\n`);
    process.exitCode = changes === 0 ? 0 : 1;
  });
}
