// A recording pass-through in front of the real engine socket, one per agent replica: the agent
// is given this socket (--docker-socket), every byte goes to the real engine unchanged, and each
// request that changes something (any method but GET and HEAD) is recorded with the time it passed
// through, on the test's clock. The record lives outside the agent process, so a replica that was
// frozen cannot hide a write it sent after waking. Not a mock: the engine does all the work.
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { TEST_DOCKER_SOCKET } from './docker.ts';

export interface EngineRequest {
  /** Date.now() when the request line passed through. */
  at: number;
  method: string;
  /** Without the API version prefix, e.g. /containers/create. */
  path: string;
}

const REQUEST_LINE = /(GET|HEAD|POST|PUT|DELETE|PATCH) (\/[^ \r\n]*) HTTP\/1\.[01]\r\n/g;
/** Kept between chunks so a request line split across two is still seen. */
const CARRY = 512;

export class EngineRecorder {
  readonly writes: EngineRequest[] = [];
  readonly #sockets = new Set<Socket>();

  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {}

  /** Listens on `path` and forwards to the test engine. */
  static async start(path: string, engine = TEST_DOCKER_SOCKET): Promise<EngineRecorder> {
    let recorder: EngineRecorder | undefined;
    const server = createServer((client) => recorder!.forward(client, engine));
    recorder = new EngineRecorder(path, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    return recorder;
  }

  /** Writes that passed through at or after `from`. */
  writesSince(from: number): EngineRequest[] {
    return this.writes.filter((w) => w.at >= from);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(client: Socket, engine: string): void {
    const upstream = createConnection(engine);
    this.#sockets.add(client).add(upstream);
    let carried = '';
    client.on('data', (chunk: Buffer) => {
      const text = carried + chunk.toString('latin1');
      let consumed = 0;
      for (const match of text.matchAll(REQUEST_LINE)) {
        const [, method, path] = match;
        if (method !== 'GET' && method !== 'HEAD') this.writes.push({ at: Date.now(), method: method!, path: path!.replace(/^\/v\d+\.\d+/, '') });
        consumed = match.index + match[0].length;
      }
      carried = text.slice(Math.max(consumed, text.length - CARRY));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }
}

