// What the README quick-start e2e test needs around the commands it runs: the commands themselves
// (read from the README), a copy of this checkout to run them in, and stand-ins on PATH that record
// which tools the quick start calls.
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import type { CliResult } from './agent-process.ts';

/**
 * The lines of the ```sh blocks in the README's "## Quick start" section, as written (a trailing
 * `# comment` included: bash ignores it). Fails when the section or its commands are missing.
 */
export function quickStartCommands(readme: string): string[] {
  const section = /^## Quick start\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (section === undefined) throw new Error('README.md has no "## Quick start" section');
  const commands: string[] = [];
  for (const block of section.matchAll(/^```sh\n([\s\S]*?)^```/gm)) {
    for (const line of (block[1] ?? '').split('\n')) {
      if (line.trim() !== '' && !line.trim().startsWith('#')) commands.push(line.trim());
    }
  }
  if (commands.length === 0) throw new Error('README.md\'s "Quick start" section has no ```sh block');
  return commands;
}

/** Runs one command line with `bash -c` to completion. */
export function runShell(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', command], { cwd, env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error && typeof error.code === 'number' ? error.code : error ? 1 : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function git(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
}

/**
 * Copies the checkout's files as they are in the working tree (tracked and untracked, not ignored)
 * to `to` (copyFile keeps their modes), and links node_modules to the checkout's: hack/run then finds the
 * dependencies installed (it compares npm's record with package-lock.json, not file times).
 */
export async function copyCheckout(from: string, to: string): Promise<void> {
  const files = (await git(['ls-files', '-z', '--cached', '--others', '--exclude-standard'], from)).split('\0').filter(Boolean);
  for (const file of files) {
    const source = join(from, file);
    if (!existsSync(source) || file === 'node_modules') continue; // deleted in the working tree; the link below
    await mkdir(dirname(join(to, file)), { recursive: true });
    await copyFile(source, join(to, file));
  }
  await symlink(await realpath(join(from, 'node_modules')), join(to, 'node_modules'));
}

/** Tools the quick start must never run: each stand-in records its call and fails. */
export const FORBIDDEN_TOOLS = ['redis-server', 'redis-cli', 'go', 'kube-apiserver', 'etcd', 'kubectl', 'apt-get', 'npm'] as const;

/**
 * Writes the stand-ins into `dir` (to go first on PATH): the forbidden tools, and a docker wrapper
 * that appends its arguments to `<calls>/docker.calls` and runs the real docker CLI.
 */
export async function writeToolShims(dir: string, calls: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const realDocker = await commandPath('docker');
  const shims: [string, string][] = [
    ['docker', `#!/bin/sh\nprintf '%s\\n' "$*" >>'${calls}/docker.calls'\nexec '${realDocker}' "$@"\n`],
    ...FORBIDDEN_TOOLS.map((tool): [string, string] => [
      tool,
      `#!/bin/sh\nprintf '%s %s\\n' '${tool}' "$*" >>'${calls}/forbidden.calls'\necho 'quick-start test: the quick start must not run ${tool}' >&2\nexit 97\n`,
    ]),
  ];
  for (const [name, text] of shims) {
    await writeFile(join(dir, name), text);
    await chmod(join(dir, name), 0o755);
  }
  return dir;
}

function commandPath(name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', `command -v ${name}`], (error, stdout) => (error ? reject(new Error(`${name} is not installed`)) : resolve(stdout.trim())));
  });
}

/** Pids of processes whose command name is exactly `name`, sorted. */
export function processIds(name: string): Promise<number[]> {
  return new Promise((resolve) => {
    execFile('pgrep', ['-x', name], (_error, stdout) => resolve(stdout.split('\n').filter(Boolean).map(Number).sort((a, b) => a - b)));
  });
}

/** Which of these TCP ports on 127.0.0.1 cannot be listened on right now. */
export async function portsInUse(ports: number[]): Promise<number[]> {
  const busy: number[] = [];
  for (const port of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (!free) busy.push(port);
  }
  return busy;
}
