// What the numbers were measured on, recorded next to them in the JSON report.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type Docker from 'dockerode';
import { engineFacts } from './engine.ts';
import type { EngineFacts } from './engine.ts';

export interface Machine {
  date: string;
  /** What `nproc` says: the CPUs this process may use. */
  nproc: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  node: string;
  engine: EngineFacts;
  /** The commit measured, and whether the tree had local changes (numbers then mean less). */
  git?: { commit: string; dirty: boolean };
}

function gitState(): Machine['git'] {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return { commit, dirty };
  } catch {
    return undefined;
  }
}

export async function describeMachine(docker: Docker): Promise<Machine> {
  const machine: Machine = {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    kernel: os.release(),
    node: process.version,
    engine: await engineFacts(docker),
  };
  const git = gitState();
  if (git) machine.git = git;
  return machine;
}
