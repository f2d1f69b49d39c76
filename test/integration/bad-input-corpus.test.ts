// The bad-input corpus through the real agent on the real engine, all cases in one store beside
// good Sessions: each case is reported naming its file (in /readyz for a file that cannot be
// used, in the Session's status for a Session the schema or the host policy refuses), no
// container is created for any of them, every good Session converges (one written after the
// corpus too), and the container that ran before the corpus arrived is still the same one.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { STATE_FILES } from '../../agent/state-layout.ts';
import { FileStatusStore } from '../../agent/status/file-status-store.ts';
import type { SessionStatus } from '../../crds/types.ts';
import { requireTestEngine, TEST_DOCKER_SOCKET } from '../support/docker.ts';
import { AgentWorld } from '../support/agent-process.ts';
import { inProcessAgentConfig } from '../support/agent-config.ts';
import { BAD_INPUT_CORPUS, goodSession } from '../support/bad-input-corpus.ts';
import type { CorpusCase } from '../support/bad-input-corpus.ts';
import { consistently, eventually } from '../support/eventually.ts';

/** The host policy's part of the corpus: a well-formed Session that mounts the engine socket. */
const ENGINE_SOCKET: CorpusCase = {
  id: 'engine-socket',
  file: 'engine-socket.yaml',
  expect: `spec.volumes[0].hostPath: ${JSON.stringify(TEST_DOCKER_SOCKET)} is the engine socket`,
  key: 'default/bad-engine-socket',
  write: (store) =>
    writeFile(
      join(store, 'engine-socket.yaml'),
      goodSession('bad-engine-socket').replace('spec:\n', `spec:\n  volumes: [{name: d, hostPath: ${TEST_DOCKER_SOCKET}}]\n  mounts: [{name: d, mountPath: /d}]\n`),
    ),
};

describe('bad-input corpus through the real agent', () => {
  let world: AgentWorld | undefined;
  let agent: RunningAgent | undefined;

  beforeAll(requireTestEngine);

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await world?.cleanup();
    world = undefined;
  });

  it('reports every case by file, creates nothing for it, keeps converging the rest and removes nothing', async () => {
    const w = (world = await AgentWorld.create());
    const config = await inProcessAgentConfig(w);
    agent = await startAgent(config, { logger: pino({ level: 'silent' }) });
    const running = (key: string): Promise<string> => w.runningContainer(key, 60_000);

    await w.writeFile('keep.yaml', goodSession('keep'));
    const kept = await running('default/keep');

    const corpus = [...BAD_INPUT_CORPUS, ENGINE_SOCKET];
    const outside = join(w.root, 'outside');
    for (const c of corpus) await c.write(w.storeDir, outside);
    for (const name of ['good-1', 'good-2', 'good-3']) await w.writeFile(`${name}.yaml`, goodSession(name));
    for (const name of ['good-1', 'good-2', 'good-3']) await running(`default/${name}`);

    const problems = async (): Promise<string[]> => {
      const ready = await fetch(`http://127.0.0.1:${config.listenPort}/readyz`).then((r) => r.text());
      const statuses = await FileStatusStore.readSnapshot<SessionStatus>(join(w.stateDir, STATE_FILES.sessions));
      return [...ready.split('\n'), ...[...statuses.values()].map((s) => s.message ?? '')];
    };
    // A file's problem names the file; a Session's status names the field (the policy's refusal
    // is about the Session, wherever its file is).
    const reported = (c: CorpusCase, all: string[]): boolean => all.some((p) => p.includes(c.expect) && (p.includes(c.file) || c === ENGINE_SOCKET));
    await eventually(
      async () => {
        const all = await problems();
        expect(corpus.filter((c) => !reported(c, all)).map((c) => c.id)).toEqual([]);
      },
      { timeoutMs: 30_000, message: 'every case reported' },
    );

    // Still converging: a Session written now runs; nothing of the corpus ever gets a container.
    await w.writeFile('late.yaml', goodSession('late'));
    await running('default/late');
    await agent.resync();
    await consistently(
      async () => {
        const containers = await w.containers();
        expect([...containers.keys()].sort()).toEqual(['default/good-1', 'default/good-2', 'default/good-3', 'default/keep', 'default/late']);
        expect(containers.get('default/keep')).toEqual({ id: kept, state: 'running' });
      },
      { durationMs: 3_000, message: 'only the good Sessions run, the first one untouched' },
    );
    // The figure for README "Reliability": cases tried, and cases the agent survived as above.
    process.stdout.write(`bad-input corpus: ${corpus.length} cases tried, ${corpus.length} survived\n`);
  }, 180_000);
});
