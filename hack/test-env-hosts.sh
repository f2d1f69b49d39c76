# shellcheck shell=bash
# The `hosts` part of hack/test-env: simulated Docker hosts for the fleet tests. Each is one more
# dockerd, in a network namespace test-env creates (dockerlet-hostN), with its own --data-root,
# --exec-root, --pidfile and unix socket $DOCKERLET_TEST_HOSTS_RUN/hostN.sock (on the host's
# filesystem, so agents in the root namespace reach it; never a TCP port), and the test image
# loaded from the main engine (same tag, same image ID). Source it after test-env-lib.sh; it
# defines functions only.
#
# If the kernel refuses network namespaces, the hosts fall back to dockerds in the root namespace,
# each on a bridge of its own (dlhostN) with --iptables=false: never --bridge none, which makes
# dockerd delete the docker0 bridge the main engine's containers use. The fallback is announced
# loudly, and hosts.json says netns: null, so tests can say so too.
#
# What tests read (test/support/hosts.ts): $DOCKERLET_TEST_STATE/hosts.json,
# [{"name":"host1","socket":"/run/dockerlet-test/host1.sock","netns":"dockerlet-host1"}, ...].

DOCKERLET_TEST_HOSTS="${DOCKERLET_TEST_HOSTS:-3}"
# Sockets, pid files and exec roots: short paths (containerd's sockets live under the exec root and
# a unix socket path is limited to 108 bytes).
DOCKERLET_TEST_HOSTS_RUN="${DOCKERLET_TEST_HOSTS_RUN:-/run/dockerlet-test}"
HOSTS_STATE="$DOCKERLET_TEST_STATE/hosts"
HOSTS_MANIFEST="$DOCKERLET_TEST_STATE/hosts.json"

host_socket() { echo "$DOCKERLET_TEST_HOSTS_RUN/$1.sock"; }
host_pidfile() { echo "$DOCKERLET_TEST_HOSTS_RUN/$1.pid"; }
# The docker CLI on one simulated host.
hdk() {
  local host="$1"
  shift
  docker --host "unix://$(host_socket "$host")" "$@"
}
host_answers() { [ -S "$(host_socket "$1")" ] && hdk "$1" info >/dev/null 2>&1; }

# The hosts test-env started, or began to, and has not stopped (whatever DOCKERLET_TEST_HOSTS says
# now): their state directories hold spawned.pid or a namespace/bridge marker until `down`; the
# directories themselves stay, with the data roots.
started_hosts() {
  local dir
  for dir in "$HOSTS_STATE"/host*; do
    if [ -f "$dir/spawned.pid" ] || [ -f "$dir/netns.created" ] || [ -f "$dir/bridge.created" ]; then basename "$dir"; fi
  done | sort -V
}

# netns when network namespaces work (tried once per run, with a throwaway namespace), else root.
# DOCKERLET_TEST_HOSTS_NETNS=no forces the fallback, to try it where namespaces do work.
HOSTS_MODE=""
[ "${DOCKERLET_TEST_HOSTS_NETNS:-yes}" = no ] && HOSTS_MODE=root
hosts_mode() {
  if [ -z "$HOSTS_MODE" ]; then
    local probe="dockerlet-probe-$$"
    if ip netns add "$probe" 2>/dev/null; then
      ip netns del "$probe"
      HOSTS_MODE=netns
    else
      HOSTS_MODE=root
    fi
  fi
  echo "$HOSTS_MODE"
}

# Creates what host $1 runs in: its network namespace (lo up), or in the fallback its bridge.
host_network_up() {
  local host="$1" dir="$HOSTS_STATE/$1"
  if [ "$(hosts_mode)" = netns ]; then
    local netns="dockerlet-$host"
    if [ -e "/run/netns/$netns" ]; then
      [ -f "$dir/netns.created" ] || step "hosts: $host: network namespace $netns already exists (not ours; used, never deleted)"
    else
      ip netns add "$netns" || die "ip netns add $netns failed"
      touch "$dir/netns.created"
    fi
    ip -n "$netns" link set lo up
    echo "$netns" >"$dir/netns"
  else
    local bridge="dl$host"
    if ! ip link show "$bridge" >/dev/null 2>&1; then
      ip link add name "$bridge" type bridge || die "ip link add $bridge type bridge failed"
      touch "$dir/bridge.created"
    fi
    rm -f "$dir/netns"
  fi
}

