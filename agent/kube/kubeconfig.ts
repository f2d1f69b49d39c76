// The one place a KubeConfig is loaded: from the file given, else the usual places (KUBECONFIG,
// ~/.kube/config, in-cluster service account), as kubectl does.
import { KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
