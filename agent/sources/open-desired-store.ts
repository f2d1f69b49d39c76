// Opens the desired-state store that --store names, with what comes with it: a YAML directory
// alone; a Git repository fetched and applied commit by commit into the same YAML machinery (with
// its source status and a fetch-now hook); or on Kubernetes the status subresource writer, the
// finalizer and the Event recorder.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AgentSource, Session, SessionStatus } from '../../crds/types.ts';
import type { EventRecorder } from '../../reconciler/events.ts';
import type { DesiredStore, ManagedStatusStore } from '../../reconciler/store.ts';
import type { SessionFinalizer } from '../../controllers/session/finalizer.ts';
import type { BindingStore } from '../../controllers/scheduler/bindings.ts';
import type { AgentConfig } from '../config.ts';
import { GitCache } from './git/git-cache.ts';
import { gitCacheDir } from './store-spec.ts';
import { LastGoodRevisions } from './git/git-last-good.ts';
import type { Fence } from '../../reconciler/fence.ts';
import { GitDesiredStore } from './git/git-store.ts';
import type { GitSyncResult } from './git/git-store.ts';
import { openYamlStore } from './yaml/open-yaml-store.ts';

/** Bound on one git command; a first clone of a large repository over a slow link fits. */
export const GIT_COMMAND_TIMEOUT_MS = 300_000;

export interface OpenedDesiredStore {
  store: DesiredStore<Session>;
  /** Set when status lives with the desired objects (Kubernetes); otherwise the backends choose. */
  sessionStatus?: ManagedStatusStore<SessionStatus>;
  finalizer?: SessionFinalizer;
  events?: EventRecorder;
  /** Set when a fleet's bindings live with the desired objects (Kubernetes: Session status). */
  bindings?: BindingStore;
  /** For the Agent record (Git stores only). */
  source?: () => AgentSource;
  /** Fetch now, for the webhook endpoint (Git stores only). */
  sync?: () => Promise<GitSyncResult>;
  /** Stops watching or polling and writes out what is pending. */
  close(): Promise<void>;
}

export interface OpenDesiredStoreDeps {
  identity: string;
  logger: Logger;
  registry: Registry;
  /** Leader-only writes the store makes (Kubernetes: status, finalizers) ask it first. */
  fence?: Fence;
}

export async function openDesiredStore(config: AgentConfig, deps: OpenDesiredStoreDeps): Promise<OpenedDesiredStore> {
  const { logger } = deps;
  const spec = config.store;
  switch (spec.kind) {
    case 'yaml':
      return openYamlStore({ dir: spec.dir, stateDir: config.stateDir, logger });
    case 'git': {
      const cache = new GitCache({ spec, dir: gitCacheDir(config.stateDir, spec), timeoutMs: GIT_COMMAND_TIMEOUT_MS });
      // The Git store decides when the tree changes (after a swap), so the YAML store does not watch;
      // a commit's file applies all or nothing, so one refused Session keeps the file's previous revision.
      // A refused file keeps the objects of the revision it was last usable at, across restarts too.
      const lastGood = new LastGoodRevisions({ cache, file: cache.lastGoodFile, logger });
      const yaml = await openYamlStore({ dir: cache.currentLink, stateDir: config.stateDir, logger, watch: false, wholeFiles: true, priorVersions: lastGood.versions });
      const store = new GitDesiredStore({ spec, cache, yaml: yaml.store, lastGood, logger, pollIntervalMs: config.gitPollIntervalMs, registry: deps.registry });
      return {
        store,
        close: async () => {
          await store.stop();
          await yaml.close();
        },
        source: () => store.sourceStatus(),
        sync: () => store.sync(),
      };
    }
    case 'kubernetes': {
      // Loaded on use: an agent with a YAML store never pays for the Kubernetes client.
      const { openKubeStore } = await import('./kube/open-kube-store.ts');
      const access = { ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}), ...(config.sessionNamespace ? { namespace: config.sessionNamespace } : {}) };
      const kube = openKubeStore(access, { logger, identity: deps.identity, ...(deps.fence ? { fence: deps.fence } : {}) });
      return { store: kube.store, sessionStatus: kube.statusStore, bindings: kube.bindings, finalizer: kube.finalizer, events: kube.events, close: kube.close };
    }
  }
}