host_spawn() {
  local host="$1" dir="$HOSTS_STATE/$1" netns_cmd=() uts_cmd=() network_args=()
  # A hostname of its own (a UTS namespace): the Name its engine reports in docker info.
  if unshare --uts true 2>/dev/null; then
    uts_cmd=(unshare --uts -- sh -c 'hostname "$0" && exec "$@"' "$host")
  else
    step "hosts: $host: WARNING: no UTS namespace; its engine reports this machine's hostname"
  fi
  if [ -f "$dir/netns" ]; then
    # nsenter joins the network namespace only. Not `ip netns exec`: it also unshares the mount
    # namespace and remounts /sys, which hides /sys/fs/cgroup ("Devices cgroup isn't mounted").
    netns_cmd=(nsenter "--net=/run/netns/$(cat "$dir/netns")")
  else
    case " $DOCKERLET_DOCKERD_ARGS " in
      *" --bridge"* | *" -b "*) die "hosts: DOCKERLET_DOCKERD_ARGS sets a bridge; root-namespace hosts need their own (dl$host)" ;;
    esac
    network_args=(--bridge "dl$host" --iptables=false --ip-masq=false)
  fi
  # A config file of its own: no setting of the machine's /etc/docker/daemon.json (a TCP "hosts"
  # entry, say) reaches a simulated host, and a key of its own gives it its own engine ID.
  printf '{"deprecated-key-path": "%s"}\n' "$dir/key.json" >"$dir/daemon.json"
  # As for the main engine: setsid execs dockerd in place (nsenter, unshare and sh exec too), so $! is
  # dockerd's pid, and dockerd writes the same pid to --pidfile.
  # shellcheck disable=SC2086 # DOCKERLET_DOCKERD_ARGS is a list of flags
  setsid "${netns_cmd[@]}" "${uts_cmd[@]}" dockerd \
    --host "unix://$(host_socket "$host")" \
    --data-root "$dir/data-root" \
    --exec-root "$DOCKERLET_TEST_HOSTS_RUN/$host" \
    --pidfile "$(host_pidfile "$host")" \
    --cgroup-parent "dockerlet-$host" \
    --config-file "$dir/daemon.json" \
    "${network_args[@]}" $DOCKERLET_DOCKERD_ARGS >>"$dir/dockerd.log" 2>&1 </dev/null &
  echo "$!" >"$dir/spawned.pid"
}

host_wait() {
  local host="$1" dir="$HOSTS_STATE/$1"
  wait_started "hosts: $host: dockerd" "$dir/spawned.pid" "$dir/dockerd.log" "$ENGINE_START_TIMEOUT_S" host_answers "$host"
  pid_alive "$(host_pidfile "$host")" dockerd || die "hosts: $host: $(host_pidfile "$host") names no dockerd"
}

host_image() {
  local host="$1"
  if hdk "$host" image inspect "$TEST_BUSYBOX_IMAGE" >/dev/null 2>&1; then return 0; fi
  dk save "$TEST_BUSYBOX_IMAGE" | hdk "$host" load >/dev/null || die "hosts: $host: loading $TEST_BUSYBOX_IMAGE failed"
}

hosts_manifest() {
  local host first=yes netns
  {
    printf '['
    for host in $(started_hosts); do
      netns=null
      [ -f "$HOSTS_STATE/$host/netns" ] && netns="\"$(cat "$HOSTS_STATE/$host/netns")\""
      [ "$first" = yes ] || printf ','
      printf '\n  {"name":"%s","socket":"%s","netns":%s}' "$host" "$(host_socket "$host")" "$netns"
      first=no
    done
    printf '\n]\n'
  } >"$HOSTS_MANIFEST.tmp"
  mv "$HOSTS_MANIFEST.tmp" "$HOSTS_MANIFEST"
}

