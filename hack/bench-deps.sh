# shellcheck shell=bash
# What `hack/bench converge` and `teardown` (alone or in `all`) need beyond the engine: Debian's
# docker-compose, one of the contenders, and matplotlib for the plot, in a venv under the temp dir
# so nothing but the Debian package lands on the system. Source it after test-env-lib.sh; it defines functions.

BENCH_VENV="${DOCKERLET_BENCH_VENV:-${TMPDIR:-/tmp}/dockerlet-bench-venv}"

bench_compose() {
  if command -v docker-compose >/dev/null 2>&1; then
    step "docker-compose: $(docker-compose version --short 2>/dev/null || echo present)"
    return 0
  fi
  apt_install docker-compose
}

# Prints the venv's python (stdout); progress goes to stderr. Empty output: no plot, and says why.
bench_plot_python() {
  if [ -x "$BENCH_VENV/bin/python" ] && "$BENCH_VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
    echo "$BENCH_VENV/bin/python"
    return 0
  fi
  local python
  python="$(command -v python3 || true)"
  if [ -z "$python" ] || ! "$python" -m venv --help >/dev/null 2>&1; then
    apt_install python3-venv >&2
    python=/usr/bin/python3
  fi
  step "plot: matplotlib into $BENCH_VENV (PyPI)" >&2
  if "$python" -m venv "$BENCH_VENV" >&2 && "$BENCH_VENV/bin/python" -m pip install -q matplotlib >&2; then
    echo "$BENCH_VENV/bin/python"
  else
    step "plot: matplotlib could not be installed; the run goes on without the PNG" >&2
  fi
}
