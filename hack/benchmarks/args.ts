// Flag helpers shared by the scenarios' option parsers. A UsageError exits 2 with a hint to --help.
import { durationMs } from '../../agent/config.ts';

export class UsageError extends Error {}

export function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number, got "${value}"`);
  return n;
}

/**
 * A duration flag in milliseconds, parsed by the agent's own parser: the benchmark passes the text
 * on to the agent and derives its bounds from the number, so both must read it the same way.
 */
export function duration(flag: string, value: string | undefined, fallbackMs: number): number {
  if (value === undefined) return fallbackMs;
  try {
    return durationMs(flag)(value);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** One of `choices`, or all of them for "all". */
export function choiceOrAll<T extends string>(flag: string, value: string | undefined, choices: readonly T[], fallback: readonly T[]): T[] {
  if (value === undefined) return [...fallback];
  if (value === 'all') return [...choices];
  if ((choices as readonly string[]).includes(value)) return [value as T];
  throw new UsageError(`${flag} must be one of ${choices.join(', ')} or all, got "${value}"`);
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** --agent-log-level: one of the agent's log levels, warn when not given. */
export function agentLogLevel(value: string | undefined): string {
  const level = value ?? 'warn';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--agent-log-level must be one of ${LOG_LEVELS.join(', ')}`);
  return level;
}
