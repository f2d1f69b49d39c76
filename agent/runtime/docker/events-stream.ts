// The reconnecting loop behind DockerRuntime.watchEvents, kept apart from dockerode so the
// disconnect / backoff / reconnect logic can be proven against a fake socket.
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { sleep, systemClock } from '../../../reconciler/clock.ts';
import type { Clock } from '../../../reconciler/clock.ts';
import type { ContainerEvent, EventStreamHandlers } from '../../../controllers/runtime/docker-runtime.ts';
import { consumeNdjson } from './ndjson.ts';

export interface EventStreamOptions {
  /** Opens one /events response; resolves once the engine answered with headers. */
  connect(signal: AbortSignal): Promise<Readable>;
  /** One decoded JSON value → an event to deliver, or undefined to drop it. */
  toEvent(value: unknown): ContainerEvent | undefined;
  handlers: EventStreamHandlers;
  signal: AbortSignal;
  logger: Logger;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Backoff waits and outage times; the real clock unless a test drives it. */
  clock?: Clock;
}

export const EVENTS_INITIAL_BACKOFF_MS = 250;
export const EVENTS_MAX_BACKOFF_MS = 5_000;

/**
 * Runs until the signal aborts; never rejects. Contract with the handlers:
 * - `onDisconnect(error)` once per outage: when an established stream ends or fails, or when
 *   the very first connection cannot be made. Failed retries inside one outage are only logged.
 * - `onReconnect()` once when the stream is back after an outage, so the caller relists (events
 *   may have been missed). It pairs 1:1 with `onDisconnect`; the first successful connection
 *   calls neither.
 * - After abort no handler is called.
 */
export async function runEventStream(options: EventStreamOptions): Promise<void> {
  const { handlers, signal, logger } = options;
  const initialBackoffMs = options.initialBackoffMs ?? EVENTS_INITIAL_BACKOFF_MS;
  const maxBackoffMs = options.maxBackoffMs ?? EVENTS_MAX_BACKOFF_MS;
  const clock = options.clock ?? systemClock;
  let failures = 0;
  let outageSince: number | undefined;

  while (!signal.aborted) {
    let stream: Readable | undefined;
    try {
      stream = await options.connect(signal);
    } catch (error) {
      if (signal.aborted) break;
      if (outageSince === undefined) {
        outageSince = clock.now();
        notify(logger, 'onDisconnect', () => handlers.onDisconnect(error));
        logger.warn({ err: error }, 'docker event stream unavailable, retrying');
      } else {
        logger.debug({ err: error, attempt: failures + 1 }, 'docker event stream reconnect failed');
      }
      await sleep(clock, backoff(failures++, initialBackoffMs, maxBackoffMs), signal);
      continue;
    }

    if (outageSince !== undefined) {
      logger.info({ outageMs: clock.now() - outageSince }, 'docker event stream reconnected');
      outageSince = undefined;
      notify(logger, 'onReconnect', () => handlers.onReconnect());
    }
    const connectedAt = clock.now();
    const error = await follow(stream, options);
    if (signal.aborted) break;

    // A stream that stayed up at least one full backoff period was healthy: start the backoff
    // over. One that drops right after connecting keeps growing it, so a flapping proxy or engine
    // is not hammered every 250 ms.
    if (clock.now() - connectedAt >= maxBackoffMs) failures = 0;
    outageSince = clock.now();
    notify(logger, 'onDisconnect', () => handlers.onDisconnect(error));
    logger.warn({ err: error }, 'docker event stream dropped, reconnecting');
    await sleep(clock, backoff(failures++, initialBackoffMs, maxBackoffMs), signal);
  }
}

/** Delivers events until the stream ends; returns why it ended. Abort destroys the stream. */
async function follow(stream: Readable, options: EventStreamOptions): Promise<unknown> {
  const { signal, logger, handlers } = options;
  const onAbort = (): void => {
    stream.destroy();
  };
  // The abort may have landed between the engine's answer and here; a listener added now would
  // never fire and the stream would stay open.
  if (signal.aborted) {
    onAbort();
    return signal.reason;
  }
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await consumeNdjson(
      stream,
      (value) => {
        const event = options.toEvent(value);
        if (event !== undefined) notify(logger, 'onEvent', () => handlers.onEvent(event));
      },
      (line, error) => logger.warn({ err: error, line: line.slice(0, 200) }, 'undecodable docker event skipped'),
    );
    return new Error('docker event stream ended');
  } catch (error) {
    return error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    stream.destroy();
  }
}

/** A throwing handler is the caller's bug; it must not tear down the stream or the loop. */
function notify(logger: Logger, handler: string, call: () => void): void {
  try {
    call();
  } catch (error) {
    logger.error({ err: error, handler }, 'docker event handler threw');
  }
}

export function backoff(failures: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(failures, 30));
}
