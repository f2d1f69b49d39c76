// Unit tests of DockerodeRuntime against a small HTTP server on a unix socket that plays the
// engine: event-stream reconnects, pull streaming, timeouts, NDJSON framing, error mapping. Things
// a real engine cannot be made to do on demand (restarting a shared engine is too disruptive);
// everything else is in test/integration/docker-runtime.test.ts against the real one.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { ContainerEvent } from '../../../controllers/runtime/docker-runtime.ts';
import { DockerodeRuntime } from './dockerode-runtime.ts';
import { EngineError, EngineUnavailableError, NotFoundError } from '../../../controllers/runtime/errors.ts';
import { toEngineError } from './error-mapping.ts';
import { EVENTS_INITIAL_BACKOFF_MS, EVENTS_MAX_BACKOFF_MS, runEventStream } from './events-stream.ts';
import { FakeClock } from '../../../reconciler/fake-clock.ts';
import { NdjsonDecoder } from './ndjson.ts';

const SELECTOR = { 'dockerlet.dev/managed-by': 'unit' };

function engineEvent(id: string, action: string, labels: Record<string, string> = SELECTOR): string {
  const attributes = { ...labels, name: `c-${id}`, image: 'img', ...(action === 'die' ? { exitCode: '3' } : {}) };
  return JSON.stringify({ Type: 'container', Action: action, id, Actor: { ID: id, Attributes: attributes }, time: 1, timeNano: 1_000_000_001 });
}

type Handler = (req: IncomingMessage, res: ServerResponse, connection: number) => void;

