import { Command } from 'commander';
import { agentConfig, agentOptions, commonOptions, configOrExit } from '../config.ts';
import type { RawAgentOptions, RawRedisOptions } from '../config.ts';
import { startAgent } from '../agent.ts';
import { createLogger } from '../logger.ts';
import { StartupError } from '../startup-error.ts';
import { FileLockRefused } from '../leader/file-lock-host.ts';
import { NotASwarmTaskError } from '../leader/swarm/context.ts';

export function agentCommand(): Command {
  const command = new Command('agent')
    .description('Run the agent: follow the Sessions (a YAML directory, a Git repository, or Kubernetes) and converge the local Docker engine.')
    .addHelpText(
      'after',
      `
Examples:
  dockerlet agent --store ./examples
  DOCKERLET_STORE=/srv/gitops/sessions dockerlet agent --listen 0.0.0.0:9464 --log-format json
  dockerlet agent --store kubernetes --kubeconfig ~/.kube/config --namespace team-a
  dockerlet agent --store git:https://example.org/ops/sessions.git#main:prod --git-poll-interval 1m
    (then POST http://<listen>/git/fetch from a push webhook to fetch at once)

Every flag can also be set by the environment variable shown next to it.
SIGINT or SIGTERM stops the agent; running containers keep running and are adopted on the next start.`,
    );
  for (const option of [...commonOptions(), ...agentOptions()]) command.addOption(option);
  return command.action(async (raw: RawAgentOptions & RawRedisOptions) => {
    const config = configOrExit(command, () => agentConfig(raw));
    const logger = createLogger(config.logFormat, config.logLevel);
    let agent: Awaited<ReturnType<typeof startAgent>>;
    try {
      agent = await startAgent(config, { logger });
    } catch (error) {
      // A refusal to start is the user's to fix: one line naming the flag, exit status 2.
      if (error instanceof StartupError || error instanceof FileLockRefused || error instanceof NotASwarmTaskError) {
        logger.flush();
        command.error(`error: ${error.message}`, { exitCode: 2 });
      }
      throw error;
    }
    const shutdown = (signal: string): void => {
      logger.info({ signal }, 'signal received');
      agent.stop().catch((error: unknown) => logger.error({ err: error }, 'stop failed'));
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    await agent.done;
    logger.flush();
  });
}
