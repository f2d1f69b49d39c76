// Picks the DockerRuntime that --runtime names: containers on this engine (the default), or
// one-replica services of the swarm this engine manages. Everything above the seam is the same.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { RuntimeKind } from '../config.ts';
import type { DockerRuntime } from '../../controllers/runtime/docker-runtime.ts';
import { DockerodeRuntime } from './docker/dockerode-runtime.ts';
import { SwarmServiceRuntime } from './swarm/service-runtime.ts';

export interface RuntimeOptions {
  runtime: RuntimeKind;
  socketPath: string;
  registry: Registry;
  logger: Logger;
  /** --stop-timeout: Swarm's stop grace period for the services' tasks. */
  stopTimeoutSeconds: number;
}

export function openRuntime(options: RuntimeOptions): DockerRuntime {
  const { socketPath, registry, logger } = options;
  switch (options.runtime) {
    case 'docker':
      return new DockerodeRuntime({ socketPath, registry, logger });
    case 'swarm':
      return new SwarmServiceRuntime({ socketPath, registry, logger, stopGracePeriodSeconds: options.stopTimeoutSeconds });
  }
}
