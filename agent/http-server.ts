// /metrics, /healthz and /readyz. Every replica serves them, leader or not.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface Probe {
  /** Empty when fine; otherwise the reasons, one per line in the response. */
  (): string[];
}

export interface HttpServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** Liveness: the process can do its job (fails only when a restart would help). */
  healthy: Probe;
  /** Readiness: caches synced, engine reachable. */
  ready: Probe;
}

export async function startHttpServer(options: HttpServerOptions): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const probe = path === '/healthz' ? options.healthy : path === '/readyz' ? options.ready : undefined;
    if (probe) {
      const problems = probe();
      response.writeHead(problems.length === 0 ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(problems.length === 0 ? 'ok\n' : `${problems.join('\n')}\n`);
      return;
    }
    if (path === '/metrics') {
      options.registry
        .metrics()
        .then((text) => {
          response.writeHead(200, { 'content-type': options.registry.contentType });
          response.end(text);
        })
        .catch((error: unknown) => {
          response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          response.end(`${error instanceof Error ? error.message : String(error)}\n`);
        });
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    response.end('not found: try /metrics, /healthz or /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
