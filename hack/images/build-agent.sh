#!/usr/bin/env bash
# Builds the agent image locally, without any registry: a rootfs holding this host's `node` binary,
# `git` (for --store git:…) with the helpers and tools a fetch and an apply run — git's builtins in
# /usr/lib/git-core (git-upload-pack for a local or file:// remote), /bin/sh (git starts the local
# transport through the shell) and `tar` (a commit's files are extracted with `git archive | tar`)
# — each with the shared libraries `ldd` says it needs, the agent's code and its production
# node_modules, imported with `docker import`. Equivalent to deploy/swarm/Dockerfile for tests on
# this machine; only git's http(s) and ssh transports are missing (no curl, no ssh client here).
#   hack/images/build-agent.sh [--force]
# Rebuilt only when the code, this script or a copied executable changed (a hash is kept in a
# label) or with --force. Sourcing it only defines build_agent_image.
#
# The image runs as uid 10001 with the Docker socket's group as its primary group (read from the
# socket here, as `stat -c %g`), so the agent reaches the engine without root (FIELD-NOTES #8).
# `docker import` has no USER instruction of its own: `--change 'USER uid:gid'` sets it.

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$HACK_DIR/.." && pwd)"
# shellcheck source=../test-env-lib.sh
source "$HACK_DIR/test-env-lib.sh"
# shellcheck source=rootfs-lib.sh
source "$HACK_DIR/images/rootfs-lib.sh"

TEST_AGENT_IMAGE="${TEST_AGENT_IMAGE:-dockerlet-test/agent:latest}"
AGENT_UID=10001
# What the agent needs at run time; tests, hack/ and docs stay out of the image.
AGENT_SOURCES=(bin agent reconciler controllers crds package.json package-lock.json tsconfig.json)
# Host executables the image carries (see above); their contents are part of the rebuild hash.
AGENT_EXECUTABLES=(node git tar sh)
GIT_EXEC_DIR=/usr/lib/git-core
GIT_TEMPLATES_DIR=/usr/share/git-core/templates

