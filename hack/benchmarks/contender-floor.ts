// The floor: a plain dockerode loop, `concurrency` create+start at a time, then force-removes at
// the same concurrency. It is what any tool must pay the engine for the same containers, with no
// desired state, status or event handling on top; dockerlet is judged by its ratio to it.
import type Docker from 'dockerode';
import type { Contender } from './contender.ts';
import { BENCH_IMAGE, pool, removeByLabel } from './engine.ts';

export const BENCH_ID_LABEL = 'dockerlet-bench.id';

export class FloorContender implements Contender {
  readonly name = 'floor' as const;
  readonly label: string;

  constructor(
    private readonly docker: Docker,
    private readonly id: string,
    private readonly sessions: number,
    private readonly concurrency: number,
  ) {
    this.label = `${BENCH_ID_LABEL}=${id}`;
  }

  async prepare(): Promise<void> {}

  async up(signal: AbortSignal): Promise<void> {
    // The container dockerlet creates for the Session: entrypoint, default bridge, restart policy.
    await pool(
      this.sessions,
      this.concurrency,
      async (i) => {
        const container = await this.docker.createContainer({
          name: `dlbench-${this.id}-${String(i).padStart(4, '0')}`,
          Image: BENCH_IMAGE,
          Entrypoint: ['sleep', 'infinity'],
          Labels: { [BENCH_ID_LABEL]: this.id },
          HostConfig: { RestartPolicy: { Name: 'unless-stopped' } },
        });
        await container.start();
      },
      signal,
    );
  }

  async down(signal: AbortSignal): Promise<void> {
    // One list, then force removes (SIGKILL and remove in one call), as dockerlet removes.
    const containers = await this.docker.listContainers({ all: true, filters: { label: [this.label] } });
    await pool(containers.length, this.concurrency, async (i) => this.docker.getContainer(containers[i]!.Id).remove({ force: true, v: true }), signal);
  }

  check(): void {}

  async dispose(): Promise<void> {
    await removeByLabel(this.docker, this.label, this.concurrency);
  }
}
