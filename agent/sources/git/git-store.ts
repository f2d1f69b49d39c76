// Desired Sessions from a Git repository: fetch (on a timer, or now when the webhook asks), and
// apply each new commit once by extracting its <path> into a revision directory, pointing the
// cache's `current` link at it and reloading the YAML store that reads through that link. The
// YAML store does all the judging (schema, file:line problems, last valid version per file), so a
// Git store refuses exactly what a directory store would, and a broken file in a new commit keeps
// that file's objects from the revision before, as a broken edit in a directory does.
//
// Which revision each refused file was last usable at is kept on disk (git-last-good.ts), so its
// objects stay after a restart too.
//
// Fetch or apply failures never remove anything: the last applied revision stays loaded and the
// store reports itself incomplete, which keeps orphan collection off until a fetch succeeds again.
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { AgentSource, ObjectKey, Session } from '../../../crds/types.ts';
import type { ChangeListener, DesiredEntry, DesiredStore } from '../../../reconciler/store.ts';
import type { GitCache } from './git-cache.ts';
import { RevisionError } from './git-cache.ts';
import type { LastGoodRevisions } from './git-last-good.ts';
import type { GitStoreSpec } from '../store-spec.ts';
import { redactUrl } from '../store-spec.ts';
import type { YamlDirectoryStore } from '../yaml/yaml-store.ts';
import { describeError } from '../yaml/yaml-tree.ts';

/** What one fetch did, as the webhook endpoint returns it. */
export interface GitSyncResult {
  /** False when the fetch or the apply failed; `error` says why. */
  ok: boolean;
  /** Commit the ref names now (absent when the fetch failed). */
  revision?: string;
  lastAppliedRevision?: string;
  /** True when this sync applied a commit not applied before. */
  applied: boolean;
  /** Why the fetch or the apply failed. */
  error?: string;
  /** Files of the applied revision that were refused (file:line: why); their previous objects stay. */
  problems: string[];
}

/** What the store needs of its cache (git-cache.ts); tests give a fake. */
export type GitRevisions = Pick<GitCache, 'fetch' | 'currentRevision' | 'materialise' | 'activate' | 'prune'>;

export interface GitDesiredStoreOptions {
  spec: GitStoreSpec;
  cache: GitRevisions;
  /** Reads `cache.currentLink`, with watching off: it reloads when told to, after a swap. */
  yaml: YamlDirectoryStore;
  /** Where refused files were last usable; the same object gives `yaml` its priorVersions. */
  lastGood: LastGoodRevisions;
  logger: Logger;
  pollIntervalMs: number;
  /** Where dockerlet_git_* counters go; absent for one-shot use. */
  registry?: Registry;
  now?: () => number;
}

/** Problems listed in status.source.lastError before "and N more". */
const MAX_REPORTED_PROBLEMS = 5;

export class GitDesiredStore implements DesiredStore<Session> {
  private readonly spec: GitStoreSpec;
  private readonly cache: GitRevisions;
  private readonly yaml: YamlDirectoryStore;
  private readonly lastGood: LastGoodRevisions;
  private readonly logger: Logger;
  private readonly pollIntervalMs: number;
  private readonly now: () => number;
  private readonly fetches: Counter<'result'> | undefined;
  private readonly applies: Counter<'result'> | undefined;

  private yamlStarted = false;
  private revision: string | undefined;
  private lastApplied: string | undefined;
  private lastAppliedTime: string | undefined;
  private lastFetchTime: string | undefined;
  private fetchError: string | undefined;
  private applyError: string | undefined;
  /** A commit that can never apply (its path is missing): not retried until the ref moves. */
  private refusedRevision: string | undefined;

  /** Syncs run one after another; one more may wait, and every caller meanwhile shares it. */
  private tail: Promise<unknown> = Promise.resolve();
  private queued: Promise<GitSyncResult> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Aborted by stop(): a fetch hanging on an unreachable host must not hold up the agent's exit. */
  private lifetime = new AbortController();

