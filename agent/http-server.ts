// /metrics, /healthz and /readyz. Every replica serves them, leader or not. With a Git store,
// also POST /git/fetch: a webhook target that fetches now.
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
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
  /**
   * POST /git/fetch (Git stores): fetch now and answer when that fetch (and the apply of a new
   * commit) is done. The request body is ignored: whatever a webhook sends, the agent only
   * fetches the repository it was configured with, so the endpoint needs no secret.
   */
  gitFetch?: () => Promise<{ ok: boolean }>;
}

export const GIT_FETCH_PATH = '/git/fetch';

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
    if (path === GIT_FETCH_PATH && options.gitFetch) {
      handleGitFetch(request.method, options.gitFetch, response);
      // Drain the webhook's payload so the connection can be reused; its content is not needed.
      request.resume();
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

function handleGitFetch(method: string | undefined, gitFetch: () => Promise<{ ok: boolean }>, response: ServerResponse): void {
  if (method !== 'POST') {
    response.writeHead(405, { allow: 'POST', 'content-type': 'text/plain; charset=utf-8' });
    response.end(`${GIT_FETCH_PATH} takes POST (a webhook target); it fetches the Git store now\n`);
    return;
  }
  gitFetch().then(
    (result) => {
      // 502: the upstream repository could not be fetched or its commit not applied (body says why).
      response.writeHead(result.ok ? 200 : 502, { 'content-type': 'application/json' });
      response.end(`${JSON.stringify(result)}\n`);
    },
    (error: unknown) => {
      response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(`${error instanceof Error ? error.message : String(error)}\n`);
    },
  );
}
