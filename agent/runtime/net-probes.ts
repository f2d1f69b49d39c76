// The network half of httpGet and tcpSocket probes, as a kubelet runs them: a GET whose status from
// 200 to 399 is success (redirects are not followed; HTTPS certificates are not verified, since a
// container's address is not its certificate's name), and a TCP connect that succeeds. Only ever
// aimed at a container this agent created (its address on its own network) or at loopback.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { ProbeOutcome, ProbeTransport } from '../../controllers/session/prober.ts';
import type { HttpGetTarget } from '../../controllers/session/probe-spec.ts';

/** The body is read only this far: enough for a message, never a whole page. */
const BODY_LIMIT = 512;

function describeError(error: unknown): string {
  if (error instanceof Error) return (error as NodeJS.ErrnoException).code ? `${(error as NodeJS.ErrnoException).code}: ${error.message}` : error.message;
  return String(error);
}

function httpGet(host: string, target: HttpGetTarget, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const client = target.scheme === 'HTTPS' ? https : http;
    const headers: Record<string, string> = { 'User-Agent': 'dockerlet-probe', Accept: '*/*' };
    for (const h of target.headers) headers[h.name] = h.value;
    const request = client.get(
      { host, port: target.port, path: target.path, headers, timeout: timeoutMs, agent: false, ...(target.scheme === 'HTTPS' ? { rejectUnauthorized: false } : {}) },
      (response) => {
        const status = response.statusCode ?? 0;
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (body.length < BODY_LIMIT) body += chunk;
          if (body.length >= BODY_LIMIT) response.destroy();
        });
        const done = (): void => {
          const ok = status >= 200 && status < 400;
          resolve({ ok, output: `HTTP ${status}${ok || body === '' ? '' : `: ${body.slice(0, BODY_LIMIT)}`}` });
        };
        response.on('end', done);
        response.on('close', done);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    request.on('error', (error) => resolve({ ok: false, output: describeError(error) }));
  });
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (outcome: ProbeOutcome): void => {
      socket.destroy();
      resolve(outcome);
    };
    socket.setTimeout(timeoutMs, () => finish({ ok: false, output: `timed out after ${timeoutMs} ms` }));
    socket.once('connect', () => finish({ ok: true, output: `connected to port ${port}` }));
    socket.once('error', (error) => finish({ ok: false, output: describeError(error) }));
  });
}

export const netProbes: ProbeTransport = { httpGet, tcpConnect };
