# shellcheck shell=bash
# Shared helpers for hack/test-env, hack/images/*.sh and hack/run. Source it; it defines
# functions and variables only and runs nothing.

DOCKERLET_TEST_STATE="${DOCKERLET_TEST_STATE:-/tmp/dockerlet-test-env}"
# The engine is reached on its unix socket only: no TCP port is ever opened (FIELD-NOTES #6).
DOCKERLET_DOCKER_SOCKET="${DOCKERLET_DOCKER_SOCKET:-/var/run/docker.sock}"
TEST_BUSYBOX_IMAGE="${TEST_BUSYBOX_IMAGE:-dockerlet-test/busybox:latest}"

# One line per step, so a CI log reads as a list of what happened.
step() { printf 'test-env: %s\n' "$*"; }
die() {
  printf 'test-env: ERROR: %s\n' "$*" >&2
  exit 1
}

# The docker CLI, always on our socket whatever DOCKER_HOST says.
dk() { docker --host "unix://${DOCKERLET_DOCKER_SOCKET}" "$@"; }

engine_answers() {
  command -v docker >/dev/null 2>&1 && [ -S "$DOCKERLET_DOCKER_SOCKET" ] && dk info >/dev/null 2>&1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=""
# Installs Debian packages that are missing; apt-get update at most once per run.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* by hand"
  if [ -z "$APT_UPDATED" ]; then
    step "apt-get update"
    as_root apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  step "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

deb_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# A pid file names a live process with the expected command, not a recycled pid.
pid_alive() {
  local pidfile="$1" comm="$2" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$comm" ]
}

# Whether node_modules holds what package-lock.json pins, by npm's own record of what it installed
# (node_modules/.package-lock.json), entry by entry. Not by file times: a fresh checkout's lock file
# is newer than any node_modules, and a worktree may share another checkout's node_modules.
# With --omit-dev, development packages (vitest, typescript) need not be there: what running the
# agent needs, as `npm ci --omit=dev` installs it.
npm_deps_current() {
  [ -f node_modules/.package-lock.json ] || return 1
  node -e '
    const { readFileSync } = require("node:fs");
    const omitDev = process.argv[1] === "--omit-dev";
    const want = JSON.parse(readFileSync("package-lock.json", "utf8")).packages ?? {};
    const have = JSON.parse(readFileSync("node_modules/.package-lock.json", "utf8")).packages ?? {};
    // Optional packages for other platforms (esbuild binaries) are never installed.
    const needed = (pkg) => !pkg.optional && !(omitDev && (pkg.dev || pkg.devOptional));
    const missing = Object.entries(want).some(([path, pkg]) => path !== "" && needed(pkg) && have[path]?.version !== pkg.version);
    const extra = Object.entries(have).some(([path, pkg]) => want[path]?.version !== pkg.version);
    process.exit(missing || extra ? 1 : 0);
  ' -- "${1:-}" 2>/dev/null
}

# Waits until `check...` succeeds for the process a pid file names, just started: when it exits
# first (the pid file is removed) or `timeout_s` passes, dies with the tail of its log.
wait_started() { # <what> <pidfile> <log> <timeout_s> <check command...>
  local what="$1" pidfile="$2" log="$3" timeout_s="$4" pid waited=0
  shift 4
  pid="$(cat "$pidfile")"
  until "$@"; do
    if [ ! -d "/proc/$pid" ]; then
      rm -f "$pidfile"
      tail -n 40 "$log" >&2 || true
      die "$what exited during start-up (log above, full log $log)"
    fi
    if [ "$waited" -ge $((timeout_s * 2)) ]; then
      tail -n 40 "$log" >&2 || true
      die "$what did not answer within ${timeout_s}s (log above, full log $log)"
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
}

# Stops the process a pid file names, if it is alive and runs `comm`: SIGTERM, then SIGKILL after
# `grace_s`. Removes the pid file either way.
stop_pidfile() { # <what> <pidfile> <comm> <grace_s>
  local what="$1" pidfile="$2" comm="$3" grace_s="$4" pid waited=0
  if pid_alive "$pidfile" "$comm"; then
    pid="$(cat "$pidfile")"
    step "$what: stopping $comm (pid $pid)"
    kill -TERM "$pid"
    while [ -d "/proc/$pid" ]; do
      if [ "$waited" -ge $((grace_s * 2)) ]; then
        step "$what: $comm still running after ${grace_s}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.5
      waited=$((waited + 1))
    done
  fi
  rm -f "$pidfile"
}
