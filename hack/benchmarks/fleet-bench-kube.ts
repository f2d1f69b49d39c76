// The API-server side of `bash hack/bench fleet`: a namespace of its own, the Sessions applied with
// kubectl as a user does, one watch that times each Session (added → bound → Running as its
// status says) and counts the writes it sees, the API server's own request counters, and cleanup.
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions, Watch } from '@kubernetes/client-node';
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { run } from './command.ts';
import { BENCH_IMAGE } from './engine.ts';
import { sampleSum } from './metrics-text.ts';

const SESSIONS = { group: 'dockerlet.dev', version: 'v1alpha1', plural: 'sessions' } as const;
const AGENTS = { group: 'dockerlet.dev', version: 'v1alpha1', plural: 'agents' } as const;

interface WatchedSession {
  metadata: { name: string; resourceVersion?: string };
  status?: { phase?: string; agent?: string; binding?: { agent?: string; epoch?: number } };
}

/** What the watch saw of one Session; times are performance.now(). */
export interface SessionTrack {
  addedAt: number;
  boundAt?: number;
  /** The agent of the latest binding, and its epoch. */
  boundTo?: string;
  epoch?: number;
  phase?: string;
  /** status.agent: who wrote the status last. */
  statusAgent?: string;
  /** First time phase Running was written by the bound agent, for the binding it had then. */
  runningAt?: number;
  /** Watch events that changed status (one status-subresource write each). */
  statusWrites: number;
  /** Watch events that changed anything else (finalizers, annotations). */
  otherWrites: number;
}

/** Running as `kubectl get sessions` shows it, by the agent the Session is bound to. */
export function runningOnBinding(track: SessionTrack): boolean {
  return track.phase === 'Running' && track.boundTo !== undefined && track.statusAgent === track.boundTo;
}

export class SessionWatch {
  readonly tracks = new Map<string, SessionTrack>();
  private readonly statusText = new Map<string, string>();
  private controller: AbortController | undefined;
  private stopped = false;
  /** Set when the watch had to start over (its counts are then lower bounds). */
  restarts = 0;
  lastEventAt = performance.now();

  constructor(
    private readonly kc: KubeConfig,
    readonly namespace: string,
  ) {}

  async start(): Promise<void> {
    const custom = this.kc.makeApiClient(CustomObjectsApi);
    const list = (await custom.listNamespacedCustomObject({ ...SESSIONS, namespace: this.namespace })) as { metadata: { resourceVersion: string }; items: WatchedSession[] };
    for (const item of list.items) this.observe('ADDED', item);
    await this.watchFrom(list.metadata.resourceVersion);
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }

  private async watchFrom(resourceVersion: string): Promise<void> {
    const path = `/apis/${SESSIONS.group}/${SESSIONS.version}/namespaces/${this.namespace}/${SESSIONS.plural}`;
    let last = resourceVersion;
    this.controller = await new Watch(this.kc).watch(
      path,
      { resourceVersion, allowWatchBookmarks: true },
      (phase, object: WatchedSession) => {
        if (object.metadata.resourceVersion) last = object.metadata.resourceVersion;
        if (phase === 'ADDED' || phase === 'MODIFIED') this.observe(phase, object);
      },
      () => {
        if (this.stopped) return;
        // The server ends watches every few minutes: go on from the last version seen.
        this.restarts += 1;
        void this.watchFrom(last).catch((error: unknown) => process.stderr.write(`bench: the Session watch could not restart: ${String(error)}\n`));
      },
    );
  }

  private observe(phase: string, object: WatchedSession): void {
    const now = performance.now();
    this.lastEventAt = now;
    const name = object.metadata.name;
    let track = this.tracks.get(name);
    if (!track) {
      track = { addedAt: now, statusWrites: 0, otherWrites: 0 };
      this.tracks.set(name, track);
    }
    const status = JSON.stringify(object.status ?? {});
    if (phase === 'MODIFIED') {
      if (status !== this.statusText.get(name)) track.statusWrites += 1;
      else track.otherWrites += 1;
    }
    this.statusText.set(name, status);
    const binding = object.status?.binding;
    if (binding?.agent && track.boundAt === undefined) track.boundAt = now;
    if (binding?.agent !== track.boundTo || binding?.epoch !== track.epoch) {
      // A new binding: running again only once its agent says so.
      track.runningAt = undefined;
      if (binding?.agent) track.boundTo = binding.agent;
      else delete track.boundTo;
      if (binding?.epoch !== undefined) track.epoch = binding.epoch;
    }
    if (object.status?.phase) track.phase = object.status.phase;
    if (object.status?.agent) track.statusAgent = object.status.agent;
    if (track.runningAt === undefined && runningOnBinding(track)) track.runningAt = now;
  }
}

export class KubeBench {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;

