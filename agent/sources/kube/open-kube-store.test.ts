import { describe, expect, it } from 'vitest';
import { sessionsPath } from './open-kube-store.ts';

describe('sessionsPath', () => {
  it('watches one namespace or all of them', () => {
    expect(sessionsPath('team')).toBe('/apis/dockerlet.dev/v1alpha1/namespaces/team/sessions');
    expect(sessionsPath(undefined)).toBe('/apis/dockerlet.dev/v1alpha1/sessions');
  });
});
