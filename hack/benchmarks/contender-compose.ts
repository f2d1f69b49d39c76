// Compose: Debian's `docker-compose` (v1) with one service per Session: same image, entrypoint,
// restart policy and network (the default bridge, like the floor and dockerlet; a project network
// would be extra work only Compose does). Up is `up -d` from its start; teardown `down -t 0`
// (kill at once, as dockerlet's and the floor's force remove do). COMPOSE_PARALLEL_LIMIT is set
// above 2 × N: with fewer slots than services, Compose v1 deadlocks (every slot holds a create
// waiting for a nested start that gets none; docker/compose#5864, #7486): here, at N = 300 with its
// default of 64, it stopped after 26–48 containers with all threads in futex waits. So Compose
// runs unbounded, its behaviour before that limit existed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { run } from './command.ts';
import type { Contender } from './contender.ts';
import { BENCH_IMAGE, removeByLabel } from './engine.ts';
import { BENCH_ID_LABEL } from './contender-floor.ts';

/** `docker-compose` of Debian's package, unless overridden (hack/bench installs it when missing). */
export const COMPOSE = process.env['DOCKERLET_BENCH_COMPOSE'] ?? 'docker-compose';

export function composeFile(id: string, sessions: number): string {
  const lines = ['version: "2.4"', 'services:'];
  for (let i = 0; i < sessions; i++) {
    lines.push(
      `  s-${String(i).padStart(4, '0')}:`,
      `    image: ${BENCH_IMAGE}`,
      '    entrypoint: [sleep, infinity]',
      '    restart: unless-stopped',
      '    network_mode: bridge',
      `    labels: {${BENCH_ID_LABEL}: "${id}"}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export class ComposeContender implements Contender {
  readonly name = 'compose' as const;
  readonly label: string;
  private dir = '';

  constructor(
    private readonly docker: Docker,
    private readonly id: string,
    private readonly sessions: number,
    private readonly timeoutMs: number,
  ) {
    this.label = `${BENCH_ID_LABEL}=${id}`;
  }

  private args(...command: string[]): string[] {
    return ['--ansi', 'never', '--project-name', `dlbc${this.id.replace(/[^a-z0-9]/g, '')}`, '--file', join(this.dir, 'docker-compose.yml'), ...command];
  }

  async prepare(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'dockerlet-bench-compose-'));
    await writeFile(join(this.dir, 'docker-compose.yml'), composeFile(this.id, this.sessions));
  }

  private get env(): Record<string, string> {
    return { COMPOSE_PARALLEL_LIMIT: String(2 * this.sessions + 64) };
  }

  async up(signal: AbortSignal): Promise<void> {
    await run(COMPOSE, this.args('up', '--detach'), { cwd: this.dir, env: this.env, signal, timeoutMs: this.timeoutMs });
  }

  async down(signal: AbortSignal): Promise<void> {
    await run(COMPOSE, this.args('down', '--timeout', '0'), { cwd: this.dir, env: this.env, signal, timeoutMs: this.timeoutMs });
  }

  check(): void {}

  async dispose(): Promise<void> {
    await removeByLabel(this.docker, this.label);
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
