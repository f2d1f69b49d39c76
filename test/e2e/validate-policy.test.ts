// `dockerlet validate --policy` as a GitOps CI job runs it: the real CLI over a directory of files,
// the agent's policy flags, exit 1 with file:line:col and the field path of each refusal.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, sessionYaml } from '../support/agent-process.ts';

describe('dockerlet validate --policy', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function repo(): Promise<string> {
    dir = await mkdtemp(join(tmpdir(), 'dockerlet-validate-policy-'));
    await writeFile(
      join(dir, 'sock.yaml'),
      sessionYaml({
        name: 'sock',
        spec: { volumes: [{ name: 'd', hostPath: '/var/run/docker.sock' }], mounts: [{ name: 'd', mountPath: '/s' }], ports: [{ containerPort: 80, hostPort: 80 }] },
      }),
    );
    await writeFile(join(dir, 'fine.yaml'), sessionYaml({ name: 'fine', spec: { ports: [{ containerPort: 80, hostPort: 8080 }] } }));
    await writeFile(join(dir, 'data.yaml'), sessionYaml({ name: 'data', spec: { volumes: [{ name: 'd', hostPath: '/srv/sessions/data' }], mounts: [{ name: 'd', mountPath: '/d' }] } }));
    return dir;
  }

  it('refuses what the default policy refuses, naming file, line and field, exit 1', async () => {
    const d = await repo();
    const result = await runCli(['validate', '--policy', d]);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      `${join(d, 'data.yaml')}:9:7: spec.volumes[0].hostPath: "/srv/sessions/data" is not under --allow-host-paths (none); refused by policy`,
      `${join(d, 'sock.yaml')}:9:7: spec.volumes[0].hostPath: "/var/run/docker.sock" is the engine socket (--allow-dangerous-host-paths); refused by policy`,
      `${join(d, 'sock.yaml')}:15:7: spec.ports[0].hostPort: 80 is outside --allow-host-ports (1024-65535); refused by policy`,
    ]);
    expect(result.stdout).toContain('2 of 3 file(s) invalid');
  });

  it('passes what the flags allow, and the socket stays refused under an allowed prefix', async () => {
    const d = await repo();
    const result = await runCli(['validate', '--policy', '--allow-host-paths', '/srv/sessions,/var/run', '--allow-host-ports', '80,1024-65535', d]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `${join(d, 'sock.yaml')}:9:7: spec.volumes[0].hostPath: "/var/run/docker.sock" is the engine socket (--allow-dangerous-host-paths); refused by policy`,
    ]);
    const all = await runCli(['validate', '--policy', '--allow-host-paths', '/srv/sessions,/var/run', '--allow-dangerous-host-paths', '--allow-host-ports', '80,1024-65535', d]);
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
  });

  it('without --policy judges the schema only, and refuses policy flags given alone', async () => {
    const d = await repo();
    expect((await runCli(['validate', d])).code).toBe(0);
    const alone = await runCli(['validate', '--allow-host-paths', '/srv', d]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--allow-host-paths count only with --policy');
    const bad = await runCli(['validate', '--policy', '--allow-host-ports', '0-80', d]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--allow-host-ports: "0-80" must be within 1-65535');
  });
});
