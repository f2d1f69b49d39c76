// Kubernetes Events (core/v1, what `kubectl describe session` and `kubectl get events` show) for
// what the agent did to a Session and why. Best effort by contract: an event that cannot be
// written is dropped, never retried and never allowed to slow a reconcile; a flood is capped.
import { randomBytes } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import type { CoreV1Event, KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { EventRecorder, EventSubject, EventType } from '../../../reconciler/events.ts';
import type { Clock } from '../../../reconciler/clock.ts';
import { systemClock } from '../../../reconciler/clock.ts';

/** The API call, apart so tests can capture events without a server. */
export type CreateEvent = (namespace: string, event: CoreV1Event) => Promise<unknown>;

export function coreV1EventSink(kc: KubeConfig): CreateEvent {
  const api = kc.makeApiClient(CoreV1Api);
  return (namespace, body) => api.createNamespacedEvent({ namespace, body });
}

export interface KubeEventRecorderOptions {
  create: CreateEvent;
  /** The reporting component ("dockerlet-agent") and instance (this replica's identity). */
  component: string;
  instance: string;
  logger: Logger;
  clock?: Clock;
  /** Events in flight beyond this are dropped. Default 64. */
  maxInFlight?: number;
}

/** Event messages are capped by the API server at 1 KiB. */
const MAX_MESSAGE = 1024;

export class KubeEventRecorder implements EventRecorder {
  private readonly options: KubeEventRecorderOptions;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private inFlight = 0;
  private dropped = 0;
  private failing = false;

  constructor(options: KubeEventRecorderOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: 'events' });
    this.clock = options.clock ?? systemClock;
  }

  record(subject: EventSubject, type: EventType, reason: string, message: string): void {
    const namespace = subject.namespace;
    if (!namespace) return;
    if (this.inFlight >= (this.options.maxInFlight ?? 64)) {
      this.dropped += 1;
      return;
    }
    const now = new Date(this.clock.now());
    const event: CoreV1Event = {
      metadata: { name: `${subject.name}.${randomBytes(8).toString('hex')}`, namespace },
      involvedObject: {
        apiVersion: subject.apiVersion,
        kind: subject.kind,
        namespace,
        name: subject.name,
        ...(subject.uid ? { uid: subject.uid } : {}),
      },
      type,
      reason,
      message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      source: { component: this.options.component, host: this.options.instance },
      reportingComponent: this.options.component,
      reportingInstance: this.options.instance,
    };
    this.inFlight += 1;
    this.options
      .create(namespace, event)
      .then(() => {
        if (this.failing) this.logger.info({ dropped: this.dropped }, 'writing events works again');
        this.failing = false;
      })
      .catch((error: unknown) => {
        // Once per outage, not per event: events are the least important thing the agent writes.
        if (!this.failing) this.logger.warn({ err: error }, 'writing a Kubernetes Event failed; dropping events until it works');
        this.failing = true;
        this.dropped += 1;
      })
      .finally(() => {
        this.inFlight -= 1;
      });
  }
}
