import { describe, expect, it } from 'vitest';
import type { Condition } from '../crds/types.ts';
import {
  getCondition,
  isTrue,
  markNotReady,
  markReady,
  markReconciling,
  markStalled,
  READY,
  RECONCILING,
  setCondition,
  STALLED,
} from './conditions.ts';

const T0 = new Date('2026-01-01T00:00:00Z');
const T1 = new Date('2026-01-01T00:05:00Z');
const T2 = new Date('2026-01-01T00:10:00Z');

function statuses(conditions: Condition[]): Record<string, string> {
  return Object.fromEntries(conditions.map((c) => [c.type, c.status]));
}

describe('setCondition', () => {
  it('adds a condition with lastTransitionTime = now', () => {
    const result = setCondition(undefined, { type: READY, status: 'False', reason: 'Creating', message: 'm', observedGeneration: 1 }, T0);
    expect(result).toEqual([
      { type: 'Ready', status: 'False', reason: 'Creating', message: 'm', lastTransitionTime: T0.toISOString(), observedGeneration: 1 },
    ]);
  });

  it('keeps lastTransitionTime when the status is unchanged, even if reason and message change', () => {
    const first = setCondition([], { type: READY, status: 'False', reason: 'Creating' }, T0);
    const second = setCondition(first, { type: READY, status: 'False', reason: 'ImagePulling', message: 'pulling', observedGeneration: 2 }, T1);
    expect(second[0]).toMatchObject({ reason: 'ImagePulling', message: 'pulling', observedGeneration: 2, lastTransitionTime: T0.toISOString() });
  });

  it('sets lastTransitionTime when the status changes', () => {
    const first = setCondition([], { type: READY, status: 'False', reason: 'Creating' }, T0);
    const second = setCondition(first, { type: READY, status: 'True', reason: 'Running' }, T1);
    expect(second[0]?.lastTransitionTime).toBe(T1.toISOString());
  });

  it('returns a new array, keeps order, and leaves the input untouched', () => {
    const input: Condition[] = [
      { type: 'A', status: 'True', reason: 'R', lastTransitionTime: T0.toISOString() },
      { type: 'B', status: 'True', reason: 'R', lastTransitionTime: T0.toISOString() },
    ];
    const copy = structuredClone(input);
    const result = setCondition(input, { type: 'A', status: 'False', reason: 'S' }, T1);
    expect(result).not.toBe(input);
    expect(input).toEqual(copy);
    expect(result.map((c) => c.type)).toEqual(['A', 'B']);
    expect(result[1]).toBe(input[1]);
  });

  it('drops a message that is no longer given', () => {
    const first = setCondition([], { type: READY, status: 'False', reason: 'Failed', message: 'old' }, T0);
    expect(setCondition(first, { type: READY, status: 'True', reason: 'Running' }, T1)[0]).not.toHaveProperty('message');
  });

  it('rejects a reason that is not CamelCase', () => {
    for (const reason of ['', 'image pull failed', '1Bad', 'Bad-Reason', 'Trailing:']) {
      expect(() => setCondition([], { type: READY, status: 'False', reason }, T0)).toThrow(TypeError);
    }
    expect(() => setCondition([], { type: READY, status: 'False', reason: 'ImagePullBackOff' }, T0)).not.toThrow();
  });
});

describe('getCondition / isTrue', () => {
  it('finds by type', () => {
    const conditions = setCondition([], { type: READY, status: 'True', reason: 'Running' }, T0);
    expect(getCondition(conditions, READY)?.reason).toBe('Running');
    expect(getCondition(conditions, STALLED)).toBeUndefined();
    expect(isTrue(conditions, READY)).toBe(true);
    expect(isTrue(conditions, STALLED)).toBe(false);
    expect(isTrue(undefined, READY)).toBe(false);
  });
});

describe('mark helpers (Flux conventions)', () => {
  it('markReconciling: Reconciling=True, Ready=Unknown, Stalled=False', () => {
    const c = markReconciling(undefined, { reason: 'Progressing', message: 'creating container', observedGeneration: 3 }, T0);
    expect(statuses(c)).toEqual({ [READY]: 'Unknown', [RECONCILING]: 'True', [STALLED]: 'False' });
    expect(c.every((x) => x.observedGeneration === 3 && x.reason === 'Progressing')).toBe(true);
  });

  it('markReady: Ready=True, Reconciling=False, Stalled=False', () => {
    const c = markReady(markReconciling([], { reason: 'Progressing' }, T0), { reason: 'Running' }, T1);
    expect(statuses(c)).toEqual({ [READY]: 'True', [RECONCILING]: 'False', [STALLED]: 'False' });
    // Stalled stayed False: its transition time did not move.
    expect(getCondition(c, STALLED)?.lastTransitionTime).toBe(T0.toISOString());
    expect(getCondition(c, READY)?.lastTransitionTime).toBe(T1.toISOString());
  });

  it('markStalled: Stalled=True implies Reconciling=False and Ready=False', () => {
    const c = markStalled(markReconciling([], { reason: 'Progressing' }, T0), { reason: 'InvalidSpec', message: 'spec.image: required' }, T1);
    expect(statuses(c)).toEqual({ [READY]: 'False', [RECONCILING]: 'False', [STALLED]: 'True' });
    expect(getCondition(c, STALLED)).toMatchObject({ reason: 'InvalidSpec', message: 'spec.image: required' });
  });

  it('markNotReady: a retried failure keeps Reconciling=True and is not Stalled', () => {
    const c = markNotReady(markReady([], { reason: 'Running' }, T0), { reason: 'EngineUnavailable' }, T1);
    expect(statuses(c)).toEqual({ [READY]: 'False', [RECONCILING]: 'True', [STALLED]: 'False' });
  });

  it('keeps other condition types and transition times across marks', () => {
    const custom = setCondition([], { type: 'ImagePresent', status: 'True', reason: 'Pulled' }, T0);
    const ready = markReady(custom, { reason: 'Running' }, T1);
    const again = markReady(ready, { reason: 'Running' }, T2);
    expect(again.map((c) => c.type)).toEqual(['ImagePresent', READY, RECONCILING, STALLED]);
    expect(again.every((c) => c.lastTransitionTime !== T2.toISOString())).toBe(true);
  });
});
