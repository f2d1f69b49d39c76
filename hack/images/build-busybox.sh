#!/usr/bin/env bash
# Builds dockerlet-test/busybox:latest without any registry: a rootfs made of Debian's static
# busybox, imported with `docker import`. Rebuilt only when missing (or with --force).
#   hack/images/build-busybox.sh [--force]
# Sourcing it only defines build_busybox_image (hack/test-env and hack/run do that).

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../test-env-lib.sh
source "$HACK_DIR/test-env-lib.sh"

# Applets the tests and sample sessions use; each becomes a symlink to /bin/busybox.
BUSYBOX_APPLETS=(sh sleep echo cat env true false httpd nc wget ls kill ps grep id hostname mkdir rm printf head date touch)

build_busybox_image() {
  local force="${1:-}"
  if [ "$force" != "--force" ] && dk image inspect "$TEST_BUSYBOX_IMAGE" >/dev/null 2>&1; then
    step "image $TEST_BUSYBOX_IMAGE: present"
    return 0
  fi
  deb_installed busybox-static || apt_install busybox-static
  local busybox=/bin/busybox
  # Debian's plain `busybox` package is dynamically linked and would not run in an empty rootfs.
  if command -v ldd >/dev/null 2>&1 && ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked; install busybox-static"
  fi

  step "building image $TEST_BUSYBOX_IMAGE"
  # A subshell, so its EXIT trap removes the rootfs however the build ends.
  (
    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/dockerlet-busybox.XXXXXX")"
    # shellcheck disable=SC2064 # expand now
    trap "rm -rf '$rootfs'" EXIT
    mkdir -p "$rootfs"/{bin,etc,tmp,root,proc,sys,dev}
    chmod 1777 "$rootfs/tmp"
    cp "$busybox" "$rootfs/bin/busybox"
    for applet in "${BUSYBOX_APPLETS[@]}"; do
      ln -s busybox "$rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . |
      dk import \
        --change 'ENV PATH=/bin' \
        --change 'CMD ["/bin/sleep","infinity"]' \
        --change 'LABEL dev.dockerlet.test-image=busybox' \
        - "$TEST_BUSYBOX_IMAGE" >/dev/null
  ) || die "building $TEST_BUSYBOX_IMAGE failed"
  step "image $TEST_BUSYBOX_IMAGE: built"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  engine_answers || die "no Docker engine on $DOCKERLET_DOCKER_SOCKET; run hack/test-env up"
  build_busybox_image "${1:-}"
fi
