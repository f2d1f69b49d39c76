import { describe, expect, it } from 'vitest';
import type { SessionSpec } from '../../crds/types.ts';
import type { FileReader } from './env-files.ts';
import { ENV_FILE_MAX_BYTES, envFilesProblem, readEnvFiles } from './env-files.ts';

function reader(files: Record<string, Uint8Array | Error>): FileReader & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    read: async (path) => {
      reads.push(path);
      const content = files[path];
      if (content === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
      if (content instanceof Error) throw content;
      return content;
    },
  };
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

const spec = (...files: string[]): SessionSpec => ({
  image: 'x',
  env: [{ name: 'PLAIN', value: 'v' }, ...files.map((file, i) => ({ name: `V${i}`, value: '', valueFrom: { file } }))],
});

describe('env values from files', () => {
  it('reads each named file once, keeps the content exactly, and hashes it', async () => {
    const files = reader({ '/s/a': text('s3cret\n') });
    const read = await readEnvFiles(spec('/s/a', '/s/a'), files);
    expect(files.reads).toEqual(['/s/a']);
    expect(read.get('/s/a')).toEqual({ ok: true, value: 's3cret\n', sha256: '82ba9d712d21dc7585dd6a1f29790679985547f009baee10ea2e3edd41ce957d' });
    expect(envFilesProblem(spec('/s/a'), read)).toBeUndefined();
  });

  it('names the variable, the path and why, never the content', async () => {
    const files = reader({
      '/s/big': new Uint8Array(ENV_FILE_MAX_BYTES + 1),
      '/s/nul': text('a\0b'),
      '/s/bin': new Uint8Array([0xff, 0xfe]),
      '/s/denied': Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }),
    });
    const s = spec('/s/missing', '/s/big', '/s/nul', '/s/bin', '/s/denied');
    expect(envFilesProblem(s, await readEnvFiles(s, files))).toBe(
      [
        'spec.env[1] (V0): cannot read /s/missing: ENOENT',
        `spec.env[2] (V1): cannot read /s/big: larger than ${ENV_FILE_MAX_BYTES} bytes`,
        'spec.env[3] (V2): cannot read /s/nul: contains a NUL byte, which an environment variable cannot hold',
        'spec.env[4] (V3): cannot read /s/bin: is not UTF-8 text',
        'spec.env[5] (V4): cannot read /s/denied: EACCES',
      ].join('; '),
    );
    expect(envFilesProblem(spec('/s/x'), undefined)).toBe('spec.env[1] (V0): cannot read /s/x: not read yet');
  });
});
