// spec.env[].valueFrom.file: values read from files on the agent's host (a mounted secret, say).
// observe reads them on every reconcile, through an injected reader; the plan and the config hash
// see what was read. The value goes only into the create request (the engine needs it); what
// labels, plans, status, logs and Events may carry is its sha256 at most, and the errors below
// name the variable and the path, never the content.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SessionSpec } from '../../crds/types.ts';

export type EnvFileRead = { ok: true; value: string; sha256: string } | { ok: false; error: string };
/** What was read, by path. */
export type EnvFiles = ReadonlyMap<string, EnvFileRead>;

export interface FileReader {
  read(path: string): Promise<Uint8Array>;
}

/** The agent host's filesystem; tests inject their own. */
export const hostFileReader: FileReader = { read: (path) => readFile(path) };

/** An environment variable holds text: a bigger file is a mistake (a wrong path), not a value. */
export const ENV_FILE_MAX_BYTES = 64 * 1024;

/** Paths of spec.env[].valueFrom.file, once each. */
export function envFilePaths(spec: SessionSpec): string[] {
  return [...new Set((spec.env ?? []).flatMap((e) => (e.valueFrom ? [e.valueFrom.file] : [])))];
}

export async function readEnvFiles(spec: SessionSpec, reader: FileReader): Promise<EnvFiles> {
  const paths = envFilePaths(spec);
  const reads = await Promise.all(paths.map(async (path): Promise<[string, EnvFileRead]> => [path, await readOne(path, reader)]));
  return new Map(reads);
}

async function readOne(path: string, reader: FileReader): Promise<EnvFileRead> {
  let bytes: Uint8Array;
  try {
    bytes = await reader.read(path);
  } catch (error) {
    // Node's message is "ENOENT: no such file or directory, open '<path>'": the code and the
    // reason are enough, and the path is named by the caller.
    const code = (error as { code?: unknown }).code;
    return { ok: false, error: typeof code === 'string' ? code : error instanceof Error ? error.message : String(error) };
  }
  if (bytes.byteLength > ENV_FILE_MAX_BYTES) return { ok: false, error: `larger than ${ENV_FILE_MAX_BYTES} bytes` };
  if (bytes.includes(0)) return { ok: false, error: 'contains a NUL byte, which an environment variable cannot hold' };
  let value: string;
  try {
    value = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, error: 'is not UTF-8 text' };
  }
  return { ok: true, value, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Why the Session's env cannot be built from what was read, naming each variable and path; undefined when it can. */
export function envFilesProblem(spec: SessionSpec, files: EnvFiles | undefined): string | undefined {
  const problems = (spec.env ?? []).flatMap((e, i) => {
    if (!e.valueFrom) return [];
    const read = files?.get(e.valueFrom.file);
    if (read?.ok) return [];
    return [`spec.env[${i}] (${e.name}): cannot read ${e.valueFrom.file}: ${read ? read.error : 'not read yet'}`];
  });
  return problems.length > 0 ? problems.join('; ') : undefined;
}