hosts_up() {
  local started_at i host spawned=()
  started_at="$(date +%s.%N)"
  command -v ip >/dev/null 2>&1 || apt_install iproute2
  if [ "$(hosts_mode)" = root ]; then
    local why="the kernel refused a network namespace (ip netns add)"
    [ "${DOCKERLET_TEST_HOSTS_NETNS:-yes}" = no ] && why="DOCKERLET_TEST_HOSTS_NETNS=no"
    step "hosts: WARNING: $why; FALLING BACK to dockerds in the root namespace, each on its own bridge with --iptables=false. They share this machine's network: a port one host publishes on 127.0.0.1 is reachable from all."
  fi
  mkdir -p "$HOSTS_STATE" "$DOCKERLET_TEST_HOSTS_RUN"
  for ((i = 1; i <= DOCKERLET_TEST_HOSTS; i++)); do
    host="host$i"
    mkdir -p "$HOSTS_STATE/$host"
    if host_answers "$host"; then continue; fi
    if pid_alive "$(host_pidfile "$host")" dockerd; then
      die "hosts: $host: dockerd (pid $(cat "$(host_pidfile "$host")")) runs but does not answer; see $HOSTS_STATE/$host/dockerd.log or run hack/test-env down hosts"
    fi
    host_network_up "$host"
    host_spawn "$host"
    spawned+=("$host")
  done
  [ "${#spawned[@]}" -eq 0 ] || record_started hosts
  for host in "${spawned[@]}"; do host_wait "$host"; done
  for ((i = 1; i <= DOCKERLET_TEST_HOSTS; i++)); do host_image "host$i"; done
  hosts_manifest
  step "hosts: $DOCKERLET_TEST_HOSTS ready ($(hosts_mode) mode; started ${#spawned[@]} in $(awk -v s="$started_at" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - s }')s; sockets $DOCKERLET_TEST_HOSTS_RUN/host*.sock; list $HOSTS_MANIFEST)"
}

hosts_down() {
  local host dir
  for host in $(started_hosts); do
    dir="$HOSTS_STATE/$host"
    stop_pidfile "hosts: $host" "$(host_pidfile "$host")" dockerd 60
    rm -f "$(host_socket "$host")"
    if [ -f "$dir/netns.created" ]; then
      ip netns del "$(cat "$dir/netns")" 2>/dev/null || step "hosts: $host: could not delete network namespace $(cat "$dir/netns")"
    fi
    if [ -f "$dir/bridge.created" ]; then ip link del "dl$host" 2>/dev/null || true; fi
    # The data root stays (like the main engine's images), so the next `up` is quick; the markers go.
    rm -f "$dir/netns" "$dir/netns.created" "$dir/bridge.created" "$dir/spawned.pid"
    # The exec root is runtime state of the stopped dockerd (never a mount point to cross).
    rm -rf --one-file-system "${DOCKERLET_TEST_HOSTS_RUN:?}/$host"
  done
  rm -f "$HOSTS_MANIFEST"
  step "hosts: stopped"
}

hosts_status() {
  local host netns where
  if [ -z "$(started_hosts)" ]; then
    step "hosts: none (run: bash hack/test-env up hosts)"
    return 0
  fi
  for host in $(started_hosts); do
    netns=""
    [ -f "$HOSTS_STATE/$host/netns" ] && netns="$(cat "$HOSTS_STATE/$host/netns")"
    where="${netns:+in network namespace $netns}"
    where="${where:-in the root namespace (fallback)}"
    if host_answers "$host"; then
      step "hosts: $host: running on $(host_socket "$host") $where (pid $(cat "$(host_pidfile "$host")"))"
    else
      step "hosts: $host: not answering on $(host_socket "$host")"
    fi
  done
}