# Production packages only (tsx and its esbuild binary are production dependencies), as paths
# relative to node_modules.
agent_node_modules() {
  local root
  root="$(cd "$REPO_DIR/node_modules" && pwd -P)"
  (cd "$REPO_DIR" && npm ls --omit=dev --all --parseable 2>/dev/null) |
    while IFS= read -r path; do
      path="$(cd "$path" 2>/dev/null && pwd -P)" || continue
      case "$path" in "$root"/*) printf '%s\n' "${path#"$root"/}" ;; esac
    done | sort -u
}

agent_source_hash() {
  (
    cd "$REPO_DIR" && find "${AGENT_SOURCES[@]}" -type f ! -name '*.test.ts' -print0 | sort -z | xargs -0 sha256sum
    sha256sum "$HACK_DIR/images/build-agent.sh" "$HACK_DIR/images/rootfs-lib.sh"
    executable_versions "${AGENT_EXECUTABLES[@]}"
  ) | sha256sum | cut -c1-16
}

build_agent_image() {
  local force="${1:-}" hash socket_gid
  hash="$(agent_source_hash)"
  if [ "$force" != "--force" ] &&
    [ "$(dk image inspect --format '{{index .Config.Labels "dev.dockerlet.source-hash"}}' "$TEST_AGENT_IMAGE" 2>/dev/null)" = "$hash" ]; then
    step "image $TEST_AGENT_IMAGE: present (source $hash)"
    return 0
  fi
  command -v node >/dev/null 2>&1 || die "node not found: the agent image carries this host's node binary"
  command -v git >/dev/null 2>&1 || die "git not found: the agent image carries this host's git (bash hack/test-env up installs it)"
  [ -x "$GIT_EXEC_DIR/git-upload-pack" ] || die "$GIT_EXEC_DIR/git-upload-pack not found: git's builtins are expected in $GIT_EXEC_DIR (Debian's git)"
  command -v ldd >/dev/null 2>&1 || die "ldd not found (package libc-bin)"
  socket_gid="$(stat -c %g "$DOCKERLET_DOCKER_SOCKET")"

  step "building image $TEST_AGENT_IMAGE (source $hash, user $AGENT_UID:$socket_gid)"
  (
    set -euo pipefail
    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/dockerlet-agent.XXXXXX")"
    # shellcheck disable=SC2064 # expand now
    trap "rm -rf '$rootfs'" EXIT
    mkdir -p "$rootfs"/{usr/bin,etc,tmp,proc,sys,dev,app/node_modules,sessions,var/lib/dockerlet}
    # World-writable with the sticky bit like /tmp: the image is imported with every file owned
    # by root, and the agent (uid 10001) keeps its state and tsx's compile cache here.
    chmod 1777 "$rootfs/tmp" "$rootfs/var/lib/dockerlet"

    copy_executable "$rootfs" "$(command -v node)" /usr/bin/node
    # git: the binary, and in its exec dir the builtins it runs as commands of their own (the
    # git-* links to git: git-upload-pack serves a local or file:// fetch, index-pack stores it).
    copy_executable "$rootfs" "$(command -v git)" /usr/bin/git
    copy_executable "$rootfs" "$GIT_EXEC_DIR/git" "$GIT_EXEC_DIR/git"
    find "$GIT_EXEC_DIR" -maxdepth 1 -type l -lname git -exec cp -P -t "$rootfs$GIT_EXEC_DIR" {} +
    # `git init` copies these into the agent's cache repository (it warns without them).
    if [ -d "$GIT_TEMPLATES_DIR" ]; then
      mkdir -p "$rootfs$(dirname "$GIT_TEMPLATES_DIR")"
      cp -a "$GIT_TEMPLATES_DIR" "$rootfs$GIT_TEMPLATES_DIR"
    fi
    copy_executable "$rootfs" "$(command -v tar)" /usr/bin/tar
    # git runs the local transport as `git-upload-pack '<path>'` through /bin/sh.
    copy_executable "$rootfs" "$(command -v sh)" /usr/bin/sh
    ln -s usr/bin "$rootfs/bin"

    (cd "$REPO_DIR" && find "${AGENT_SOURCES[@]}" ! -name '*.test.ts' \( -type f -o -type l \) -print0 |
      xargs -0 cp --parents -L -t "$rootfs/app")
    modules="$(cd "$REPO_DIR/node_modules" && pwd -P)"
    # Parents first, so nested node_modules land inside their copied parent.
    agent_node_modules | while IFS= read -r pkg; do
      mkdir -p "$rootfs/app/node_modules/$pkg"
      # Only the package's own files; its nested node_modules come as packages of their own.
      (cd "$modules/$pkg" && find . -mindepth 1 -maxdepth 1 ! -name node_modules -print0 |
        xargs -0 -r cp -a -t "$rootfs/app/node_modules/$pkg")
    done

    printf 'root:x:0:0:root:/root:/sbin/nologin\ndockerlet:x:%s:%s:dockerlet:/tmp:/sbin/nologin\n' "$AGENT_UID" "$socket_gid" >"$rootfs/etc/passwd"
    printf 'root:x:0:\ndocker:x:%s:dockerlet\n' "$socket_gid" >"$rootfs/etc/group"
    [ "$socket_gid" = 0 ] && printf 'root:x:0:dockerlet\n' >"$rootfs/etc/group"

    tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . |
      dk import \
        --change "USER $AGENT_UID:$socket_gid" \
        --change 'WORKDIR /app' \
        --change 'ENV PATH=/usr/bin NODE_ENV=production DOCKERLET_LOG_FORMAT=json DOCKERLET_STATE_DIR=/var/lib/dockerlet DOCKERLET_STORE=/sessions DOCKERLET_LISTEN=0.0.0.0:9464' \
        --change 'ENTRYPOINT ["/usr/bin/node", "/app/bin/dockerlet.js"]' \
        --change 'CMD ["agent"]' \
        --change "LABEL dev.dockerlet.source-hash=$hash dev.dockerlet.test-image=agent" \
        - "$TEST_AGENT_IMAGE" >/dev/null
  ) || die "building $TEST_AGENT_IMAGE failed"
  step "image $TEST_AGENT_IMAGE: built"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  engine_answers || die "no Docker engine on $DOCKERLET_DOCKER_SOCKET; run hack/test-env up"
  # Test files start in parallel and each asks for the image: one builds, the others wait here
  # and then find it up to date, rather than building the same tag side by side.
  mkdir -p "$DOCKERLET_TEST_STATE"
  exec 9>"$DOCKERLET_TEST_STATE/build-$(printf '%s' "$TEST_AGENT_IMAGE" | tr '/:' '__').lock"
  flock 9
  build_agent_image "${1:-}"
fi
