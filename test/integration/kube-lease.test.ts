// KubeLeaseLock and LeaseLeaderElector against the real kube-apiserver (hack/test-env up): a
// coordination.k8s.io/v1 Lease with client-go's semantics. Each test uses its own Lease name in
// the shared test namespace and deletes it afterwards.
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FENCING_TOKEN_ANNOTATION, KubeLeaseLock } from '../../agent/leader/kube-lease-lock.ts';
import type { Clock } from '../../reconciler/clock.ts';
import { systemClock } from '../../reconciler/clock.ts';
import type { LeaseTimings } from '../../reconciler/leader.ts';
import { FileLeadershipLedger, findOverlaps, readLedger } from '../../reconciler/leader-ledger.ts';
import { uniqueRunId } from '../support/docker.ts';
import { eventually } from '../support/eventually.ts';
import { deleteLease, ensureNamespace } from '../support/kube-objects.ts';
import { requireTestKube } from '../support/kube.ts';
import { currentLeaders, maxConcurrentLeaders, startReplica, takeoverAfterRelease } from '../support/leader-replicas.ts';
import type { LiveReplica } from '../support/leader-replicas.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Whole seconds: the Lease counts leaseDurationSeconds. A loaded 2-core machine answers a PUT in
// well under the 1 s between renewal and deadline.
const TIMINGS: LeaseTimings = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 250 };
const ERROR = 50;

interface LogLine {
  level: number;
  msg: string;
  identity?: string;
}

let kc: KubeConfig;
let namespace: string;
let leaseName: string;
let locks: KubeLeaseLock[];
let replicas: LiveReplica[];
let lines: LogLine[];
let logger: Logger;
let dirs: string[];

beforeAll(async () => {
  kc = await requireTestKube();
  namespace = await ensureNamespace(kc);
});

beforeEach(() => {
  leaseName = uniqueRunId('lease');
  locks = [];
  replicas = [];
  dirs = [];
  lines = [];
  logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
});

afterEach(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await Promise.all(locks.map((l) => l.close()));
  await deleteLease(kc, namespace, leaseName);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function lock(clock: Clock = systemClock, name = leaseName): KubeLeaseLock {
  const created = new KubeLeaseLock({ kubeConfig: kc, namespace, name, logger, clock });
  locks.push(created);
  return created;
}

async function readLease(): Promise<V1Lease> {
  return kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name: leaseName });
}

/** A clock that runs ahead of the real one by `offsetMs` (another host, or time passing for one observer). */
function shiftedClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return { ...systemClock, now: () => Date.now() + offset, advance: (ms) => (offset += ms) };
}

