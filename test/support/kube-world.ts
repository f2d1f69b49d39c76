// A namespace of its own on the shared test API server, for one test file: create Sessions in
// it, read them back, and clean up everything created (there is no controller-manager on the
// test server, so a deleted namespace stays Terminating; its objects are removed one by one).
import { ApiException, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { request } from 'node:https';
import type { RequestOptions } from 'node:https';
import { TEST_IMAGE, uniqueRunId } from './docker.ts';

const SESSIONS = { group: 'dockerlet.dev', version: 'v1alpha1', plural: 'sessions' } as const;

export interface KubeSession {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    resourceVersion: string;
    finalizers?: string[];
    deletionTimestamp?: string;
  };
  spec: Record<string, unknown>;
  status?: {
    phase?: string;
    agent?: string;
    containerID?: string;
    restartCount?: number;
    observedGeneration?: number;
    message?: string;
    conditions?: { type: string; status: string; reason: string; message?: string; observedGeneration?: number }[];
  };
}

export function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/** The API server's error text (its Status message), for asserting on field paths. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiException) {
    try {
      const body = typeof error.body === 'string' ? (JSON.parse(error.body) as { message?: string }) : (error.body as { message?: string });
      if (body?.message) return body.message;
    } catch {
      // not JSON
    }
    return String(error.body ?? error.message);
  }
  return error instanceof Error ? error.message : String(error);
}

export class KubeWorld {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;

  private constructor(
    readonly kc: KubeConfig,
    readonly namespace: string,
  ) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  static async create(kc: KubeConfig, prefix = 'dlt'): Promise<KubeWorld> {
    const namespace = uniqueRunId(prefix);
    const world = new KubeWorld(kc, namespace);
    await world.core.createNamespace({ body: { metadata: { name: namespace, labels: { 'dockerlet.dev/test': 'true' } } } });
    return world;
  }

  body(name: string, spec: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      apiVersion: 'dockerlet.dev/v1alpha1',
      kind: 'Session',
      metadata: { name, namespace: this.namespace },
      spec: { image: TEST_IMAGE, command: ['sleep', 'infinity'], ...spec },
    };
  }

  async createSession(name: string, spec: Record<string, unknown> = {}): Promise<KubeSession> {
    return (await this.custom.createNamespacedCustomObject({ ...SESSIONS, namespace: this.namespace, body: this.body(name, spec) })) as KubeSession;
  }

  /** Creates a raw body (for invalid objects), returning the API server's verdict. */
  async createRaw(body: Record<string, unknown>): Promise<KubeSession> {
    return (await this.custom.createNamespacedCustomObject({ ...SESSIONS, namespace: this.namespace, body })) as KubeSession;
  }

  async getSession(name: string): Promise<KubeSession | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({ ...SESSIONS, namespace: this.namespace, name })) as KubeSession;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async listSessions(): Promise<KubeSession[]> {
    const list = (await this.custom.listNamespacedCustomObject({ ...SESSIONS, namespace: this.namespace })) as { items: KubeSession[] };
    return list.items;
  }

  /** JSON merge patch of the spec (what `kubectl edit` of spec fields amounts to). */
  async patchSpec(name: string, spec: Record<string, unknown>): Promise<KubeSession> {
    return (await this.custom.patchNamespacedCustomObject(
      { ...SESSIONS, namespace: this.namespace, name, body: { spec } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as KubeSession;
  }

  async patchMetadata(name: string, metadata: Record<string, unknown>): Promise<void> {
    await this.custom.patchNamespacedCustomObject(
      { ...SESSIONS, namespace: this.namespace, name, body: { metadata } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  async deleteSession(name: string): Promise<void> {
    try {
      await this.custom.deleteNamespacedCustomObject({ ...SESSIONS, namespace: this.namespace, name });
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
  }

  /** The server-side table `kubectl get sessions` prints: column names and each row's cells. */
  async table(): Promise<{ columns: string[]; rows: Record<string, unknown>[] }> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('no current cluster');
    const url = new URL(`${cluster.server}/apis/dockerlet.dev/v1alpha1/namespaces/${this.namespace}/sessions`);
    const options: RequestOptions = { method: 'GET', headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } };
    await this.kc.applyToHTTPSOptions(options);
    const text = await new Promise<string>((resolve, reject) => {
      const req = request(url, options, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`table: ${res.statusCode} ${body}`))));
      });
      req.on('error', reject);
      req.end();
    });
    const table = JSON.parse(text) as { columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] };
    const columns = table.columnDefinitions.map((c) => c.name);
    return { columns, rows: table.rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r.cells[i]]))) };
  }

  async events(): Promise<{ reason?: string; message?: string; type?: string; involvedObject: { name?: string; uid?: string } }[]> {
    return (await this.core.listNamespacedEvent({ namespace: this.namespace })).items;
  }

  /** Removes every Session (finalizers first: no agent may be left to release them) and the namespace. */
  async cleanup(): Promise<void> {
    for (const session of await this.listSessions().catch(() => [])) {
      await this.patchMetadata(session.metadata.name, { finalizers: null }).catch(() => undefined);
      await this.deleteSession(session.metadata.name).catch(() => undefined);
    }
    await this.core.deleteCollectionNamespacedEvent({ namespace: this.namespace }).catch(() => undefined);
    await this.core.deleteNamespace({ name: this.namespace }).catch(() => undefined);
  }
}