interface FakeEngine {
  socketPath: string;
  urls: string[];
  closed: number;
  listen(): Promise<void>;
  stop(): Promise<void>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function fakeEngine(handler: Handler): FakeEngine {
  const dir = mkdtempSync(join(tmpdir(), 'dockerlet-fake-engine-'));
  let connections = 0;
  let server: Server | undefined;
  const fake: FakeEngine = {
    socketPath: join(dir, 'docker.sock'),
    urls: [],
    closed: 0,
    listen: () =>
      new Promise((resolve) => {
        server = createServer((req, res) => {
          fake.urls.push(req.url ?? '');
          req.socket.on('close', () => fake.closed++);
          handler(req, res, ++connections);
        });
        server.listen(fake.socketPath, resolve);
      }),
    stop: () =>
      new Promise((resolve) => {
        if (server === undefined) return resolve();
        server.closeAllConnections();
        server.close(() => resolve());
        server = undefined;
      }),
  };
  cleanups.push(async () => {
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return fake;
}

function startStream(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
}

function recorder() {
  const calls: string[] = [];
  const errors: unknown[] = [];
  const events: ContainerEvent[] = [];
  return {
    calls,
    errors,
    events,
    handlers: {
      onEvent: (event: ContainerEvent) => {
        events.push(event);
        calls.push(`event:${event.containerId}:${event.action}`);
      },
      onReconnect: () => calls.push('reconnect'),
      onDisconnect: (error: unknown) => {
        errors.push(error);
        calls.push('disconnect');
      },
    },
  };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function runtimeFor(socketPath: string, requestTimeoutMs = 2_000, clock?: FakeClock): DockerodeRuntime {
  return new DockerodeRuntime({ socketPath, registry: new Registry(), logger: pino({ level: 'silent' }), requestTimeoutMs, ...(clock ? { clock } : {}) });
}

describe('watchEvents over a fake engine', () => {
  it('reports a dropped stream, reconnects, and delivers what follows', async () => {
    const engine = fakeEngine((_req, res, connection) => {
      startStream(res);
      if (connection === 1) {
        res.write(`${engineEvent('a', 'start')}\n`);
        // The engine dies mid-stream.
        setTimeout(() => res.socket?.destroy(), 50);
        return;
      }
      // Lines split across writes (one inside a multi-byte character), noise in between.
      const line = Buffer.from(`${engineEvent('b', 'die', { ...SELECTOR, note: 'é' })}\n`);
      const cut = line.indexOf(Buffer.from('é')) + 1;
      res.write('{"Type":"image","Action":"pull","id":"x"}\nnot json\n');
      res.write(`${engineEvent('foreign', 'start', { other: 'label' })}\n`);
      res.write(line.subarray(0, cut));
      setTimeout(() => res.write(line.subarray(cut)), 30);
    });
    await engine.listen();
    const record = recorder();
    const controller = new AbortController();
    const clock = new FakeClock();
    runtimeFor(engine.socketPath, 2_000, clock).watchEvents(SELECTOR, record.handlers, controller.signal);

    await waitFor(() => record.calls.includes('disconnect') && clock.pendingTimers() === 1, 'the backoff after the drop');
    expect(record.calls).toEqual(['event:a:start', 'disconnect']);
    clock.advance(EVENTS_INITIAL_BACKOFF_MS);
    await waitFor(() => record.events.length === 2, 'the event after reconnection');
    expect(record.calls).toEqual(['event:a:start', 'disconnect', 'reconnect', 'event:b:die']);
    expect(record.errors[0]).toBeInstanceOf(Error);
    expect(record.events[1]).toEqual({
      containerId: 'b',
      action: 'die',
      labels: { ...SELECTOR, note: 'é' },
      exitCode: 3,
      timeNano: 1_000_000_001,
    });

    const filters = JSON.parse(new URL(engine.urls[0] ?? '', 'http://x').searchParams.get('filters') ?? '{}') as Record<string, string[]>;
    expect(filters['type']).toEqual(['container']);
    expect(filters['label']).toEqual(['dockerlet.dev/managed-by=unit']);
    expect(filters['event']).toEqual(expect.arrayContaining(['create', 'start', 'die', 'destroy', 'oom', 'rename']));
    expect(filters['event']?.some((action) => action.startsWith('exec'))).toBe(false);

    // Abort closes the open stream and stops the loop: no more connections, no more calls.
    controller.abort();
    await waitFor(() => engine.closed === 2, 'the stream to close');
    // No retry is scheduled, and none comes however long we wait.
    expect(clock.pendingTimers()).toBe(0);
    clock.advance(10 * EVENTS_MAX_BACKOFF_MS);
    expect(engine.urls).toHaveLength(2);
    expect(record.calls).toHaveLength(4);
  });

  it('retries a first connection that fails, then reports the reconnection', async () => {
    const engine = fakeEngine((_req, res) => {
      startStream(res);
      res.write(`${engineEvent('c', 'create')}\n`);
    });
    const record = recorder();
    const controller = new AbortController();
    cleanups.push(() => controller.abort());
    const clock = new FakeClock();
    runtimeFor(engine.socketPath, 2_000, clock).watchEvents(SELECTOR, record.handlers, controller.signal);

    await waitFor(() => record.calls.length === 1 && clock.pendingTimers() === 1, 'the first failure');
    expect(record.errors[0]).toBeInstanceOf(EngineUnavailableError); // no socket yet: ENOENT
    // A second attempt inside the same outage fails too, and backs off twice as long.
    clock.advance(EVENTS_INITIAL_BACKOFF_MS);
    await waitFor(() => clock.pendingTimers() === 1, 'the second attempt to fail and back off');
    await engine.listen();
    clock.advance(2 * EVENTS_INITIAL_BACKOFF_MS);
    await waitFor(() => record.events.length === 1, 'the event');
    // Retries inside one outage are not reported again: one disconnect, one reconnect.
    expect(record.calls).toEqual(['disconnect', 'reconnect', 'event:c:create']);
  });

  it('stops retrying at once when aborted during the backoff', async () => {
    const controller = new AbortController();
    let attempts = 0;
    const record = recorder();
    const clock = new FakeClock();
    const done = runEventStream({
      clock,
      connect: () => {
        attempts++;
        return Promise.reject(new Error('down'));
      },
      toEvent: () => undefined,
      handlers: record.handlers,
      signal: controller.signal,
      logger: pino({ level: 'silent' }),
      initialBackoffMs: 10_000,
    });
    await waitFor(() => attempts === 1 && clock.pendingTimers() === 1, 'the first attempt and its backoff');
    controller.abort();
    // Resolves with no time passing on the clock: the 10 s backoff was cut short, not waited out.
    await done;
    expect(clock.now()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
    expect(attempts).toBe(1);
    expect(record.calls).toEqual(['disconnect']);
  });
});

describe('pullImage over a fake engine', () => {
  it('follows the progress stream to its end, and fails on an error line in a 200 answer', async () => {
    const engine = fakeEngine((req, res) => {
      startStream(res);
      res.write('{"status":"Pulling from x"}\n{"status":"Downloading","progress');
      setTimeout(() => {
        res.write('Detail":{"current":1,"total":2}}\n');
        if (req.url?.includes('bad')) res.write('{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}\n');
        res.end('{"status":"Status: Downloaded newer image"}\n');
      }, 30);
    });
    await engine.listen();
    const runtime = runtimeFor(engine.socketPath);
    await expect(runtime.pullImage('good:1')).resolves.toBeUndefined();
    await expect(runtime.pullImage('bad:1')).rejects.toThrow(new EngineError('pull image bad:1: manifest unknown'));
    expect(new URL(engine.urls[0] ?? '', 'http://x').searchParams.get('fromImage')).toBe('good');
  });

  it('gives up when the caller aborts a pull that is streaming', async () => {
    const engine = fakeEngine((_req, res) => {
      startStream(res);
      res.write('{"status":"Pulling from x"}\n'); // and then nothing, for ever
    });
    await engine.listen();
    const controller = new AbortController();
    const pull = runtimeFor(engine.socketPath, 200).pullImage('slow:1', controller.signal);
    // Streaming outlives the request timeout: only the caller's signal ends it.
    await new Promise((resolve) => setTimeout(resolve, 400));
    controller.abort(new Error('caller gave up'));
    await expect(pull).rejects.toThrow('caller gave up');
    await waitFor(() => engine.closed === 1, 'the pull connection to close');
  });
});

describe('engine errors', () => {
  it('maps a missing socket to EngineUnavailableError', async () => {
    const runtime = runtimeFor(join(tmpdir(), 'dockerlet-no-such-engine.sock'));
    await expect(runtime.listContainers(SELECTOR)).rejects.toBeInstanceOf(EngineUnavailableError);
  });

  it('gives up on an engine that does not answer within the request timeout', async () => {
    const engine = fakeEngine(() => {
      // Never answers.
    });
    await engine.listen();
    const started = Date.now();
    await expect(runtimeFor(engine.socketPath, 200).findImage('x')).rejects.toBeInstanceOf(EngineUnavailableError);
    await expect(runtimeFor(engine.socketPath, 200).info()).rejects.toBeInstanceOf(EngineUnavailableError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('keeps an answer of the engine an EngineError even when its text sounds like a socket error', () => {
    const answered = Object.assign(new Error('(HTTP code 500) server error'), {
      statusCode: 500,
      json: { message: 'Get "http://localhost:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused' },
    });
    const mapped = toEngineError('pull image x', answered);
    expect(mapped).toBeInstanceOf(EngineError);
    expect(mapped).not.toBeInstanceOf(EngineUnavailableError);
    expect(mapped.message).toBe('pull image x: Get "http://localhost:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused');
    expect(mapped.cause).toBe(answered);
    expect(toEngineError('inspect', Object.assign(new Error('x'), { statusCode: 404 }))).toBeInstanceOf(NotFoundError);
    expect(toEngineError('inspect', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeInstanceOf(
      EngineUnavailableError,
    );
    expect(toEngineError('inspect', new Error('socket hang up'))).toBeInstanceOf(EngineUnavailableError);
  });
});

describe('NdjsonDecoder', () => {
  it('parses lines split anywhere, including inside a UTF-8 character, and a last line without newline', () => {
    const values: unknown[] = [];
    const invalid: string[] = [];
    const decoder = new NdjsonDecoder(
      (value) => values.push(value),
      (line) => invalid.push(line),
    );
    const bytes = Buffer.from('{"a":"é"}\r\n\n{"b":2}\nnope\n{"c":3}');
    for (let i = 0; i < bytes.length; i++) decoder.push(bytes.subarray(i, i + 1));
    expect(values).toEqual([{ a: 'é' }, { b: 2 }]);
    decoder.end();
    expect(values).toEqual([{ a: 'é' }, { b: 2 }, { c: 3 }]);
    expect(invalid).toEqual(['nope']);
  });
});
