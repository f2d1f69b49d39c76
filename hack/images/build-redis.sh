#!/usr/bin/env bash
# Builds a Redis image locally, without any registry, for deploying deploy/swarm/stack.yml on the
# test swarm (the stack names redis:7-alpine, which cannot be pulled here): a rootfs holding this
# host's `redis-server` and the shared libraries `ldd` says it needs, imported with `docker import`.
# Like the official image it runs `redis-server` from PATH with /data as its working directory.
#   hack/images/build-redis.sh [--force]
# Rebuilt only when redis-server or this script changed (a hash is kept in a label) or --force.
# Sourcing it only defines build_redis_image.

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../test-env-lib.sh
source "$HACK_DIR/test-env-lib.sh"
# shellcheck source=rootfs-lib.sh
source "$HACK_DIR/images/rootfs-lib.sh"

TEST_REDIS_IMAGE="${TEST_REDIS_IMAGE:-dockerlet-test/redis:latest}"

redis_image_hash() {
  (
    sha256sum "$HACK_DIR/images/build-redis.sh" "$HACK_DIR/images/rootfs-lib.sh"
    executable_versions redis-server
  ) | sha256sum | cut -c1-16
}

build_redis_image() {
  local force="${1:-}" hash
  # hack/test-env up installs redis-server for the test Redis; the image carries that binary.
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found: run bash hack/test-env up (it installs redis-server)"
  command -v ldd >/dev/null 2>&1 || die "ldd not found (package libc-bin)"
  hash="$(redis_image_hash)"
  if [ "$force" != "--force" ] &&
    [ "$(dk image inspect --format '{{index .Config.Labels "dev.dockerlet.source-hash"}}' "$TEST_REDIS_IMAGE" 2>/dev/null)" = "$hash" ]; then
    step "image $TEST_REDIS_IMAGE: present ($hash)"
    return 0
  fi

  step "building image $TEST_REDIS_IMAGE ($hash)"
  (
    set -euo pipefail
    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/dockerlet-redis.XXXXXX")"
    # shellcheck disable=SC2064 # expand now
    trap "rm -rf '$rootfs'" EXIT
    mkdir -p "$rootfs"/{usr/bin,etc,tmp,proc,sys,dev,data}
    chmod 1777 "$rootfs/tmp"
    # Under its own name: the binary is shared with redis-check-rdb and picks its role from argv[0].
    copy_executable "$rootfs" "$(command -v redis-server)" /usr/bin/redis-server
    printf 'root:x:0:0:root:/root:/sbin/nologin\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\n' >"$rootfs/etc/group"
    tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . |
      dk import \
        --change 'WORKDIR /data' \
        --change 'ENV PATH=/usr/bin' \
        --change 'EXPOSE 6379' \
        --change 'CMD ["redis-server"]' \
        --change "LABEL dev.dockerlet.source-hash=$hash dev.dockerlet.test-image=redis" \
        - "$TEST_REDIS_IMAGE" >/dev/null
  ) || die "building $TEST_REDIS_IMAGE failed"
  step "image $TEST_REDIS_IMAGE: built"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  engine_answers || die "no Docker engine on $DOCKERLET_DOCKER_SOCKET; run hack/test-env up"
  # Test files start in parallel and each asks for the image: one builds, the others wait here
  # and then find it up to date, rather than building the same tag side by side.
  mkdir -p "$DOCKERLET_TEST_STATE"
  exec 9>"$DOCKERLET_TEST_STATE/build-$(printf '%s' "$TEST_REDIS_IMAGE" | tr '/:' '__').lock"
  flock 9
  build_redis_image "${1:-}"
fi
