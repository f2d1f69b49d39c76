// Agent records as Agent custom resources (cluster-scoped, crds/agent.yaml), written through the
// status subresource: `kubectl get agents` shows state, leader and heartbeat. As in the Redis and
// file stores, memory is the truth for reads (get/list are synchronous) and the API server the
// shared copy: `write` updates memory at once and the change goes out within flushDelayMs;
// `reload` (the leader calls it every heartbeat interval) picks up other agents' beats.
//
// Every status write carries the resourceVersion this replica last saw, so a write based on a stale
// read is refused (409) instead of overwriting a newer one: a liveness controller elsewhere that
// decided "Offline" on a record the agent has since beaten again loses, as it must. A refused
// write is dropped and the record re-read; its writer decides again from fresh data on its next
// tick (the next beat, the liveness requeue). The Agent object is created when missing.
import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { parseAgentStatus } from '../../../controllers/agent/record.ts';
import type { AgentStatus, ObjectKey } from '../../../crds/types.ts';
import type { Fence } from '../../../reconciler/fence.ts';
import type { ManagedStatusStore } from '../../../reconciler/store.ts';
import { BatchFence } from '../batch-fence.ts';
import { deepFreeze } from '../../sources/yaml/object-meta.ts';
import { retryTooManyRequests } from '../../kube/retry.ts';

export const AGENT_RESOURCE = { group: 'dockerlet.dev', version: 'v1alpha1', plural: 'agents', kind: 'Agent' } as const;

export interface KubeAgentStatusStoreOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** How long writes are collected before they go out. Default 100 ms. */
  flushDelayMs?: number;
  /** How long `flush()`/`close()` wait for the API server. Default 5 s (inside `docker stop`'s grace). */
  flushTimeoutMs?: number;
  /** Leader-only writes: each batch is checked against the lease first (agent/status/batch-fence.ts). */
  fence?: Fence;
}

/** The parts of an Agent object this store reads. */
interface AgentObject {
  metadata?: { name?: string; resourceVersion?: string };
  /** spec.drain: set by `dockerlet drain` (or kubectl patch); the agent never writes spec. */
  spec?: { drain?: unknown };
  status?: unknown;
}

const RETRY_DELAY_MS = 1_000;
const FLUSH_RETRY_DELAY_MS = 100;

export class KubeAgentStatusStore implements ManagedStatusStore<AgentStatus> {
  readonly #api: CustomObjectsApi;
  readonly #log: Logger;
  readonly #server: string;
  readonly #flushDelayMs: number;
  readonly #flushTimeoutMs: number;
  #items = new Map<ObjectKey, AgentStatus>();
  /** resourceVersion of each Agent as last seen (read or written by us): the precondition of our next write. */
  readonly #versions = new Map<ObjectKey, string>();
  /** Newest unsent change per agent: a status, or null to delete the Agent. */
  readonly #pending = new Map<ObjectKey, AgentStatus | null>();
  /** The fencing token each pending change was decided under. */
  readonly #tokens = new Map<ObjectKey, number>();
  readonly #fence: BatchFence;
  readonly #touchedDuringLoads = new Set<Set<ObjectKey>>();
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();
  #outageSince: number | undefined;
  #closed = false;
  #draining: ReadonlySet<string> = new Set();

  constructor(options: KubeAgentStatusStoreOptions) {
    this.#api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.#log = options.logger.child({ component: 'status-store', resource: 'agents.dockerlet.dev' });
    this.#fence = new BatchFence(options.fence, this.#log);
    this.#server = options.kubeConfig.getCurrentCluster()?.server ?? 'the Kubernetes API';
    this.#flushDelayMs = options.flushDelayMs ?? 100;
    this.#flushTimeoutMs = options.flushTimeoutMs ?? 5_000;
  }

