// dockerlet's command line. Each command lives in agent/commands/; this file only assembles them.
import { Command } from 'commander';
import { agentCommand } from './commands/agent.ts';
import { diffCommand } from './commands/diff.ts';
import { getCommand } from './commands/get.ts';
import { validateCommand } from './commands/validate.ts';
import { drainCommand } from './commands/drain.ts';

const program = new Command('dockerlet')
  .description(
    'A Kubernetes-style reconciling controller for Docker hosts: declare Sessions (one long-running container each) in YAML, and the agent keeps the engine converged.',
  )
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .addCommand(agentCommand())
  .addCommand(getCommand())
  .addCommand(diffCommand())
  .addCommand(validateCommand())
  .addCommand(drainCommand());

await program.parseAsync(process.argv);
