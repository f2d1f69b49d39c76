// dockerlet_docker_api_requests_total{op, result}: one increment per engine call.
import { Counter, type Registry } from 'prom-client';

export const DOCKER_API_OPS = [
  'list',
  'inspect',
  'task_list',
  'node_inspect',
  'create',
  'start',
  'stop',
  'remove',
  'update',
  'rename',
  'image_inspect',
  'network_inspect',
  'network_connect',
  'pull',
  'events',
  'info',
  'version',
] as const;
export type DockerApiOp = (typeof DOCKER_API_OPS)[number];
export type DockerApiResult = 'success' | 'error';

export const DOCKER_API_REQUESTS_TOTAL = 'dockerlet_docker_api_requests_total';

export type DockerApiCounter = Counter<'op' | 'result'>;

/**
 * Registers the counter, or returns the one already in the registry: several runtimes (tests,
 * a second engine) may share one registry, and prom-client throws on a duplicate name.
 */
export function dockerApiCounter(registry: Registry): DockerApiCounter {
  const existing = registry.getSingleMetric(DOCKER_API_REQUESTS_TOTAL);
  if (existing !== undefined) {
    if (!(existing instanceof Counter)) {
      throw new Error(`metric ${DOCKER_API_REQUESTS_TOTAL} is already registered with another type`);
    }
    return existing as DockerApiCounter;
  }
  return new Counter({
    name: DOCKER_API_REQUESTS_TOTAL,
    help: 'Docker Engine API requests made by dockerlet, by operation and result.',
    labelNames: ['op', 'result'] as const,
    registers: [registry],
  });
}
