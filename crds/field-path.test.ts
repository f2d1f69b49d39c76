import { describe, it, expect } from 'vitest';
import { formatFieldPath, parseFieldPath } from './field-path.ts';
import type { PathSegment } from './field-path.ts';

describe('field paths', () => {
  it.each<[PathSegment[], string]>([
    [[], ''],
    [['spec', 'resources', 'memory'], 'spec.resources.memory'],
    [['spec', 'ports', 0, 'containerPort'], 'spec.ports[0].containerPort'],
    [['spec', 'labels', 'dockerlet.dev/agent'], 'spec.labels[dockerlet.dev/agent]'],
    [['metadata', 'labels', 'my-label'], 'metadata.labels.my-label'],
    [['spec', 'env', 3], 'spec.env[3]'],
  ])('%j ⇄ %s', (segments, text) => {
    expect(formatFieldPath(segments)).toBe(text);
    expect(parseFieldPath(text)).toEqual(segments);
  });
});
