// Opens the desired-state store that --store names, with what comes with it: a YAML directory
// alone, or on Kubernetes the status subresource writer, the finalizer and the Event recorder.
import type { Logger } from 'pino';
import type { Session, SessionStatus } from '../crds/types.ts';
import type { EventRecorder } from '../reconciler/events.ts';
import type { DesiredStore } from '../reconciler/store.ts';
import type { SessionFinalizer } from '../controllers/session/finalizer.ts';
import type { ManagedStatusStore } from './backends.ts';
import type { AgentConfig } from './config.ts';
import { openYamlStore } from './stores/open-yaml-store.ts';

export interface OpenedDesiredStore {
  store: DesiredStore<Session>;
  /** Set when status lives with the desired objects (Kubernetes); otherwise the backends choose. */
  sessionStatus?: ManagedStatusStore<SessionStatus>;
  finalizer?: SessionFinalizer;
  events?: EventRecorder;
  /** Stops watching and writes out what is pending. */
  close(): Promise<void>;
}

export async function openDesiredStore(config: AgentConfig, identity: string, logger: Logger): Promise<OpenedDesiredStore> {
  switch (config.store.kind) {
    case 'yaml':
      return openYamlStore({ dir: config.store.dir, stateDir: config.stateDir, logger });
    case 'kubernetes': {
      // Loaded on use: an agent with a YAML store never pays for the Kubernetes client.
      const { openKubeStore } = await import('./kube/open-kube-store.ts');
      const access = { ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}), ...(config.sessionNamespace ? { namespace: config.sessionNamespace } : {}) };
      const kube = openKubeStore(access, { logger, identity });
      return { store: kube.store, sessionStatus: kube.statusStore, finalizer: kube.finalizer, events: kube.events, close: kube.close };
    }
  }
}
