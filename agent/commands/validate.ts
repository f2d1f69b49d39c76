// `dockerlet validate FILE...`: judges files the way the agent's store (and `kubectl apply`
// against the CRDs) would, before they reach a store; with --policy also the way an agent with the
// same --allow-*/--max-* flags would (offline: symlinks on the agents' hosts cannot be followed here).
import { Command, Option } from 'commander';
import { validateFiles } from '../../crds/load-yaml.ts';
import type { ExtraCheck } from '../../crds/load-yaml.ts';
import { policyProblems } from '../../controllers/session/policy.ts';
import { configOrExit, policyOptions } from '../config.ts';
import { hostPolicyConfig } from '../policy-config.ts';
import type { RawPolicyOptions } from '../policy-config.ts';

interface ValidateOptions extends RawPolicyOptions {
  quiet?: boolean;
  policy?: boolean;
  dockerSocket: string;
}

/** The engine socket the policy refuses besides /var/run/docker.sock and /run/docker.sock. */
const DEFAULT_SOCKET = '/var/run/docker.sock';

export function validateCommand(): Command {
  const command = new Command('validate')
    .description('Check Session/Agent YAML against the CRD schema (and with --policy against an agent\'s host policy); prints every problem with file, line and field path.')
    .argument('<paths...>', 'files or directories (searched recursively for *.yaml and *.yml)')
    .option('-q, --quiet', 'print problems only, not the files that passed')
    .option('--policy', 'also refuse what an agent with these --allow-*/--max-* flags would refuse (Stalled PolicyViolation there)')
    .addOption(new Option('--docker-socket <path>', 'with --policy: the agents\' engine socket, refused as a hostPath').default(DEFAULT_SOCKET))
    .addHelpText(
      'after',
      `
Exit status: 0 when every document is valid, 1 when any is not, 2 on a bad flag.

--policy takes the agent's policy flags and defaults (see README "Host policy"). It judges paths
as written: symlinks on the agents' hosts are followed by the agent, not here.

Example:
  dockerlet validate examples/
  dockerlet validate session.yaml other.yaml
  dockerlet validate --policy --allow-host-paths /srv/sessions --allow-host-ports 8000-8999 sessions/`,
    );
  for (const option of policyOptions()) command.addOption(option);
  return command.action(async (paths: string[], options: ValidateOptions) => {
    let extra: ExtraCheck | undefined;
    if (options.policy) {
      const policy = configOrExit(command, () => hostPolicyConfig(options, options.dockerSocket));
      extra = (object) => (object.kind === 'Session' ? policyProblems(policy, object) : []);
    } else {
      const given = policyOptions().map((o) => o.attributeName()).filter((name) => command.getOptionValueSource(name) === 'cli');
      if (given.length > 0) command.error(`error: ${given.map((n) => `--${n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} count only with --policy`, { exitCode: 2 });
    }
    const reports = await validateFiles(paths, extra);
    let bad = 0;
    let documents = 0;
    for (const report of reports) {
      documents += report.documents.length;
      if (report.ok) {
        if (!options.quiet) process.stdout.write(`${report.path}: valid (${report.documents.length} document(s))\n`);
        continue;
      }
      bad += 1;
      for (const problem of report.problems) process.stderr.write(`${problem.message}\n`);
    }
    if (reports.length === 0) {
      process.stderr.write(`no *.yaml or *.yml files found in ${paths.join(', ')}\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(bad === 0 ? `${documents} document(s) in ${reports.length} file(s): all valid\n` : `${bad} of ${reports.length} file(s) invalid\n`);
    process.exitCode = bad === 0 ? 0 : 1;
  });
}
