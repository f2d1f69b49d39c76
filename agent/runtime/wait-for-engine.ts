// Start-up does not fail because the engine is late (a host boot, a dockerd restart): wait for it,
// say so once, and keep trying until it answers or the agent is stopped.
import type { Logger } from 'pino';
import type { DockerRuntime, EngineInfo } from '../../controllers/runtime/docker-runtime.ts';

export async function waitForEngine(runtime: DockerRuntime, logger: Logger, signal: AbortSignal): Promise<EngineInfo> {
  let delayMs = 250;
  let warned = false;
  for (;;) {
    try {
      const info = await runtime.info();
      logger.info({ engineVersion: info.version, apiVersion: info.apiVersion }, 'engine reachable');
      return info;
    } catch (error) {
      if (!warned) {
        logger.warn({ err: error }, 'waiting for the Docker engine');
        warned = true;
      }
    }
    signal.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(delayMs * 2, 5_000);
  }
}
