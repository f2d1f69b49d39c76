// Where the Kubernetes client's credentials come from: an explicit file (--kubeconfig), else the
// usual places in client-go's order (KUBECONFIG, ~/.kube/config, then the in-cluster service
// account), which is what `loadFromDefault` does.
import { KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