  /** Lists every Agent. A status that is not a valid record is logged and left out; our own changes win. */
  async load(): Promise<void> {
    const { group, version, plural } = AGENT_RESOURCE;
    // Agents we change while the list is out keep what we wrote (and the resourceVersion our write
    // returned): the list may have been served before our write landed.
    const touched = new Set<ObjectKey>(this.#pending.keys());
    this.#touchedDuringLoads.add(touched);
    try {
      let list: { items?: AgentObject[] };
      try {
        list = (await retryTooManyRequests(() => this.#api.listClusterCustomObject({ group, version, plural }))) as { items?: AgentObject[] };
      } catch (error) {
        const hint = isStatus(error, 404) ? 'install the CRDs (kubectl apply -k deploy/kubernetes)' : isStatus(error, 403) ? 'grant the agent the RBAC in deploy/kubernetes' : 'check --kubeconfig';
        throw new Error(`listing Agent resources at ${this.#server} failed: ${hint}`, { cause: error });
      }
      const next = new Map<ObjectKey, AgentStatus>();
      const draining = new Set<string>();
      for (const object of list.items ?? []) {
        const name = object.metadata?.name;
        if (name && object.spec?.drain === true) draining.add(name);
        if (!name || touched.has(name)) continue;
        if (object.metadata?.resourceVersion) this.#versions.set(name, object.metadata.resourceVersion);
        const status = this.#decode(name, object.status);
        if (status !== undefined) next.set(name, status);
      }
      for (const name of touched) {
        const mine = this.#items.get(name);
        if (mine !== undefined) next.set(name, mine);
      }
      this.#items = next;
      this.#draining = draining;
    } finally {
      this.#touchedDuringLoads.delete(touched);
    }
  }

  reload(): Promise<void> {
    return this.load();
  }

  /** Agents whose spec.drain is true, as of the last load (README "Fleet": dockerlet drain). */
  drainRequested(): ReadonlySet<string> {
    return this.#draining;
  }

  get(key: ObjectKey): AgentStatus | undefined {
    return this.#items.get(key);
  }

  /** Values are frozen: copy before changing, then `write`. */
  list(): ReadonlyMap<ObjectKey, AgentStatus> {
    return this.#items;
  }

  async write(key: ObjectKey, status: AgentStatus): Promise<void> {
    const json = JSON.stringify(status);
    if (json === undefined) throw new TypeError(`status for agent ${key} is not JSON-serializable`);
    const copy = deepFreeze(JSON.parse(json) as AgentStatus);
    this.#tokens.set(key, this.#fence.stamp('agent status write'));
    this.#items.set(key, copy);
    this.#pending.set(key, copy);
    for (const touched of this.#touchedDuringLoads) touched.add(key);
    this.#schedule(this.#flushDelayMs);
  }

  async delete(key: ObjectKey): Promise<void> {
    if (!this.#items.has(key)) return;
    this.#tokens.set(key, this.#fence.stamp('agent delete'));
    this.#items.delete(key);
    this.#pending.set(key, null);
    for (const touched of this.#touchedDuringLoads) touched.add(key);
    this.#schedule(this.#flushDelayMs);
  }

  /** Resolves when every change made before the call reached the API server (or was refused as stale). */
  flush(): Promise<void> {
    const deadline = Date.now() + this.#flushTimeoutMs;
    this.#cancelTimer();
    const run = this.#chain.then(() => this.#flushUntil(deadline));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.#closed = true;
    try {
      await this.flush();
    } finally {
      this.#cancelTimer();
      if (this.#pending.size > 0) this.#log.error({ pending: this.#pending.size }, 'closed with agent status writes the API server never took');
    }
  }

  #decode(name: string, status: unknown): AgentStatus | undefined {
    if (status === undefined || status === null) return undefined;
    try {
      return deepFreeze(parseAgentStatus(status));
    } catch (error) {
      this.#log.warn({ agent: name, err: error }, 'stored agent status does not parse; ignored');
      return undefined;
    }
  }

  #schedule(delayMs: number): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const run = this.#chain.then(() => this.#attempt());
      this.#chain = run.catch(() => undefined);
      run.catch(() => this.#schedule(RETRY_DELAY_MS));
    }, delayMs);
    this.#timer.unref();
  }

  #cancelTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #flushUntil(deadline: number): Promise<void> {
    for (;;) {
      try {
        await this.#attempt();
        return;
      } catch (error) {
        if (Date.now() + FLUSH_RETRY_DELAY_MS >= deadline) {
          this.#schedule(RETRY_DELAY_MS);
          throw new Error(`agent status store: ${this.#pending.size} changes still pending after ${this.#flushTimeoutMs} ms`, { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, FLUSH_RETRY_DELAY_MS));
      }
    }
  }

  /** Sends every pending change, one agent after another. Rejects on the first failure (kept pending). */
  async #attempt(): Promise<void> {
    const batch = [...this.#pending];
    const { refused } = await this.#fence.admit(new Map(batch.map(([name]) => [name, this.#tokens.get(name) ?? 0])));
    for (const [name, change] of batch) {
      if (refused.includes(name)) {
        if (this.#pending.get(name) === change) this.#pending.delete(name);
        continue;
      }
      try {
        if (change === null) await this.#deleteAgent(name);
        else await this.#putStatus(name, change);
        if (this.#outageSince !== undefined) {
          this.#log.info({ outageMs: Date.now() - this.#outageSince }, 'agent status writes resumed');
          this.#outageSince = undefined;
        }
      } catch (error) {
        if (this.#outageSince === undefined) {
          this.#outageSince = Date.now();
          this.#log.error({ err: error, pending: this.#pending.size }, 'cannot write agent status; retrying');
        }
        throw error;
      }
      // Only if no newer change for this agent arrived while the request was out.
      if (this.#pending.get(name) === change) this.#pending.delete(name);
    }
  }

  async #putStatus(name: string, status: AgentStatus): Promise<void> {
    const { group, version, plural, kind } = AGENT_RESOURCE;
    let resourceVersion = this.#versions.get(name);
    if (resourceVersion === undefined) resourceVersion = await this.#ensureAgent(name);
    const body = { apiVersion: `${group}/${version}`, kind, metadata: { name, resourceVersion }, status };
    try {
      const written = (await this.#api.replaceClusterCustomObjectStatus({ group, version, plural, name, body })) as AgentObject;
      this.#remember(name, written);
    } catch (error) {
      if (isStatus(error, 404)) {
        // Deleted since we saw it (kubectl delete agent): recreate it on the next attempt.
        this.#versions.delete(name);
        throw error;
      }
      if (!isStatus(error, 409)) throw error;
      // Someone wrote this Agent since we read it: ours was decided on stale data. Take theirs.
      this.#log.info({ agent: name }, 'agent status changed by another writer; stale write dropped, record re-read');
      const current = (await this.#api.getClusterCustomObject({ group, version, plural, name })) as AgentObject;
      this.#remember(name, current);
      if (this.#pending.get(name) === status) {
        const fresh = this.#decode(name, current.status);
        if (fresh === undefined) this.#items.delete(name);
        else this.#items.set(name, fresh);
      }
    }
  }

  /** Creates the Agent (status is ignored on create with a status subresource) or reads the existing one. */
  async #ensureAgent(name: string): Promise<string | undefined> {
    const { group, version, plural, kind } = AGENT_RESOURCE;
    try {
      const created = (await this.#api.createClusterCustomObject({
        group,
        version,
        plural,
        body: { apiVersion: `${group}/${version}`, kind, metadata: { name }, spec: {} },
      })) as AgentObject;
      this.#log.info({ agent: name }, 'created Agent resource');
      return this.#remember(name, created);
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
      // It exists: write on top of what is there now (our memory is the newest intent for it).
      return this.#remember(name, (await this.#api.getClusterCustomObject({ group, version, plural, name })) as AgentObject);
    }
  }

  async #deleteAgent(name: string): Promise<void> {
    const { group, version, plural } = AGENT_RESOURCE;
    try {
      await this.#api.deleteClusterCustomObject({ group, version, plural, name });
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
    this.#versions.delete(name);
  }

  #remember(name: string, object: AgentObject): string | undefined {
    for (const touched of this.#touchedDuringLoads) touched.add(name);
    const resourceVersion = object.metadata?.resourceVersion;
    if (resourceVersion) this.#versions.set(name, resourceVersion);
    return resourceVersion;
  }
}

function isStatus(error: unknown, code: number): boolean {
  return error instanceof ApiException && error.code === code;
}
