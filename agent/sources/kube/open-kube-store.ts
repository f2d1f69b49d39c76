// Builds Kubernetes mode's Session side from the configuration: the informer-backed desired
// store, the status writer, the finalizer and the event recorder, all on one KubeConfig.
import { makeInformer } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Session } from '../../../crds/types.ts';
import { ensureFinalizer, releaseFinalizer } from '../../../reconciler/finalizer.ts';
import type { FinalizerTarget } from '../../../reconciler/finalizer.ts';
import type { EventRecorder } from '../../../reconciler/events.ts';
import type { SessionFinalizer } from '../../../controllers/session/finalizer.ts';
import { coreV1EventSink, KubeEventRecorder } from './event-recorder.ts';
import { kubeConfigFor } from '../../kube/kubeconfig.ts';
import { KubeSessionApi, SESSION_RESOURCE } from './session-api.ts';
import type { KubeSessionObject, SessionApi } from './session-api.ts';
import { KubeSessionStore } from './session-store.ts';
import { KubeStatusStore } from '../../status/kube/status-store.ts';
import type { Fence } from '../../../reconciler/fence.ts';
import { KubeBindingStore } from '../../status/kube/binding-store.ts';

export interface KubeAccessConfig {
  /** Kubeconfig file; undefined: the usual places (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  /** Only Sessions in this namespace; undefined watches every namespace. */
  namespace?: string;
}

/** Ours: removed only after the Session's container is gone. */
export const SESSION_FINALIZER = 'dockerlet.dev/container';

export interface OpenedKubeStore {
  kc: KubeConfig;
  store: KubeSessionStore;
  statusStore: KubeStatusStore;
  /** A fleet's bindings: status.binding, written conditionally on resourceVersion. */
  bindings: KubeBindingStore;
  finalizer: SessionFinalizer;
  events: EventRecorder;
  close(): Promise<void>;
}

export function sessionsPath(namespace: string | undefined): string {
  const { group, version, plural } = SESSION_RESOURCE;
  return namespace ? `/apis/${group}/${version}/namespaces/${namespace}/${plural}` : `/apis/${group}/${version}/${plural}`;
}

/** `fence`: the finalizer patches are leader-only writes, refused once the lease is not certainly ours. */
export function sessionFinalizer(api: Pick<SessionApi, 'get' | 'patch'>, fence?: Fence): SessionFinalizer {
  const target: FinalizerTarget<Session> = {
    read: async (s) => {
      const live = await api.get(s.metadata.namespace ?? 'default', s.metadata.name);
      if (!live || (s.metadata.uid && live.metadata?.uid !== s.metadata.uid)) return undefined;
      return live.metadata?.finalizers ? { finalizers: live.metadata.finalizers } : {};
    },
    patch: async (s, ops) => {
      fence?.require('finalizer patch');
      return api.patch(s.metadata.namespace ?? 'default', s.metadata.name, ops);
    },
  };
  return {
    name: SESSION_FINALIZER,
    ensure: (s) => ensureFinalizer(target, s, SESSION_FINALIZER, s.metadata.finalizers),
    release: (s) => releaseFinalizer(target, s, SESSION_FINALIZER, s.metadata.finalizers),
  };
}

export function openKubeStore(access: KubeAccessConfig, deps: { logger: Logger; identity: string; fence?: Fence }): OpenedKubeStore {
  const kc = kubeConfigFor(access.kubeconfig, '--store kubernetes');
  const api = new KubeSessionApi(kc);
  const informer = makeInformer<KubeSessionObject>(kc, sessionsPath(access.namespace), () => api.list(access.namespace));
  const server = kc.getCurrentCluster()?.server ?? 'the API server';
  const store = new KubeSessionStore({ informer, logger: deps.logger, server });
  const statusStore = new KubeStatusStore({ api, source: store, logger: deps.logger, ...(deps.fence ? { fence: deps.fence } : {}) });
  const events = new KubeEventRecorder({ create: coreV1EventSink(kc), component: 'dockerlet-agent', instance: deps.identity, logger: deps.logger });
  return {
    kc,
    store,
    statusStore,
    bindings: new KubeBindingStore(api, store),
    finalizer: sessionFinalizer(api, deps.fence),
    events,
    close: async () => {
      await store.stop();
    },
  };
}