describe('KubeLeaseLock', () => {
  it('creates the Lease for the first identity and refuses a second one while it is held', async () => {
    const [a, b] = [lock(), lock()];
    const grant = await a.tryAcquireOrRenew('a', 15_000);
    expect(grant?.token).toBeGreaterThan(0);
    expect(await b.tryAcquireOrRenew('b', 15_000)).toBeUndefined();
    expect(await b.holder()).toEqual({ identity: 'a', token: grant!.token });
    const lease = await readLease();
    // What client-go and `kubectl get lease` expect to find.
    expect(lease.spec?.holderIdentity).toBe('a');
    expect(lease.spec?.leaseDurationSeconds).toBe(15);
    expect(lease.spec?.leaseTransitions).toBe(0);
    expect(String(lease.spec?.renewTime)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(lease.metadata?.annotations?.[FENCING_TOKEN_ANNOTATION]).toBe(String(grant!.token));
    expect(a.description).toBe(`kubernetes lease ${namespace}/${leaseName}`);
  });

  it('renews only for the holder, keeping its token and acquireTime and moving renewTime', async () => {
    const [a, b] = [lock(), lock()];
    const { token } = (await a.tryAcquireOrRenew('a', 15_000))!;
    const first = await readLease();
    await eventually(async () => {
      expect(await a.tryAcquireOrRenew('a', 15_000)).toEqual({ token });
      expect(String((await readLease()).spec?.renewTime)).not.toBe(String(first.spec?.renewTime));
    });
    expect(await b.tryAcquireOrRenew('b', 15_000)).toBeUndefined();
    const renewed = await readLease();
    expect(renewed.spec?.holderIdentity).toBe('a');
    expect(String(renewed.spec?.acquireTime)).toBe(String(first.spec?.acquireTime));
    expect(renewed.spec?.leaseTransitions).toBe(0);
  });

  it('lets exactly one of several racing replicas take a free Lease (409 Conflict for the others)', async () => {
    // A free Lease that exists (create races are the API's AlreadyExists), so every racer reads
    // the same resourceVersion and writes with it.
    const seed = lock();
    await seed.tryAcquireOrRenew('seed', 15_000);
    await seed.release('seed');
    const racers = Array.from({ length: 6 }, () => lock());
    const results = await Promise.all(racers.map((r, i) => r.tryAcquireOrRenew(`racer-${i}`, 15_000)));
    const winners = results.flatMap((grant, i) => (grant ? [`racer-${i}`] : []));
    expect(winners).toHaveLength(1);
    expect((await readLease()).spec?.holderIdentity).toBe(winners[0]);
  });

  it('lets exactly one of several racing replicas create a missing Lease', async () => {
    const racers = Array.from({ length: 6 }, () => lock());
    const results = await Promise.all(racers.map((r, i) => r.tryAcquireOrRenew(`racer-${i}`, 15_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('refuses a write based on a stale read: someone else renewed in between', async () => {
    const a = lock();
    await a.tryAcquireOrRenew('a', 15_000);
    const api = kc.makeApiClient(CoordinationV1Api);
    const stale = await readLease();
    expect(await a.tryAcquireOrRenew('a', 15_000)).toBeDefined(); // moves the resourceVersion on
    const body: V1Lease = { ...stale, spec: { ...stale.spec, holderIdentity: 'thief', renewTime: new V1MicroTime(Date.now()) } };
    await expect(api.replaceNamespacedLease({ namespace, name: leaseName, body })).rejects.toMatchObject({ code: 409 });
    expect((await readLease()).spec?.holderIdentity).toBe('a');
  });

  it('releases only for the holder, like ReleaseOnCancel: holder cleared, taken at once with a greater token', async () => {
    const [a, b] = [lock(), lock()];
    const first = (await a.tryAcquireOrRenew('a', 60_000))!;
    await b.release('b');
    expect(await b.holder()).toEqual({ identity: 'a', token: first.token });
    await a.release('a');
    expect(await a.holder()).toBeUndefined();
    const released = await readLease();
    expect(released.spec?.holderIdentity ?? '').toBe('');
    expect(released.spec?.leaseDurationSeconds).toBe(1);
    const second = (await b.tryAcquireOrRenew('b', 60_000))!;
    expect(second.token).toBeGreaterThan(first.token);
    expect((await readLease()).spec?.leaseTransitions).toBe(1);
  });

  it('still releases when a renewal of its own lands between the read and the write of the release', async () => {
    // The elector gives up waiting on a renewal at the step-down; that request can still reach the
    // API server after the release read the Lease, and the release's write then gets 409.
    const api = kc.makeApiClient(CoordinationV1Api);
    const lateRenewal = lock();
    let staged = false;
    const releasing = new KubeLeaseLock({
      kubeConfig: kc,
      namespace,
      name: leaseName,
      logger,
      api: {
        readNamespacedLease: (request) => api.readNamespacedLease(request),
        createNamespacedLease: (request) => api.createNamespacedLease(request),
        replaceNamespacedLease: async (request) => {
          if (request.body.spec?.holderIdentity === '' && !staged) {
            staged = true;
            expect(await lateRenewal.tryAcquireOrRenew('a', 60_000)).toBeDefined();
          }
          return api.replaceNamespacedLease(request);
        },
      },
    });
    locks.push(releasing);
    await releasing.tryAcquireOrRenew('a', 60_000);

    await releasing.release('a');
    expect(staged).toBe(true);
    expect((await readLease()).spec?.holderIdentity ?? '').toBe('');
  });

  it('judges expiry on the observer clock: a Lease is taken over only leaseDuration after its record last changed', async () => {
    const clock = shiftedClock();
    const a = lock();
    const b = lock(clock);
    const first = (await a.tryAcquireOrRenew('a', 5_000))!;
    expect(await b.tryAcquireOrRenew('b', 5_000)).toBeUndefined(); // b observes the record now
    clock.advance(4_000);
    expect(await b.tryAcquireOrRenew('b', 5_000)).toBeUndefined(); // unchanged for 4 s of b's time: still held
    // A renewal changes the record: b's 5 s start again from when b sees it.
    expect(await a.tryAcquireOrRenew('a', 5_000)).toEqual(first);
    clock.advance(2_000);
    expect(await b.tryAcquireOrRenew('b', 5_000)).toBeUndefined();
    clock.advance(3_000);
    expect(await b.tryAcquireOrRenew('b', 5_000)).toBeUndefined(); // 3 s since b saw the renewal
    clock.advance(2_100);
    const second = (await b.tryAcquireOrRenew('b', 5_000))!;
    expect(second.token).toBeGreaterThan(first.token);
    // The old holder's late renewal finds b holding a Lease it just saw change: refused.
    expect(await a.tryAcquireOrRenew('a', 5_000)).toBeUndefined();
    expect(await a.holder()).toEqual({ identity: 'b', token: second.token });
  });

  it('hands out growing fencing tokens, also when the Lease is deleted and recreated', async () => {
    const a = lock();
    const tokens: number[] = [];
    for (let i = 0; i < 4; i++) {
      tokens.push((await a.tryAcquireOrRenew(`r${i}`, 60_000))!.token);
      await a.release(`r${i}`);
    }
    await deleteLease(kc, namespace, leaseName); // leaseTransitions would restart at 0 here
    tokens.push((await a.tryAcquireOrRenew('after-delete', 60_000))!.token);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
    expect(tokens.every(Number.isSafeInteger)).toBe(true);
  });
});

describe('LeaseLeaderElector on a Kubernetes Lease', () => {
  it('elects one of three replicas, and another after the leader stops, with no overlap and a greater token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dockerlet-ledger-'));
    dirs.push(dir);
    const ledgerPath = join(dir, 'ledger.jsonl');
    const ledger = new FileLeadershipLedger(ledgerPath);
    for (const identity of ['r1', 'r2', 'r3']) replicas.push(startReplica({ identity, lock: lock(), timings: TIMINGS, logger, ledger }));
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 10_000 });
    expect(await maxConcurrentLeaders(replicas, 2 * TIMINGS.leaseDurationMs)).toBe(1);
    const first = currentLeaders(replicas)[0]!;
    expect(first.starts).toHaveLength(1); // renewed all along
    expect((await readLease()).spec?.holderIdentity).toBe(first.identity);

    const stoppedAt = Date.now();
    await first.stop();
    await eventually(() => expect(currentLeaders(replicas)).toHaveLength(1), { timeoutMs: 10_000, intervalMs: 5 });
    const second = currentLeaders(replicas)[0]!;
    const takeoverMs = second.starts[0]!.at - stoppedAt;
    expect(first.stops.map((s) => s.reason)).toEqual(['Released']);
    expect(second.starts[0]!.token).toBeGreaterThan(first.starts[0]!.token);
    // Released: a watching standby is woken, without the watch it would be at most one retry period.
    expect(takeoverMs).toBeLessThanOrEqual(TIMINGS.retryPeriodMs + 500);
    expect(await maxConcurrentLeaders(replicas, TIMINGS.leaseDurationMs)).toBe(1);

    await Promise.all(replicas.map((r) => r.stop()));
    expect(findOverlaps(readLedger(ledgerPath))).toEqual([]);
    expect(lines.filter((l) => l.level >= ERROR)).toEqual([]);
    console.info(`kubernetes: takeover after release ${takeoverMs} ms`);
  });

  it('wakes standbys on a release through the Lease watch: taken at once, not at the next retry', async () => {
    const takeoverMs = await takeoverAfterRelease({ lock: () => lock(), logger, lines, replicas, eventually });
    expect(takeoverMs).toBeLessThan(1_000);
    console.info(`kubernetes: takeover after release with a 4 s retry period ${takeoverMs} ms`);
  });
});
