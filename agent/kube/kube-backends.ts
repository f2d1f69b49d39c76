// The Kubernetes pieces backends.ts loads on demand (one dynamic import, so agents that never talk
// to Kubernetes never load @kubernetes/client-node).
export { kubeConfigFor } from './kubeconfig.ts';
export { KubeAgentStatusStore } from '../status/kube/agent-status-store.ts';
export { KubeLeaseLock } from '../leader/kube-lease-lock.ts';
export { patchAgentDrain } from '../status/kube/agent-drain.ts';
