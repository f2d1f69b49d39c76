import { describe, it, expect } from 'vitest';
import { CPU_PATTERN, MEMORY_PATTERN, QuantityError, parseCpuToNanoCpus, parseMemoryToBytes } from './quantity.ts';
import { openApiSchema } from './schema.ts';

describe('parseCpuToNanoCpus', () => {
  it.each([
    ['2', 2_000_000_000],
    ['1', 1_000_000_000],
    ['0.5', 500_000_000],
    ['0.25', 250_000_000],
    ['1.5', 1_500_000_000],
    ['500m', 500_000_000],
    ['100m', 100_000_000],
    ['1m', 1_000_000],
    ['2500m', 2_500_000_000],
    ['0', 0],
    ['0.0000000001', 1], // below a nanocpu: rounded up, never to "unlimited"
  ])('%s → %d', (q, nanos) => {
    expect(parseCpuToNanoCpus(q)).toBe(nanos);
  });

  it.each([['-1'], ['abc'], [''], ['1.5m'], ['500M'], ['1e3'], [' 1'], ['.5'], ['1.'], ['99999999999']])(
    'rejects %j',
    (q) => {
      expect(() => parseCpuToNanoCpus(q)).toThrow(QuantityError);
    },
  );

  it('says which quantity and why', () => {
    expect(() => parseCpuToNanoCpus('abc')).toThrow(
      'invalid cpu quantity "abc": expected cores ("2", "0.5") or millicores ("500m")',
    );
    try {
      parseCpuToNanoCpus('abc');
    } catch (err) {
      expect(err).toBeInstanceOf(QuantityError);
      expect(err).toMatchObject({ name: 'QuantityError', kind: 'cpu', quantity: 'abc' });
    }
  });
});

describe('parseMemoryToBytes', () => {
  it.each([
    ['268435456', 268_435_456],
    ['512Mi', 536_870_912],
    ['1Gi', 1_073_741_824],
    ['1.5Gi', 1_610_612_736],
    ['1G', 1_000_000_000],
    ['1k', 1000],
    ['1Ki', 1024],
    ['128974848', 128_974_848],
    ['129M', 129_000_000],
    ['123Mi', 128_974_848],
    ['2Ti', 2 * 1024 ** 4],
    ['1Pi', 1024 ** 5],
    ['0.5', 1], // half a byte rounds up
    ['0', 0],
  ])('%s → %d', (q, bytes) => {
    expect(parseMemoryToBytes(q)).toBe(bytes);
  });

  it.each([['-1Gi'], ['abc'], [''], ['1GB'], ['1K'], ['1gi'], ['1 Gi'], ['1e9'], ['16Ei'], ['1.Gi']])(
    'rejects %j',
    (q) => {
      expect(() => parseMemoryToBytes(q)).toThrow(QuantityError);
    },
  );

  it('says which quantity and why', () => {
    expect(() => parseMemoryToBytes('-1Gi')).toThrow(/^invalid memory quantity "-1Gi": expected a non-negative number/);
  });
});

describe('patterns', () => {
  // The parsers must accept exactly what validation accepts: anything that passed the schema parses.
  it('match the CRD patterns', () => {
    const spec = openApiSchema('Session').properties?.spec?.properties;
    expect(spec?.resources?.properties?.cpu?.pattern).toBe(CPU_PATTERN.source);
    expect(spec?.resources?.properties?.memory?.pattern).toBe(MEMORY_PATTERN.source);
    expect(spec?.volumes?.items?.properties?.emptyDir?.properties?.sizeLimit?.pattern).toBe(MEMORY_PATTERN.source);
  });
});