  constructor(options: GitDesiredStoreOptions) {
    this.spec = options.spec;
    this.cache = options.cache;
    this.yaml = options.yaml;
    this.lastGood = options.lastGood;
    this.logger = options.logger.child({ component: 'git-store', url: redactUrl(options.spec.url), ref: options.spec.ref ?? 'HEAD', path: options.spec.path });
    this.pollIntervalMs = options.pollIntervalMs;
    this.now = options.now ?? Date.now;
    if (options.registry) {
      this.fetches = new Counter({
        name: 'dockerlet_git_fetches_total',
        help: 'Fetches of the Git store, by result (success, error).',
        labelNames: ['result'],
        registers: [options.registry],
      });
      this.applies = new Counter({
        name: 'dockerlet_git_applies_total',
        help: 'New commits of the Git store applied (each at most once), by result (success, error).',
        labelNames: ['result'],
        registers: [options.registry],
      });
    }
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.lifetime = new AbortController();
    // What an earlier run applied is served at once, so an unreachable remote at start-up is not an empty store.
    this.lastApplied = await this.cache.currentRevision();
    await this.lastGood.load();
    if (this.lastApplied === undefined) {
      // Nothing to serve before the first fetch: start-up waits for it (well or not).
      await this.sync();
    } else {
      // Serve what we have now; a slow or unreachable remote must not hold up the agent's start.
      await this.loadYaml();
      await this.recordLastGood(this.lastApplied);
      this.sync().catch((error: unknown) => this.logger.error({ err: error }, 'git sync failed'));
    }
    this.schedulePoll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    this.lifetime.abort();
    await this.tail;
    await this.yaml.stop();
  }

  /** Fetches now (the webhook and the poll timer); resolves when that fetch, and its apply, are done. */
  sync(): Promise<GitSyncResult> {
    // A sync that has not started yet will see everything this caller wants seen: share it.
    if (this.queued) return this.queued;
    const run = this.tail.then(() => {
      this.queued = undefined;
      return this.syncOnce();
    });
    this.queued = run;
    this.tail = run.catch(() => undefined);
    return run;
  }

  isComplete(): boolean {
    return this.lastApplied !== undefined && this.fetchError === undefined && this.applyError === undefined && this.yaml.isComplete();
  }

  loadProblems(): string[] {
    return [...this.sourceProblems(), ...(this.lastApplied === undefined ? [] : this.yaml.loadProblems())];
  }

  list(): DesiredEntry<Session>[] {
    return this.lastApplied === undefined ? [] : this.yaml.list();
  }

  size(): number {
    return this.lastApplied === undefined ? 0 : this.yaml.size();
  }

  get(key: ObjectKey): DesiredEntry<Session> | undefined {
    return this.lastApplied === undefined ? undefined : this.yaml.get(key);
  }

  onChange(listener: ChangeListener): () => void {
    return this.yaml.onChange(listener);
  }

  /** For the Agent record: where the desired state comes from and how far it got. */
  sourceStatus(): AgentSource {
    const status: AgentSource = { kind: 'git', url: redactUrl(this.spec.url), path: this.spec.path };
    if (this.spec.ref !== undefined) status.ref = this.spec.ref;
    if (this.revision !== undefined) status.revision = this.revision;
    if (this.lastApplied !== undefined) status.lastAppliedRevision = this.lastApplied;
    if (this.lastAppliedTime !== undefined) status.lastAppliedTime = this.lastAppliedTime;
    if (this.lastFetchTime !== undefined) status.lastFetchTime = this.lastFetchTime;
    const problems = [...this.sourceProblems(), ...this.revisionProblems()];
    if (problems.length > 0) {
      const more = problems.length > MAX_REPORTED_PROBLEMS ? [`and ${problems.length - MAX_REPORTED_PROBLEMS} more`] : [];
      status.lastError = [...problems.slice(0, MAX_REPORTED_PROBLEMS), ...more].join('; ');
    }
    return status;
  }

  /** Why the repository's newest commit is not what the store holds (fetch or apply failed, nothing applied yet). */
  private sourceProblems(): string[] {
    const keeping = this.lastApplied === undefined ? 'no revision applied yet' : `keeping revision ${short(this.lastApplied)}`;
    const problems: string[] = [];
    if (this.fetchError !== undefined) problems.push(`git fetch of ${redactUrl(this.spec.url)} failed (${keeping}): ${this.fetchError}`);
    if (this.applyError !== undefined) problems.push(`cannot apply commit ${short(this.refusedRevision ?? this.revision ?? '')} (${keeping}): ${this.applyError}`);
    if (this.lastApplied === undefined && problems.length === 0) problems.push(keeping);
    return problems;
  }

