#!/usr/bin/env bash
# A kubeconfig for an agent that runs on a Docker host outside the cluster, authenticated as the
# agent's ServiceAccount (deploy/kubernetes/rbac.yaml), so it has exactly the shipped RBAC.
# Run it where kubectl talks to the cluster as an admin; copy the output to the Docker host and
# start the agent with --kubeconfig <file> (or DOCKERLET_KUBECONFIG).
#
#   deploy/kubernetes/external/make-kubeconfig.sh [options] > dockerlet-agent.kubeconfig
#     --namespace <ns>          the agent's namespace (default dockerlet-system)
#     --service-account <name>  default dockerlet-agent
#     --duration <d>            token lifetime, e.g. 720h (default 8760h; the API server may cap it,
#                               see --service-account-max-token-expiration); re-run before it ends
#     --server <url>            API server URL as the Docker host reaches it (default: kubectl's)
#
# The token comes from the TokenRequest API (`kubectl create token`): bound to the ServiceAccount,
# time-limited, revoked by deleting the ServiceAccount. The CA comes from your kubeconfig.
set -euo pipefail

namespace=dockerlet-system
service_account=dockerlet-agent
duration=8760h
server=""
while [ $# -gt 0 ]; do
  case "$1" in
    --namespace) namespace="$2"; shift 2 ;;
    --service-account) service_account="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --server) server="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "make-kubeconfig: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

command -v kubectl >/dev/null 2>&1 || { echo "make-kubeconfig: kubectl is needed (talking to the cluster as an admin)" >&2; exit 1; }
kubectl get serviceaccount "$service_account" --namespace "$namespace" >/dev/null || {
  echo "make-kubeconfig: no ServiceAccount $namespace/$service_account; apply deploy/kubernetes first (kubectl apply -k deploy/kubernetes)" >&2
  exit 1
}

view() { kubectl config view --raw --minify --output "jsonpath=$1"; }
[ -n "$server" ] || server="$(view '{.clusters[0].cluster.server}')"
ca_data="$(view '{.clusters[0].cluster.certificate-authority-data}')"
if [ -z "$ca_data" ]; then
  ca_file="$(view '{.clusters[0].cluster.certificate-authority}')"
  [ -n "$ca_file" ] || { echo "make-kubeconfig: the current context names no certificate authority" >&2; exit 1; }
  ca_data="$(base64 -w0 <"$ca_file")"
fi
token="$(kubectl create token "$service_account" --namespace "$namespace" --duration "$duration")"

cat <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: dockerlet
    cluster:
      server: $server
      certificate-authority-data: $ca_data
users:
  - name: $service_account
    user:
      token: $token
contexts:
  - name: dockerlet
    context:
      cluster: dockerlet
      user: $service_account
      namespace: $namespace
current-context: dockerlet
KUBECONFIG
