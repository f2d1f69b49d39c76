// Nothing a benchmark creates may outlive it: every run registers how to undo what it made, and
// the normal path (try/finally) runs those undos. Ctrl-C / SIGTERM of the benchmark aborts
// `interruptSignal` so the run stops starting new work and unwinds through the same finally
// blocks (undoing while a create loop still runs would miss the containers it makes next).
type Undo = () => Promise<void>;

const pending = new Map<number, { what: string; undo: Undo }>();
let nextId = 0;
const interruption = new AbortController();
/** Long enough for in-flight engine calls and an agent's SIGTERM grace to finish. */
const UNWIND_GRACE_MS = 60_000;

export const interruptSignal: AbortSignal = interruption.signal;

/** Registers `undo`; the returned function runs it once (and forgets it). */
export function deferCleanup(what: string, undo: Undo): () => Promise<void> {
  const id = nextId++;
  pending.set(id, { what, undo });
  return async () => {
    if (!pending.delete(id)) return;
    await undo();
  };
}

/** Runs every registered undo, newest first; logs failures and keeps going. */
async function runAll(): Promise<void> {
  for (const id of [...pending.keys()].reverse()) {
    const entry = pending.get(id);
    pending.delete(id);
    if (!entry) continue;
    try {
      await entry.undo();
    } catch (error) {
      process.stderr.write(`bench: cleanup "${entry.what}" failed: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
}

/**
 * First signal: abort and let the run unwind (its finally blocks clean up, main exits 130). If it
 * has not finished after UNWIND_GRACE_MS, or on a second signal, undo whatever is left and exit.
 */
export function installSignalCleanup(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (!interruption.signal.aborted) {
        process.stderr.write(`bench: ${signal}: stopping and cleaning up (again to force)\n`);
        interruption.abort(new Error(`interrupted by ${signal}`));
        setTimeout(() => void runAll().finally(() => process.exit(130)), UNWIND_GRACE_MS).unref();
        return;
      }
      void runAll().finally(() => process.exit(130));
    });
  }
}
