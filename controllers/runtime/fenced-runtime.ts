// The engine cannot check a fencing token, so the leader checks its own lease immediately before
// every call that changes the engine: a process that resumes after being frozen past its lease
// finds its renew deadline passed (monotonic clock) and sends nothing, even when the engine's
// answer to an earlier call or a due timer runs before its elector notices. The check is local (no
// round trip): measured against `hack/bench converge` in the README. Reads pass through untouched:
// every replica keeps its cache current.
import type { Fence } from '../../reconciler/fence.ts';
import type { DockerRuntime } from './docker-runtime.ts';

/** `runtime` with `fence.require` called before each create, start, stop, update, rename, remove and pull. */
export function fencedRuntime(runtime: DockerRuntime, fence: Fence): DockerRuntime {
  const fenced: DockerRuntime = {
    info: () => runtime.info(),
    listContainers: (selector) => runtime.listContainers(selector),
    inspectContainer: (id) => runtime.inspectContainer(id),
    findImage: (reference) => runtime.findImage(reference),
    findNetwork: (name) => runtime.findNetwork(name),
    watchEvents: (selector, handlers, signal) => runtime.watchEvents(selector, handlers, signal),
    async createContainer(request, signal) {
      fence.require('engine create');
      return runtime.createContainer(request, signal);
    },
    async startContainer(id, signal) {
      fence.require('engine start');
      return runtime.startContainer(id, signal);
    },
    async stopContainer(id, timeoutSeconds, signal) {
      fence.require('engine stop');
      return runtime.stopContainer(id, timeoutSeconds, signal);
    },
    async removeContainer(id, signal) {
      fence.require('engine remove');
      return runtime.removeContainer(id, signal);
    },
    async updateContainer(id, request, signal) {
      fence.require('engine update');
      return runtime.updateContainer(id, request, signal);
    },
    async renameContainer(id, name, signal) {
      fence.require('engine rename');
      return runtime.renameContainer(id, name, signal);
    },
    async pullImage(reference, signal) {
      fence.require('engine pull');
      return runtime.pullImage(reference, signal);
    },
  };
  if (runtime.unsupported) {
    const unsupported = runtime.unsupported.bind(runtime);
    fenced.unsupported = (spec) => unsupported(spec);
  }
  return fenced;
}