  /**
   * What the applied revision got refused: unusable files (which make the store incomplete) and
   * objects whose newest version is invalid (each keeps its previous version), as file:line: why.
   */
  private revisionProblems(): string[] {
    if (this.lastApplied === undefined) return [];
    const objectProblems = this.yaml.list().flatMap((entry) => (entry.problem ? [entry.problem.message] : []));
    return [...new Set([...this.yaml.loadProblems(), ...objectProblems])];
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    this.pollTimer = setTimeout(() => {
      this.sync()
        .catch((error: unknown) => this.logger.error({ err: error }, 'git sync failed'))
        .finally(() => this.schedulePoll());
    }, this.pollIntervalMs);
    this.pollTimer.unref();
  }

  /** One fetch and, for a commit not applied before, one apply. Never throws: failures go to status. */
  private async syncOnce(): Promise<GitSyncResult> {
    if (this.stopped) return this.result(false);
    this.lastFetchTime = rfc3339(this.now());
    let commit: string;
    try {
      commit = await this.cache.fetch(this.lifetime.signal);
    } catch (error) {
      // Cancelled by stop(): not a problem of the remote.
      if (this.stopped) return this.result(false);
      const message = describeError(error);
      if (message !== this.fetchError) this.logger.warn({ problem: message, keeping: this.lastApplied }, 'git fetch failed; keeping the last applied revision');
      this.fetchError = message;
      this.fetches?.inc({ result: 'error' });
      return this.result(false);
    }
    if (this.fetchError !== undefined) this.logger.info({ revision: commit }, 'git fetch works again');
    this.fetchError = undefined;
    this.fetches?.inc({ result: 'success' });
    this.revision = commit;
    if (commit === this.lastApplied) {
      // The ref is back where we are (a revert force-pushed, say): what was refused no longer matters.
      this.applyError = undefined;
      this.refusedRevision = undefined;
      return this.result(true);
    }
    if (commit === this.refusedRevision) return this.result(false);
    return this.apply(commit);
  }

  private async apply(commit: string): Promise<GitSyncResult> {
    try {
      await this.cache.materialise(commit);
      await this.cache.activate(commit);
      this.lastApplied = commit;
      await this.loadYaml();
    } catch (error) {
      this.applyError = describeError(error);
      // A missing path stays missing in that commit; anything else (a full disk) is retried next time.
      this.refusedRevision = error instanceof RevisionError ? commit : undefined;
      this.logger.warn({ revision: commit, problem: this.applyError, keeping: this.lastApplied }, 'cannot apply commit; keeping the last applied revision');
      this.applies?.inc({ result: 'error' });
      return this.result(false, false);
    }
    this.applyError = undefined;
    this.refusedRevision = undefined;
    this.lastAppliedTime = rfc3339(this.now());
    this.applies?.inc({ result: 'success' });
    const problems = this.revisionProblems();
    this.logger.info({ revision: commit, sessions: this.yaml.size(), problems: problems.length }, 'applied commit');
    // Recorded before pruning: a revision a refused file is held at must be on record before anything may remove it.
    if (await this.recordLastGood(commit)) {
      await this.cache.prune([commit, ...this.lastGood.heldRevisions(commit)]).catch((error: unknown) => this.logger.debug({ err: error }, 'pruning old revisions failed'));
    }
    return this.result(true, true);
  }

  /** Notes where each file of `applied` was last usable; false when that could not be written (then nothing is pruned). */
  private async recordLastGood(applied: string): Promise<boolean> {
    try {
      await this.lastGood.update(applied, this.yaml.fileStates());
      return true;
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot record where refused files were last usable; they may lose their objects at a restart');
      return false;
    }
  }

  private async loadYaml(): Promise<void> {
    if (this.yamlStarted) {
      await this.yaml.reload();
      return;
    }
    this.yamlStarted = true;
    await this.yaml.start();
  }

  private result(ok: boolean, applied = false): GitSyncResult {
    const result: GitSyncResult = { ok, applied, problems: this.revisionProblems() };
    if (this.revision !== undefined && this.fetchError === undefined) result.revision = this.revision;
    if (this.lastApplied !== undefined) result.lastAppliedRevision = this.lastApplied;
    const error = this.fetchError ?? this.applyError;
    if (error !== undefined) result.error = error;
    return result;
  }
}

function short(commit: string): string {
  return commit.slice(0, 12);
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}
