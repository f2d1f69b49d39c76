// `dockerlet validate FILE...`: judges files the way the agent's store (and `kubectl apply`
// against the CRDs) would, before they reach a store.
import { Command } from 'commander';
import { validateFiles } from '../../crds/load-yaml.ts';

export function validateCommand(): Command {
  return new Command('validate')
    .description('Check Session/Agent YAML against the CRD schema; prints every problem with file, line and field path.')
    .argument('<paths...>', 'files or directories (searched recursively for *.yaml and *.yml)')
    .option('-q, --quiet', 'print problems only, not the files that passed')
    .addHelpText(
      'after',
      `
Exit status: 0 when every document is valid, 1 when any is not.

Example:
  dockerlet validate examples/
  dockerlet validate session.yaml other.yaml`,
    )
    .action(async (paths: string[], options: { quiet?: boolean }) => {
      const reports = await validateFiles(paths);
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
