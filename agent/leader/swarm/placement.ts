// Whether a service's spec lets its replicas run on more than one node. The file backend's lock
// is a file on one host: replicas on two nodes would each hold "the" lock (FIELD-NOTES #1), so an
// agent started with --leader-election file inside such a service refuses to start.
import type { ServiceSpec } from 'dockerode';

/** A constraint that pins every task to one named node: node.id==X or node.hostname==X. */
const SINGLE_NODE_CONSTRAINT = /^\s*node\.(id|hostname)\s*==\s*\S+\s*$/;

/**
 * Why replicas of this service may land on more than one node, or undefined when they cannot.
 * Conservative: any other constraint (node.role==manager, labels) still allows several nodes.
 */
export function multiNodeReason(spec: ServiceSpec): string | undefined {
  const constraints = spec.TaskTemplate?.Placement?.Constraints ?? [];
  const pinned = constraints.find((c) => SINGLE_NODE_CONSTRAINT.test(c));
  if (pinned) return undefined;
  const mode = spec.Mode ?? {};
  if (mode.Global || mode.GlobalJob) return 'it runs in global mode (one task on every node) with no constraint pinning a single node';
  const replicas = mode.Replicated ? (mode.Replicated.Replicas ?? 1) : mode.ReplicatedJob ? (mode.ReplicatedJob.MaxConcurrent ?? 1) : 1;
  if (replicas > 1) return `it has ${replicas} replicas and no placement constraint pinning a single node (node.hostname==… or node.id==…)`;
  return undefined;
}

/** The start-up refusal, naming the flag and the fix. */
export function fileBackendRefusal(serviceName: string, spec: ServiceSpec): string | undefined {
  const reason = multiNodeReason(spec);
  if (!reason) return undefined;
  return (
    `--leader-election file cannot elect one leader in Swarm service "${serviceName}": ${reason}, so replicas on different nodes ` +
    `would each hold their own lock file. Use --leader-election swarm (the lease in Swarm's own store) or --leader-election redis, ` +
    `or pin the service to one node with --constraint node.hostname==<host>.`
  );
}
