// Runs a plan's operations in order. It decides nothing: the plan already did. After the last
// operation (or the first failure) it refreshes the cache for every container it touched, so the
// next reconcile sees what it did even before the engine's events arrive. Every engine write gets
// the reconcile's signal: once it aborts (leadership ended), the operation in flight gives up and
// no later one is sent; the refreshes still read, as every replica's cache does.
import type { Logger } from 'pino';
import type { DockerRuntime } from '../runtime/docker-runtime.ts';
import { NotFoundError } from '../runtime/errors.ts';
import type { ContainerCache } from './container-cache.ts';
import type { ContainerRef, Operation } from './operations.ts';
import { describeOperation } from './operations.ts';
import type { Plan } from './plan.ts';

export interface ExecuteDeps {
  runtime: DockerRuntime;
  cache: ContainerCache;
  logger: Logger;
  stopTimeoutSeconds: number;
  /** Told about every operation that succeeded (Kubernetes Events, tests). */
  onOperation?: (op: Operation) => void;
}

export interface ExecuteResult {
  createdId?: string;
}

export async function execute(plan: Plan, deps: ExecuteDeps, signal: AbortSignal): Promise<ExecuteResult> {
  if (plan.operations.length === 0) return {};
  const touched = new Set<string>();
  let createdId: string | undefined;
  const resolve = (ref: ContainerRef): string => {
    if (ref.kind === 'existing') return ref.id;
    if (!createdId) throw new Error('plan starts a new container before creating it');
    return createdId;
  };
  // The refreshes at the end read what every operation did; events until then add nothing.
  deps.cache.hold(plan.key);
  try {
    for (const op of plan.operations) {
      signal.throwIfAborted();
      switch (op.type) {
        case 'pull':
          await deps.runtime.pullImage(op.image, signal);
          break;
        case 'create':
          createdId = await deps.runtime.createContainer(op.request, signal);
          touched.add(createdId);
          break;
        case 'start':
          touched.add(resolve(op.container));
          await deps.runtime.startContainer(resolve(op.container), signal);
          break;
        case 'stop':
          touched.add(resolve(op.container));
          await deps.runtime.stopContainer(resolve(op.container), op.timeoutSeconds ?? deps.stopTimeoutSeconds, signal);
          break;
        case 'update':
          touched.add(resolve(op.container));
          await deps.runtime.updateContainer(resolve(op.container), op.changes, signal);
          break;
        case 'rename':
          touched.add(resolve(op.container));
          await deps.runtime.renameContainer(resolve(op.container), op.name, signal);
          break;
        case 'remove': {
          const id = resolve(op.container);
          try {
            await deps.runtime.removeContainer(id, signal);
          } catch (error) {
            // Already gone is what we wanted.
            if (!(error instanceof NotFoundError)) throw error;
          }
          touched.delete(id);
          deps.cache.forget(id);
          break;
        }
      }
      deps.logger.info({ operation: describeOperation(op) }, 'operation done');
      deps.onOperation?.(op);
    }
  } finally {
    const refreshed = await Promise.allSettled([...touched].map((id) => deps.cache.refresh(id)));
    for (const result of refreshed) {
      // Not fatal (events and the next resync repair the cache), but never silent.
      if (result.status === 'rejected') deps.logger.warn({ err: result.reason }, 'refreshing a container after an operation failed');
    }
    await deps.cache.release(plan.key);
  }
  return createdId ? { createdId } : {};
}
