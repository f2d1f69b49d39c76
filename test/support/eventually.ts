// Polls until a check passes, instead of sleeping a fixed time and hoping.
export interface EventuallyOptions {
  timeoutMs?: number;
  intervalMs?: number;
  message?: string;
}

export async function eventually<T>(check: () => Promise<T> | T, options: EventuallyOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? lastError.message : String(lastError);
      throw new Error(`${options.message ?? 'condition'} not met within ${timeoutMs} ms: ${detail}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Checks that a condition holds for the whole duration (a negative assertion needs time to mean anything). */
export async function consistently(check: () => Promise<void> | void, options: { durationMs: number; intervalMs?: number; message?: string }): Promise<void> {
  const deadline = Date.now() + options.durationMs;
  for (;;) {
    try {
      await check();
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new Error(`${options.message ?? 'condition'} stopped holding: ${detail}`, { cause: error });
    }
    if (Date.now() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
