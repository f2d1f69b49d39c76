// Test support for the YAML store: a small stand-in for the CRD validator, a store wired to a
// temp directory, and a log capture to count reload passes. Not a test file itself.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from 'pino';
import { LineCounter, parseAllDocuments } from 'yaml';
import type { Session } from '../../../crds/types.ts';
import { manifestKey } from './manifest-parser.ts';
import type { ParsedDocument } from './manifest-parser.ts';
import { YamlDirectoryStore } from './yaml-store.ts';
import type { YamlDirectoryStoreOptions } from './yaml-store.ts';

/** Accepts any Session with a string spec.image; enough to exercise the store's rules. */
export function fakeParser(text: string, _source: string): ParsedDocument[] {
  const lineCounter = new LineCounter();
  const out: ParsedDocument[] = [];
  for (const doc of parseAllDocuments(text, { lineCounter })) {
    const line = lineCounter.linePos(doc.range[0]).line;
    const syntax = doc.errors[0];
    if (syntax) {
      out.push({ ok: false, malformed: true, message: syntax.message.split('\n')[0]!, line: syntax.linePos?.[0].line ?? line });
      continue;
    }
    const value: unknown = doc.toJS();
    // A comment-only document or a trailing `---` is no document at all.
    if (value === null || value === undefined) continue;
    if (!isRecord(value)) {
      out.push({ ok: false, malformed: true, message: 'document is not a mapping', line });
      continue;
    }
    const metadata = isRecord(value.metadata) ? value.metadata : {};
    const key = typeof metadata.name === 'string' && metadata.name !== '' ? manifestKey(metadata.namespace, metadata.name) : undefined;
    if (typeof value.kind === 'string' && value.kind !== 'Session') {
      out.push(key === undefined ? { ok: 'ignored', kind: String(value.kind) } : { ok: 'ignored', kind: String(value.kind), key });
      continue;
    }
    if (key === undefined) {
      out.push({ ok: false, malformed: false, fieldPath: 'metadata.name', message: 'metadata.name: Required value', line });
      continue;
    }
    if (value.kind === undefined) {
      out.push({ ok: false, key, malformed: false, fieldPath: 'kind', message: 'kind: Required value', line });
      continue;
    }
    const spec = isRecord(value.spec) ? value.spec : {};
    if (typeof spec.image !== 'string') {
      out.push({ ok: false, key, malformed: false, fieldPath: 'spec.image', message: 'spec.image: Required value', line });
      continue;
    }
    out.push({ ok: true, object: value as unknown as Session });
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function sessionYaml(name: string, image: string, extra: { namespace?: string; labels?: string } = {}): string {
  return [
    'apiVersion: dockerlet.dev/v1alpha1',
    'kind: Session',
    'metadata:',
    `  name: ${name}`,
    ...(extra.namespace ? [`  namespace: ${extra.namespace}`] : []),
    ...(extra.labels ? ['  labels:', `    team: ${extra.labels}`] : []),
    'spec:',
    `  image: ${image}`,
    '',
  ].join('\n');
}

/** A logger whose records are kept, to count passes ("reloaded") and check warnings. */
export function capturingLogger(): { logger: Logger; messages: () => string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(line);
      done();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  return { logger, messages: () => lines.map((l) => String((JSON.parse(l) as { msg?: unknown }).msg)) };
}

export interface Harness {
  dir: string;
  store: YamlDirectoryStore;
  events: string[];
  /** Files passed to the parser, in order. */
  parsed: string[];
  messages: () => string[];
  write(file: string, text: string): Promise<void>;
  remove(file: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function makeTempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'dockerlet-stores-'));
}

export async function harness(
  options: Partial<YamlDirectoryStoreOptions> & { dir?: string; files?: Record<string, string> } = {},
): Promise<Harness> {
  const base = options.dir ?? (await makeTempDir());
  const { logger, messages } = capturingLogger();
  const parsed: string[] = [];
  const events: string[] = [];
  const write = async (file: string, text: string): Promise<void> => {
    await mkdir(path.dirname(path.join(base, file)), { recursive: true });
    await writeFile(path.join(base, file), text);
  };
  for (const [file, text] of Object.entries(options.files ?? {})) await write(file, text);
  const parse = options.parse ?? fakeParser;
  const store = new YamlDirectoryStore({
    debounceMs: 50,
    pollMs: 50,
    rescanMs: 0,
    logger,
    ...options,
    dir: base,
    parse: (text, source) => {
      parsed.push(source);
      return parse(text, source);
    },
  });
  store.onChange((key) => events.push(key));
  return {
    dir: base,
    store,
    events,
    parsed,
    messages,
    write,
    remove: (file) => rm(path.join(base, file), { force: true }),
    cleanup: async () => {
      await store.stop();
      await rm(base, { recursive: true, force: true });
    },
  };
}
