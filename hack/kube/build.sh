#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from the Go module proxy once and caches them outside the
# repo:
#   bash hack/kube/build.sh          build what is missing, print the binary directory on stdout
#   bash hack/kube/build.sh --force  rebuild even when cached
# No Kubernetes binary can be downloaded here, and `go install k8s.io/kubernetes/cmd/...@v` fails
# because that module replaces its staging modules with local paths; the wrapper module next to
# this script (go.mod + go.sum, committed) requires k8s.io/kubernetes and maps every staging module
# to its published k8s.io/<name> v0.x release. etcd comes from the same module graph, at the
# version that Kubernetes release pins for its own etcd client, so client and server match.
# kubectl (k8s.io/kubernetes/cmd/kubectl, same release) is built too, so tests and scripts that
# run kubectl (make-kubeconfig.sh) need none installed on the machine; it shares most compiled
# packages with kube-apiserver (about 40 s more on 2 cores, see README).
# Each binary is built when missing, so a cache filled before kubectl was added gains just kubectl.
# Cache: ${DOCKERLET_CACHE_DIR:-$HOME/.cache/dockerlet}/kube/<k8s version>-etcd<etcd version>/.
# Progress goes to stderr; stdout carries only the directory, for callers.
set -euo pipefail

KUBE_MOD_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FORCE=0
case "${1:-}" in
  --force) FORCE=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

log() { echo "kube-build: $*" >&2; }

# Versions come from the committed go.mod, so the cache key changes exactly when the pin does.
mod_version() {
  awk -v m="$1" '$1 == m { print $2; exit }' "$KUBE_MOD_DIR/go.mod"
}
KUBE_VERSION="$(mod_version k8s.io/kubernetes)"
ETCD_VERSION="$(mod_version go.etcd.io/etcd/server/v3)"
[ -n "$KUBE_VERSION" ] && [ -n "$ETCD_VERSION" ] || {
  log "cannot read the k8s.io/kubernetes and etcd versions from $KUBE_MOD_DIR/go.mod"
  exit 1
}

CACHE_ROOT="${DOCKERLET_CACHE_DIR:-$HOME/.cache/dockerlet}"
BIN_DIR="$CACHE_ROOT/kube/${KUBE_VERSION}-etcd${ETCD_VERSION}"
mkdir -p "$BIN_DIR"

BINARIES=(kube-apiserver etcd kubectl)
missing_binaries() { # the binaries not yet in the cache (all of them with --force)
  local name
  for name in "${BINARIES[@]}"; do
    if [ "$FORCE" -eq 1 ] || [ ! -x "$BIN_DIR/$name" ]; then echo "$name"; fi
  done
}

# Two `up`s at once (helpers share a machine) must not build twice or see a half-written binary:
# one builder holds the lock, the other waits and then finds the cache filled.
exec 9>"$BIN_DIR/.build.lock"
if ! flock -n 9; then
  log "another build of $KUBE_VERSION is running; waiting for it"
  flock 9
fi

mapfile -t to_build < <(missing_binaries)
if [ "${#to_build[@]}" -eq 0 ]; then
  log "cached: $BIN_DIR (kube-apiserver and kubectl $KUBE_VERSION, etcd $ETCD_VERSION)"
  echo "$BIN_DIR"
  exit 0
fi

command -v go >/dev/null 2>&1 || { log "go is not on PATH; install Go >= $(awk '$1 == "go" { print $2; exit }' "$KUBE_MOD_DIR/go.mod")"; exit 1; }

log "building ${to_build[*]} (kubernetes $KUBE_VERSION, etcd $ETCD_VERSION) into $BIN_DIR (cold on 2 cores: kube-apiserver and etcd took 445 s in CI, kubectl about 40 s more)"
start_s=$(date +%s)
cd "$KUBE_MOD_DIR"
# Static, stripped, no local paths in the binaries. -mod=mod lets go fetch what go.sum lists
# (there is no vendor directory); go.sum pins the content.
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=mod"
# Stamp the version Kubernetes' own build stamps (its hack/lib/version.sh); without it /version
# says v0.0.0-master and clients warn about version skew.
minor="${KUBE_VERSION#v1.}"
minor="${minor%%.*}"
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
build() { # <package> <binary name> <ldflags>
  local tmp="$BIN_DIR/.$2.tmp.$$"
  go build -trimpath -ldflags="$3" -o "$tmp" "$1"
  mv -f "$tmp" "$BIN_DIR/$2" # atomic: a reader sees the old binary or the whole new one
}
# One `go build` per binary, apiserver first: etcd and kubectl then reuse most of the compiled
# packages.
for name in "${to_build[@]}"; do
  case "$name" in
    kube-apiserver) build k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver "$kube_ldflags" ;;
    etcd) build go.etcd.io/etcd/server/v3 etcd "-s -w" ;;
    kubectl) build k8s.io/kubernetes/cmd/kubectl kubectl "$kube_ldflags" ;;
  esac
done
elapsed=$(( $(date +%s) - start_s ))
log "built ${to_build[*]} in ${elapsed}s: $("$BIN_DIR/kube-apiserver" --version 2>&1 | head -n1), etcd $("$BIN_DIR/etcd" --version 2>&1 | awk '/etcd Version/ { print $3 }'), kubectl $("$BIN_DIR/kubectl" version --client 2>&1 | awk '/Client Version/ { print $3 }')"
echo "$BIN_DIR"
