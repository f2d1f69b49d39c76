import { beforeEach, describe, expect, it } from 'vitest';
import { FakeSwarmApi } from '../../../test/support/fake-swarm.ts';
import { livePeers, swarmReplicas } from './peers.ts';
import { containerIdCandidates, discoverSwarmSelf } from './self.ts';

const CONTAINER = '0f1c73bc0d027c696796c6f033c1d753f3a0655b69f7a0a04516531d7d03c8af';
const TASK = 'rdi2va7nq0mb4kq08tekk7t3x';
const MOUNTINFO = `1234 1200 8:1 /var/lib/docker/containers/${CONTAINER}/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw\n`;

describe('discoverSwarmSelf', () => {
  let api: FakeSwarmApi;
  beforeEach(() => {
    api = new FakeSwarmApi();
    api.containers.set(CONTAINER, {
      id: CONTAINER,
      labels: {
        'com.docker.swarm.task.id': TASK,
        'com.docker.swarm.task.name': `agents.2.${TASK}`,
        'com.docker.swarm.service.id': 'svc1',
        'com.docker.swarm.service.name': 'agents',
        'com.docker.swarm.node.id': 'node1',
      },
    });
    api.tasks.push({ id: TASK, serviceId: 'svc1', slot: 2, nodeId: 'node1', desiredState: 'running', state: 'running', addresses: [] });
  });

  it('inspects the container the hostname (short container ID) names and reads task, service and, from the task, the slot', async () => {
    const self = await discoverSwarmSelf(api, { hostname: CONTAINER.slice(0, 12), mountinfo: '' });
    expect(self).toEqual({ containerId: CONTAINER, taskId: TASK, slot: 2, serviceId: 'svc1', serviceName: 'agents', nodeId: 'node1', foundBy: 'hostname' });
  });

  it('never takes the hostname for a task ID (FIELD-NOTES #2): the task ID comes from the label', async () => {
    const self = await discoverSwarmSelf(api, { hostname: CONTAINER.slice(0, 12), mountinfo: '' });
    expect(self?.taskId).not.toBe(CONTAINER.slice(0, 12));
    expect(self?.taskId).toBe(TASK);
  });

  it('prefers the slot label when the engine sets one', async () => {
    api.containers.get(CONTAINER)!.labels['com.docker.swarm.task.slot'] = '7';
    expect((await discoverSwarmSelf(api, { hostname: CONTAINER.slice(0, 12), mountinfo: '' }))?.slot).toBe(7);
  });

  it('finds the container from /proc/self/mountinfo when the service sets its own hostname', async () => {
    const self = await discoverSwarmSelf(api, { hostname: 'agents-2', mountinfo: MOUNTINFO });
    expect(self?.taskId).toBe(TASK);
    expect(self?.foundBy).toBe('mountinfo');
  });

  it('is undefined outside a container, and for a container that is not a Swarm task', async () => {
    expect(await discoverSwarmSelf(api, { hostname: 'laptop', mountinfo: '' })).toBeUndefined();
    api.containers.set('a'.repeat(64), { id: 'a'.repeat(64), labels: { app: 'x' } });
    expect(await discoverSwarmSelf(api, { hostname: 'a'.repeat(12), mountinfo: '' })).toBeUndefined();
  });

  it('lists candidates most trusted first, without repeating the hostname one', () => {
    expect(containerIdCandidates(CONTAINER.slice(0, 12), MOUNTINFO)).toEqual([{ id: CONTAINER.slice(0, 12), foundBy: 'hostname' }]);
    expect(containerIdCandidates('myhost', MOUNTINFO)).toEqual([{ id: CONTAINER, foundBy: 'mountinfo' }]);
  });
});

describe('swarm peers', () => {
  it('are the running tasks of the service with their network-attachment addresses', async () => {
    const api = new FakeSwarmApi();
    api.tasks.push(
      { id: 't1', serviceId: 'svc1', slot: 1, desiredState: 'running', state: 'running', addresses: [{ network: 'agents-net', address: '10.0.1.3/24' }] },
      { id: 't2', serviceId: 'svc1', slot: 2, desiredState: 'shutdown', state: 'failed', addresses: [] },
      { id: 't3', serviceId: 'svc1', slot: 2, desiredState: 'running', state: 'starting', addresses: [] },
      { id: 't4', serviceId: 'svc1', slot: 3, desiredState: 'running', state: 'running', addresses: [{ network: 'agents-net', address: '10.0.1.5/24' }] },
      { id: 'x1', serviceId: 'other', slot: 1, desiredState: 'running', state: 'running', addresses: [] },
    );
    const registry = swarmReplicas(api, { id: 'svc1', name: 'agents' });
    expect(await registry.seen()).toEqual(['agents.1.t1', 'agents.3.t4']);
    expect((await registry.peers()).map((p) => p.addresses)).toEqual([['10.0.1.3/24'], ['10.0.1.5/24']]);
    expect(livePeers('g', [{ id: 't9', serviceId: 's', nodeId: 'n1', desiredState: 'running', state: 'running', addresses: [] }])[0]?.identity).toBe('g.n1.t9');
  });
});
