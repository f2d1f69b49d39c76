// Resource quantities as the Session schema accepts them, converted to what the Docker Engine API
// takes: HostConfig.NanoCpus and HostConfig.Memory, both integers. The accepted syntax is exactly
// the CRD's `pattern` (a test keeps the two in step), so anything that passed validation parses,
// and anything else throws QuantityError instead of turning into a surprising limit.
//
// Arithmetic is exact (BigInt on the decimal digits): "1.5Gi" must be 1610612736, not a float
// approximation. Like Kubernetes, a fraction smaller than the unit (a nanocore, a byte) rounds up:
// rounding down could turn a tiny non-zero limit into 0, which Docker reads as "no limit".

export const QUANTITY_KINDS = ['cpu', 'memory'] as const;
export type QuantityKind = (typeof QUANTITY_KINDS)[number];

export class QuantityError extends Error {
  override readonly name = 'QuantityError';
  constructor(
    readonly kind: QuantityKind,
    readonly quantity: string,
    reason: string,
  ) {
    super(`invalid ${kind} quantity ${JSON.stringify(quantity)}: ${reason}`);
  }
}

/** Same language as spec.resources.cpu's pattern in crds/session.yaml. */
export const CPU_PATTERN = /^([0-9]+(\.[0-9]+)?|[0-9]+m)$/;
/** Same language as spec.resources.memory's (and emptyDir.sizeLimit's) pattern in crds/session.yaml. */
export const MEMORY_PATTERN = /^[0-9]+(\.[0-9]+)?([KMGTPE]i|[kMGTPE])?$/;

const NANO_PER_CORE = 1_000_000_000n;
const NANO_PER_MILLICORE = 1_000_000n;

const MEMORY_SUFFIXES: Record<string, bigint> = {
  '': 1n,
  k: 10n ** 3n,
  M: 10n ** 6n,
  G: 10n ** 9n,
  T: 10n ** 12n,
  P: 10n ** 15n,
  E: 10n ** 18n,
  Ki: 2n ** 10n,
  Mi: 2n ** 20n,
  Gi: 2n ** 30n,
  Ti: 2n ** 40n,
  Pi: 2n ** 50n,
  Ei: 2n ** 60n,
};

/** "2" → 2_000_000_000, "0.5" → 500_000_000, "500m" → 500_000_000 (Docker NanoCpus). */
export function parseCpuToNanoCpus(q: string): number {
  if (typeof q !== 'string' || !CPU_PATTERN.test(q)) {
    throw new QuantityError('cpu', String(q), 'expected cores ("2", "0.5") or millicores ("500m")');
  }
  const nanos = q.endsWith('m') ? BigInt(q.slice(0, -1)) * NANO_PER_MILLICORE : scaleDecimal(q, NANO_PER_CORE);
  return toSafeNumber('cpu', q, nanos);
}

/** "512Mi" → 536870912, "1G" → 1e9, "1.5Gi" → 1610612736, "268435456" → 268435456 (bytes). */
export function parseMemoryToBytes(q: string): number {
  const match = typeof q === 'string' ? MEMORY_PATTERN.exec(q) : null;
  if (!match) {
    throw new QuantityError(
      'memory',
      String(q),
      'expected a non-negative number with an optional suffix k, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei (e.g. "512Mi")',
    );
  }
  const suffix = match[2] ?? '';
  const multiplier = MEMORY_SUFFIXES[suffix] ?? 1n;
  return toSafeNumber('memory', q, scaleDecimal(q.slice(0, q.length - suffix.length), multiplier));
}

/** ceil(decimal × multiplier) for a plain decimal string such as "1.5", exactly. */
function scaleDecimal(decimal: string, multiplier: bigint): bigint {
  const [whole = '0', fraction = ''] = decimal.split('.');
  const denominator = 10n ** BigInt(fraction.length);
  const numerator = BigInt(whole + fraction) * multiplier;
  return (numerator + denominator - 1n) / denominator;
}

function toSafeNumber(kind: QuantityKind, q: string, value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new QuantityError(
      kind,
      q,
      `out of range (more than ${Number.MAX_SAFE_INTEGER} ${kind === 'cpu' ? 'nanocpus' : 'bytes'})`,
    );
  }
  return Number(value);
}
