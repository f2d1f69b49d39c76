// Events: a human-readable record of what a controller did to an object and why (Kubernetes
// Events in Kubernetes mode, shown by `kubectl describe`). Fire-and-forget by contract: recording
// never fails or slows a reconcile, so implementations handle their own errors.

export const EVENT_TYPES = ['Normal', 'Warning'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The object an event is about. */
export interface EventSubject {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
}

export interface EventRecorder {
  /** `reason` is CamelCase ("Created"); `message` says what and why. */
  record(subject: EventSubject, type: EventType, reason: string, message: string): void;
}

/** For stores that have no event sink (YAML mode logs every operation already). */
export const noEvents: EventRecorder = { record: () => {} };
