import { describe, it, expect } from 'vitest';
import { validateObject } from './validate.ts';
import type { ValidationResult } from './validate.ts';

function session(
  spec: Record<string, unknown>,
  metadata: Record<string, unknown> = { name: 'web' },
): Record<string, unknown> {
  return { apiVersion: 'dockerlet.dev/v1alpha1', kind: 'Session', metadata, spec };
}

function messages(result: ValidationResult): string[] {
  if (result.ok) throw new Error(`expected problems, got a valid ${result.object.kind}`);
  return result.problems.map((p) => p.message);
}

function fieldPaths(result: ValidationResult): string[] {
  return result.ok ? [] : result.problems.map((p) => p.fieldPath);
}

describe('validateObject: valid objects', () => {
  it('accepts a minimal Session and applies schema defaults like the API server', () => {
    const input = session({
      image: 'nginx:1.27',
      env: [{ name: 'MODE' }],
      ports: [{ containerPort: 80, hostPort: 8080 }],
      volumes: [{ name: 'data', volume: 'web-data' }],
      mounts: [{ name: 'data', mountPath: '/data' }],
    });
    const result = validateObject(input);
    expect(result).toEqual({
      ok: true,
      object: {
        apiVersion: 'dockerlet.dev/v1alpha1',
        kind: 'Session',
        metadata: { name: 'web', namespace: 'default' },
        spec: {
          image: 'nginx:1.27',
          env: [{ name: 'MODE', value: '' }],
          ports: [{ containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1', protocol: 'TCP' }],
          volumes: [{ name: 'data', volume: 'web-data' }],
          mounts: [{ name: 'data', mountPath: '/data', readOnly: false }],
          restartPolicy: 'Always',
          imagePullPolicy: 'IfNotPresent',
          state: 'Running',
          progressDeadlineSeconds: 300,
        },
      },
    });
    // The caller's object is left alone.
    expect(input.metadata).toEqual({ name: 'web' });
  });

  it('keeps explicit values over defaults and treats null as unset', () => {
    const result = validateObject(
      session(
        { image: 'nginx', restartPolicy: 'Never', state: null, env: [{ name: 'A', value: null }] },
        { name: 'web', namespace: 'team-a' },
      ),
    );
    expect(result.ok).toBe(true);
    if (!result.ok || result.object.kind !== 'Session') return;
    expect(result.object.metadata.namespace).toBe('team-a');
    expect(result.object.spec.restartPolicy).toBe('Never');
    expect(result.object.spec.state).toBe('Running');
    expect(result.object.spec.env).toEqual([{ name: 'A', value: '' }]);
  });

  it('drops status written in a user file instead of validating it', () => {
    const result = validateObject({ ...session({ image: 'nginx' }), status: { phase: 'NotAPhase', bogus: true } });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.object.status).toBeUndefined();
  });

  it('accepts an Agent and ignores a namespace on the cluster-scoped kind', () => {
    const result = validateObject({
      apiVersion: 'dockerlet.dev/v1alpha1',
      kind: 'Agent',
      metadata: { name: 'host-1.example', namespace: 'ignored', labels: { 'app.kubernetes.io/name': 'dockerlet' } },
      spec: { description: 'the build box' },
    });
    expect(result).toEqual({
      ok: true,
      object: {
        apiVersion: 'dockerlet.dev/v1alpha1',
        kind: 'Agent',
        metadata: { name: 'host-1.example', labels: { 'app.kubernetes.io/name': 'dockerlet' } },
        spec: { description: 'the build box' },
      },
    });
  });
});

describe('validateObject: type meta', () => {
  it('names apiVersion and kind when they are wrong', () => {
    expect(messages(validateObject({ ...session({ image: 'x' }), apiVersion: 'dockerlet.dev/v1' }))).toEqual([
      'apiVersion: Unsupported value: "dockerlet.dev/v1": supported values: "dockerlet.dev/v1alpha1"',
    ]);
    expect(messages(validateObject({ ...session({ image: 'x' }), kind: 'Sesion' }))).toEqual([
      'kind: Unsupported value: "Sesion": supported values: "Session", "Agent"',
    ]);
    expect(fieldPaths(validateObject({ metadata: { name: 'x' } }))).toEqual(['apiVersion', 'kind']);
  });

  it('rejects something that is not an object at all', () => {
    const result = validateObject(['not', 'an', 'object'], { source: 'list.yaml' });
    expect(messages(result)[0]).toMatch(/^list\.yaml: <object>: Invalid value: "array": must be an object/);
  });
});

describe('validateObject: metadata', () => {
  it('requires metadata.name', () => {
    expect(messages(validateObject(session({ image: 'x' }, {})))).toEqual(['metadata.name: Required value']);
    expect(
      messages(validateObject({ apiVersion: 'dockerlet.dev/v1alpha1', kind: 'Session', spec: { image: 'x' } })),
    ).toEqual(['metadata.name: Required value']);
  });

  it.each([['My_Session'], ['-web'], ['web-'], ['a'.repeat(254)]])('rejects the name %j', (name) => {
    const result = validateObject(session({ image: 'x' }, { name }));
    expect(fieldPaths(result)).toContain('metadata.name');
    expect(messages(result)[0]).toContain(`metadata.name: Invalid value: ${JSON.stringify(name)}: `);
  });

  it('accepts a DNS subdomain name with dots', () => {
    expect(validateObject(session({ image: 'x' }, { name: 'web.team-a.1' })).ok).toBe(true);
  });

  it('requires a DNS label namespace', () => {
    const result = validateObject(session({ image: 'x' }, { name: 'web', namespace: 'team.a' }));
    expect(messages(result)[0]).toMatch(/^metadata\.namespace: Invalid value: "team\.a": a lowercase RFC 1123 label/);
    expect(fieldPaths(validateObject(session({ image: 'x' }, { name: 'web', namespace: 'a'.repeat(64) })))).toEqual([
      'metadata.namespace',
    ]);
  });

  it('checks labels and annotations are string maps with valid keys', () => {
    const result = validateObject(
      session(
        { image: 'x' },
        { name: 'web', labels: { tier: 1, 'bad key': 'v', ok: 'not ok!' }, annotations: { note: true }, nope: 1 },
      ),
    );
    expect(fieldPaths(result)).toEqual([
      'metadata.nope',
      'metadata.labels.tier',
      'metadata.labels[bad key]',
      'metadata.labels.ok',
      'metadata.annotations.note',
    ]);
    expect(messages(result)[0]).toBe('metadata.nope: unknown field "nope"');
  });
});

describe('validateObject: schema', () => {
  it('rejects a negative memory quantity with the field path and pattern', () => {
    const result = validateObject(session({ image: 'x', resources: { memory: '-1Gi' } }));
    expect(fieldPaths(result)).toEqual(['spec.resources.memory']);
    expect(messages(result)).toEqual([
      'spec.resources.memory: Invalid value: "-1Gi": must match pattern "^[0-9]+(\\.[0-9]+)?([KMGTPE]i|[kMGTPE])?$"',
    ]);
  });

  it('rejects unknown fields like strict field validation, at any depth', () => {
    const result = validateObject({
      ...session({ image: 'x', imagee: 'y', ports: [{ containerPort: 80, hostport: 1 }] }),
      specs: {},
    });
    expect(messages(result)).toEqual([
      'specs: unknown field "specs"',
      'spec.imagee: unknown field "imagee"',
      'spec.ports[0].hostport: unknown field "hostport"',
    ]);
  });

  it('requires spec and spec.image', () => {
    expect(messages(validateObject(session({ command: ['sh'] })))).toEqual(['spec.image: Required value']);
    expect(
      messages(validateObject({ apiVersion: 'dockerlet.dev/v1alpha1', kind: 'Session', metadata: { name: 'x' } })),
    ).toEqual(['spec: Required value']);
  });

  it('reports types, enums and ranges with kube-style sentences', () => {
    const result = validateObject(
      session({
        image: 'x',
        ports: [{ containerPort: '80' }, { containerPort: 70000, protocol: 'SCTP' }],
        restartPolicy: 'Sometimes',
      }),
    );
    expect(messages(result)).toEqual([
      'spec.ports[0].containerPort: Invalid value: "80": must be of type integer',
      'spec.ports[1].containerPort: Invalid value: 70000: must be less than or equal to 65535',
      'spec.ports[1].protocol: Unsupported value: "SCTP": supported values: "TCP", "UDP"',
      'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ]);
  });

  it('requires exactly one source per volume (oneOf)', () => {
    const result = validateObject(
      session({
        image: 'x',
        volumes: [{ name: 'a', hostPath: '/srv', volume: 'vol' }, { name: 'b' }, { name: 'c', emptyDir: {} }],
      }),
    );
    expect(messages(result)).toEqual([
      'spec.volumes[0]: Invalid value: "object": must set exactly one of hostPath, volume, emptyDir, but sets hostPath and volume',
      'spec.volumes[1]: Invalid value: "object": must set exactly one of hostPath, volume, emptyDir, but sets none',
    ]);
  });

  it('enforces x-kubernetes-list-type: map keys (env and volume names are unique)', () => {
    const result = validateObject(
      session({
        image: 'x',
        env: [
          { name: 'A', value: '1' },
          { name: 'A', value: '2' },
        ],
        volumes: [
          { name: 'v', volume: 'a' },
          { name: 'v', volume: 'b' },
        ],
      }),
    );
    expect(messages(result)).toEqual([
      'spec.env[1]: Duplicate value: {"name":"A"}',
      'spec.volumes[1]: Duplicate value: {"name":"v"}',
    ]);
  });

  it('accepts the session-grade container fields and defaults device permissions', () => {
    const result = validateObject(
      session({
        image: 'x',
        user: '1000:1000',
        workingDir: '/home/app',
        hostname: 'desk-1.example',
        shmSize: '1Gi',
        networks: ['front', 'back'],
        capabilities: { add: ['NET_ADMIN', 'SYS_PTRACE'], drop: ['ALL'] },
        devices: [{ hostPath: '/dev/fuse' }, { hostPath: '/dev/dri/renderD128', containerPath: '/dev/dri/renderD128', permissions: 'rw' }],
        gpus: { count: 1 },
        env: [{ name: 'TOKEN', valueFrom: { file: '/run/secrets/token' } }],
        stopSignal: 'SIGINT',
        stopGracePeriodSeconds: 30,
        logging: { driver: 'json-file', options: { 'max-size': '10m' } },
        ulimits: [{ name: 'nofile', soft: 1024, hard: 4096 }],
        readOnlyRootFilesystem: true,
        tmpfs: [{ mountPath: '/tmp', sizeLimit: '64Mi', mode: 0o1777 }],
      }),
    );
    expect(result.ok ? [] : result.problems.map((p) => p.message)).toEqual([]);
    const spec = result.ok && result.object.kind === 'Session' ? result.object.spec : undefined;
    expect(spec?.devices?.map((d) => d.permissions)).toEqual(['rwm', 'rw']);
    expect(spec?.env).toEqual([{ name: 'TOKEN', value: '', valueFrom: { file: '/run/secrets/token' } }]);
  });

  it('names the field of a bad session-grade value', () => {
    const result = validateObject(
      session({
        image: 'x',
        user: 'root user',
        workingDir: 'relative',
        hostname: 'Bad_Host',
        shmSize: '1GB',
        networks: ['a', 'a'],
        capabilities: { add: ['CAP_NET_ADMIN', 'ALL'] },
        devices: [{ hostPath: '/dev/fuse', permissions: 'wr' }],
        gpus: { count: 1, all: true },
        stopSignal: 'sigterm',
        ulimits: [{ name: 'files', soft: 1, hard: 1 }],
        tmpfs: [{ mountPath: '/tmp', mode: 4096 }],
      }),
    );
    expect(messages(result)).toEqual([
      'spec.networks[1]: Duplicate value: "a": items of a set must be unique',
      'spec.user: Invalid value: "root user": must match pattern "^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$"',
      'spec.workingDir: Invalid value: "relative": must match pattern "^/"',
      'spec.hostname: Invalid value: "Bad_Host": must match pattern "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"',
      'spec.shmSize: Invalid value: "1GB": must match pattern "^[0-9]+(\\.[0-9]+)?([KMGTPE]i|[kMGTPE])?$"',
      expect.stringMatching(/^spec\.capabilities\.add\[0\]: Unsupported value: "CAP_NET_ADMIN": supported values: "AUDIT_CONTROL", /),
      expect.stringMatching(/^spec\.capabilities\.add\[1\]: Unsupported value: "ALL": /),
      'spec.devices[0].permissions: Invalid value: "wr": must match pattern "^r?w?m?$"',
      'spec.gpus: Invalid value: "object": must set exactly one of count, all, but sets count and all',
      'spec.stopSignal: Invalid value: "sigterm": must match pattern "^((SIG)?[A-Z][A-Z0-9]*(\\+[0-9]+)?|[0-9]+)$"',
      expect.stringMatching(/^spec\.ulimits\[0\]\.name: Unsupported value: "files": supported values: "core", /),
      'spec.tmpfs[0].mode: Invalid value: 4096: must be less than or equal to 4095',
    ]);
  });

  it('accepts the three probes and fills in the Kubernetes defaults', () => {
    const result = validateObject(
      session({
        image: 'x',
        readinessProbe: { httpGet: { port: 8080, httpHeaders: [{ name: 'X-Probe', value: '1' }] }, periodSeconds: 1 },
        livenessProbe: { exec: { command: ['cat', '/tmp/alive'] }, failureThreshold: 2 },
        startupProbe: { tcpSocket: { port: 5432 }, initialDelaySeconds: 5 },
      }),
    );
    expect(result.ok ? [] : result.problems.map((p) => p.message)).toEqual([]);
    const spec = result.ok && result.object.kind === 'Session' ? result.object.spec : undefined;
    expect(spec?.readinessProbe).toEqual({
      httpGet: { path: '/', port: 8080, scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: '1' }] },
      initialDelaySeconds: 0,
      periodSeconds: 1,
      timeoutSeconds: 1,
      failureThreshold: 3,
      successThreshold: 1,
    });
    expect(spec?.livenessProbe).toMatchObject({ periodSeconds: 10, failureThreshold: 2, successThreshold: 1 });
    expect(spec?.startupProbe).toMatchObject({ tcpSocket: { port: 5432 }, initialDelaySeconds: 5, periodSeconds: 10 });
  });

  it('names the field of a bad probe: one handler, ports, thresholds', () => {
    const result = validateObject(
      session({
        image: 'x',
        readinessProbe: { exec: { command: ['true'] }, tcpSocket: { port: 80 }, periodSeconds: 0 },
        livenessProbe: { httpGet: { port: 0, path: 'health' }, successThreshold: 2 },
        startupProbe: { initialDelaySeconds: 1 },
      }),
    );
    expect(messages(result)).toEqual([
      'spec.readinessProbe: Invalid value: "object": must set exactly one of exec, httpGet, tcpSocket, but sets exec and tcpSocket',
      'spec.readinessProbe.periodSeconds: Invalid value: 0: must be greater than or equal to 1',
      'spec.livenessProbe.httpGet.path: Invalid value: "health": must match pattern "^/"',
      'spec.livenessProbe.httpGet.port: Invalid value: 0: must be greater than or equal to 1',
      'spec.livenessProbe.successThreshold: Invalid value: 2: must be less than or equal to 1',
      'spec.startupProbe: Invalid value: "object": must set exactly one of exec, httpGet, tcpSocket, but sets none',
    ]);
  });

  it('prefixes every message with the source', () => {
    const result = validateObject(session({ image: 'x', imagee: 'y' }), { source: 'sessions/web.yaml' });
    expect(result).toEqual({
      ok: false,
      problems: [{ fieldPath: 'spec.imagee', message: 'sessions/web.yaml: spec.imagee: unknown field "imagee"' }],
    });
  });
});
