// Status conditions with the Kubernetes/Flux conventions: lastTransitionTime moves only when the
// status flips; Ready, Reconciling and Stalled are kept consistent by the mark* helpers
// (kstatus: Reconciling and Stalled are "abnormal-true", so False means all is well).
import type { Condition, ConditionStatus } from '../crds/types.ts';

export const READY = 'Ready' as const;
export const RECONCILING = 'Reconciling' as const;
export const STALLED = 'Stalled' as const;
export const CONDITION_TYPES = [READY, RECONCILING, STALLED] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  /** CamelCase, as metav1.Condition requires (e.g. "ImagePullFailed"). */
  reason: string;
  message?: string;
  observedGeneration?: number;
}

/** What the mark* helpers take: the reason and message apply to every condition they set. */
export type MarkInput = Omit<ConditionInput, 'type' | 'status'>;

// metav1.Condition's validation pattern for reason.
const REASON_PATTERN = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/**
 * Returns a new array with the condition set: replaced in place if its type exists, appended
 * otherwise. `lastTransitionTime` is kept when the status is unchanged and set to `now` when it
 * changes. Throws on a reason that is not CamelCase: reasons are constants, so that is a bug.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date,
): Condition[] {
  if (!REASON_PATTERN.test(input.reason)) {
    throw new TypeError(`condition reason must be CamelCase, got ${JSON.stringify(input.reason)}`);
  }
  const list = conditions ?? [];
  const previous = list.find((c) => c.type === input.type);
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    ...(input.message !== undefined ? { message: input.message } : {}),
    lastTransitionTime:
      previous !== undefined && previous.status === input.status ? previous.lastTransitionTime : now.toISOString(),
    ...(input.observedGeneration !== undefined ? { observedGeneration: input.observedGeneration } : {}),
  };
  return previous === undefined ? [...list, next] : list.map((c) => (c === previous ? next : c));
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

/** Converged: Ready=True; Reconciling=False and Stalled=False. */
export function markReady(conditions: readonly Condition[] | undefined, input: MarkInput, now: Date): Condition[] {
  return setAll(conditions, input, now, { [READY]: 'True', [RECONCILING]: 'False', [STALLED]: 'False' });
}

/** Work in progress: Reconciling=True; Ready=Unknown (Flux's progressing status); Stalled=False. */
export function markReconciling(conditions: readonly Condition[] | undefined, input: MarkInput, now: Date): Condition[] {
  return setAll(conditions, input, now, { [READY]: 'Unknown', [RECONCILING]: 'True', [STALLED]: 'False' });
}

/** A failure that is being retried: Ready=False; still Reconciling=True; not Stalled. */
export function markNotReady(conditions: readonly Condition[] | undefined, input: MarkInput, now: Date): Condition[] {
  return setAll(conditions, input, now, { [READY]: 'False', [RECONCILING]: 'True', [STALLED]: 'False' });
}

/** Cannot converge without a human (terminal error): Stalled=True; Ready=False; Reconciling=False. */
export function markStalled(conditions: readonly Condition[] | undefined, input: MarkInput, now: Date): Condition[] {
  return setAll(conditions, input, now, { [READY]: 'False', [RECONCILING]: 'False', [STALLED]: 'True' });
}

function setAll(
  conditions: readonly Condition[] | undefined,
  input: MarkInput,
  now: Date,
  statuses: Record<ConditionType, ConditionStatus>,
): Condition[] {
  let result = conditions ?? [];
  for (const type of CONDITION_TYPES) result = setCondition(result, { ...input, type, status: statuses[type] }, now);
  return [...result];
}