  constructor(
    readonly kc: KubeConfig,
    private readonly kubeconfigPath: string,
    private readonly kubectlPath: string,
  ) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  static load(kubeconfig: string, kubectl: string): KubeBench {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    return new KubeBench(kc, kubeconfig, kubectl);
  }

  kubectl(args: readonly string[], timeoutMs = 30 * 60_000): Promise<string> {
    return run(this.kubectlPath, ['--kubeconfig', this.kubeconfigPath, ...args], { timeoutMs });
  }

  /**
   * Fails with the fix when the API server does not answer. The CRDs are this checkout's: created
   * when missing, replaced when the Session CRD has no fleet binding (a schema without
   * status.binding prunes it from every write). An up-to-date one is left alone: replacing a CRD
   * makes the API server rebuild its storage, and other clients of a shared server get 429 meanwhile.
   */
  async prepare(crdFiles: readonly string[]): Promise<void> {
    try {
      await this.kubectl(['get', '--raw', '/readyz'], 20_000);
    } catch (error) {
      throw new Error('no kube-apiserver answers with the test kubeconfig: run `bash hack/test-env up kube`', { cause: error });
    }
    const agentColumn = await this.kubectl(['get', 'crd', 'sessions.dockerlet.dev', '-o', 'jsonpath={.spec.versions[0].additionalPrinterColumns[?(@.name=="Agent")].jsonPath}']).catch(() => undefined);
    if (agentColumn?.trim() === '.status.binding.agent') return;
    const files = crdFiles.flatMap((f) => ['-f', f]);
    if (agentColumn === undefined) await this.kubectl(['create', ...files]);
    else await this.kubectl(['replace', ...files]);
    await this.kubectl(['wait', '--for=condition=Established', 'crd/sessions.dockerlet.dev', 'crd/agents.dockerlet.dev', '--timeout=60s']);
    // Established comes before the storage behind it answers (429 while it is rebuilt).
    for (let attempt = 0; ; attempt++) {
      try {
        await this.kubectl(['get', 'sessions', '-A', '-o', 'name'], 20_000);
        return;
      } catch (error) {
        if (attempt >= 30) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  async createNamespace(name: string): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name, labels: { 'dockerlet.dev/bench': 'fleet' } } } });
  }

  /** `count` unplaced Sessions (no spec.agent, no selector) in one YAML file, for `kubectl apply -f`. */
  async writeSessions(file: string, namespace: string, count: number): Promise<string[]> {
    const names = Array.from({ length: count }, (_, i) => `s-${String(i).padStart(4, '0')}`);
    const docs = names.map((name) =>
      stringify({
        apiVersion: 'dockerlet.dev/v1alpha1',
        kind: 'Session',
        metadata: { name, namespace },
        spec: { image: BENCH_IMAGE, imagePullPolicy: 'Never', command: ['sleep', 'infinity'] },
      }),
    );
    await writeFile(file, docs.join('---\n'));
    return names;
  }

  /** The API server's apiserver_request_total for Sessions (and their status), by verb. */
  async sessionRequests(): Promise<{ statusWrites: number; objectWrites: number; text: string }> {
    const text = await this.kubectl(['get', '--raw', '/metrics'], 60_000);
    const count = (subresource: string, verbs: readonly string[]): number =>
      verbs.reduce((n, verb) => n + sampleSum(text, 'apiserver_request_total', { group: SESSIONS.group, resource: SESSIONS.plural, subresource, verb }), 0);
    return { statusWrites: count('status', ['PATCH', 'PUT', 'APPLY']), objectWrites: count('', ['POST', 'PATCH', 'PUT', 'APPLY']), text };
  }

  async agentState(name: string): Promise<string | undefined> {
    try {
      const record = (await this.custom.getClusterCustomObject({ ...AGENTS, name })) as { status?: { state?: string } };
      return record.status?.state;
    } catch {
      return undefined;
    }
  }

  /**
   * Removes what the run made on the API server. No agent is left to release finalizers: they go
   * first. The namespace stays Terminating on a test server without a controller-manager.
   */
  async cleanup(namespace: string, agentNames: readonly string[]): Promise<void> {
    const list = (await this.custom.listNamespacedCustomObject({ ...SESSIONS, namespace })) as WatchedSessionList;
    for (const item of list.items) {
      const name = item.metadata.name;
      await this.custom
        .patchNamespacedCustomObject({ ...SESSIONS, namespace, name, body: { metadata: { finalizers: null } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
        .catch(() => undefined);
    }
    await this.kubectl(['delete', 'sessions', '--all', '-n', namespace, '--wait=false']).catch(() => '');
    await this.kubectl(['delete', 'leases', '--all', '-n', namespace, '--wait=false']).catch(() => '');
    for (const name of agentNames) await this.custom.deleteClusterCustomObject({ ...AGENTS, name }).catch(() => undefined);
    await this.core.deleteCollectionNamespacedEvent({ namespace }).catch(() => undefined);
    await this.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  }
}

interface WatchedSessionList {
  items: WatchedSession[];
}
