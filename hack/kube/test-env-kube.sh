# shellcheck shell=bash
# The `kube` function group of hack/test-env: a real kube-apiserver and its etcd on loopback,
# built once by hack/kube/build.sh. Source it after test-env-lib.sh; it defines functions only.
#
# What tests get (test/support/kube.ts): $DOCKERLET_TEST_STATE/kube/admin.kubeconfig, a static
# admin token in group system:masters, against https://127.0.0.1:$TEST_KUBE_APISERVER_PORT, and
# $DOCKERLET_TEST_STATE/kube/bin/kubectl, the kubectl built with the server (no kubectl on the
# machine is needed or used). The
# server runs with real RBAC (Node,RBAC) and service-account tokens (TokenRequest works), so the
# shipped RBAC can be tested as the agent's ServiceAccount. There is no kube-controller-manager:
# nothing garbage-collects owner references, and a deleted namespace stays Terminating; tests
# delete what they created, object by object.

KUBE_STATE="$DOCKERLET_TEST_STATE/kube"
# 6443 is left to any real cluster on the host; etcd off its 2379/2380 defaults for the same reason.
TEST_KUBE_APISERVER_PORT="${TEST_KUBE_APISERVER_PORT:-6444}"
TEST_KUBE_ETCD_PORT="${TEST_KUBE_ETCD_PORT:-2389}"
TEST_KUBE_ETCD_PEER_PORT="${TEST_KUBE_ETCD_PEER_PORT:-2390}"
TEST_KUBE_SERVICE_CIDR="${TEST_KUBE_SERVICE_CIDR:-10.96.0.0/24}"
KUBE_START_TIMEOUT_S="${KUBE_START_TIMEOUT_S:-180}"
KUBE_ETCD_PIDFILE="$KUBE_STATE/etcd.pid"
KUBE_APISERVER_PIDFILE="$KUBE_STATE/kube-apiserver.pid"
KUBE_ETCD_LOG="$KUBE_STATE/etcd.log"
KUBE_APISERVER_LOG="$KUBE_STATE/kube-apiserver.log"
KUBE_PKI="$KUBE_STATE/pki"
KUBE_ADMIN_KUBECONFIG="$KUBE_STATE/admin.kubeconfig"
# A link to the cached kubectl, at a path tests know without asking build.sh.
KUBE_KUBECTL="$KUBE_STATE/bin/kubectl"
KUBE_URL="https://127.0.0.1:$TEST_KUBE_APISERVER_PORT"

kube_admin_token() { cut -d, -f1 "$KUBE_PKI/tokens.csv"; }

# /readyz with our CA and admin token: answers only if it is OUR server that is ready.
kube_answers() {
  [ -f "$KUBE_PKI/ca.crt" ] && [ -f "$KUBE_PKI/tokens.csv" ] || return 1
  [ "$(curl -sS --max-time 3 --cacert "$KUBE_PKI/ca.crt" -H "Authorization: Bearer $(kube_admin_token)" \
    "$KUBE_URL/readyz" 2>/dev/null)" = "ok" ]
}

etcd_answers() {
  curl -sS --max-time 2 "http://127.0.0.1:$TEST_KUBE_ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'
}

# CA, apiserver serving cert, service-account key pair and the admin token: made once, kept across
# restarts (etcd's data holds objects that refer to them, e.g. issued ServiceAccount tokens).
kube_pki() {
  [ -f "$KUBE_PKI/tokens.csv" ] && [ -f "$KUBE_PKI/sa.pub" ] && [ -f "$KUBE_PKI/apiserver.crt" ] && return 0
  command -v openssl >/dev/null 2>&1 || apt_install openssl
  step "kube: making a CA, serving certificate, service-account keys and admin token in $KUBE_PKI"
  rm -rf "$KUBE_PKI"
  mkdir -p "$KUBE_PKI"
  (
    cd "$KUBE_PKI"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=dockerlet-test-kube-ca" 2>/dev/null
    # SANs: loopback (how tests reach it) and the in-cluster names and first service IP, which
    # the apiserver's own bootstrap controller advertises for the `kubernetes` Service.
    local first_ip
    first_ip="$(echo "${TEST_KUBE_SERVICE_CIDR%/*}" | awk -F. '{ print $1"."$2"."$3"."($4+1) }')"
    cat >apiserver.ext <<EOF
subjectAltName=IP:127.0.0.1,IP:$first_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
keyUsage=digitalSignature,keyEncipherment
EOF
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 \
      -extfile apiserver.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    # token,user,uid,"group1,group2": system:masters is bound to cluster-admin and bypasses RBAC.
    echo "$(openssl rand -hex 24),dockerlet-test-admin,dockerlet-test-admin,\"system:masters\"" >tokens.csv
    rm -f apiserver.csr apiserver.ext ca.srl
  )
}

kube_write_kubeconfig() {
  local tmp="$KUBE_ADMIN_KUBECONFIG.tmp.$$"
  (
    umask 077
    cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: dockerlet-test
    cluster:
      server: $KUBE_URL
      certificate-authority-data: $(base64 -w0 <"$KUBE_PKI/ca.crt")
users:
  - name: dockerlet-test-admin
    user:
      token: $(kube_admin_token)
contexts:
  - name: dockerlet-test
    context:
      cluster: dockerlet-test
      user: dockerlet-test-admin
current-context: dockerlet-test
EOF
  )
  mv -f "$tmp" "$KUBE_ADMIN_KUBECONFIG"
}

# Starts <name> detached (setsid execs it in place, so $! is its pid), records the pid.
kube_spawn() { # <pidfile> <log> <command...>
  local pidfile="$1" log="$2"
  shift 2
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo "$!" >"$pidfile"
}

kube_wait() { # <what> <pidfile> <log> <check function>
  wait_started "kube: $1" "$2" "$3" "$KUBE_START_TIMEOUT_S" "$4"
}

# Builds (once) kube-apiserver, etcd and kubectl, links kubectl where tests find it, and prints
# the binary directory.
kube_binaries() {
  local bin_dir
  bin_dir="$(bash "$HACK_DIR/kube/build.sh")" || die "kube: building kube-apiserver, etcd and kubectl failed (see above)"
  mkdir -p "$(dirname "$KUBE_KUBECTL")"
  ln -sfn "$bin_dir/kubectl" "$KUBE_KUBECTL"
  echo "$bin_dir"
}

kube_up() {
  mkdir -p "$KUBE_STATE"
  # Even when a server already answers: tests and make-kubeconfig.sh run this kubectl.
  local bin_dir
  bin_dir="$(kube_binaries)" || exit 1
  if kube_answers; then
    kube_write_kubeconfig
    if pid_alive "$KUBE_APISERVER_PIDFILE" kube-apiserver; then
      step "kube: running at $KUBE_URL (started by test-env, pid $(cat "$KUBE_APISERVER_PIDFILE")); kubeconfig $KUBE_ADMIN_KUBECONFIG, kubectl $KUBE_KUBECTL"
    else
      step "kube: already answering at $KUBE_URL (not ours, left alone)"
    fi
    return 0
  fi
  if pid_alive "$KUBE_APISERVER_PIDFILE" kube-apiserver; then
    die "our kube-apiserver (pid $(cat "$KUBE_APISERVER_PIDFILE")) runs but /readyz is not ok; see $KUBE_APISERVER_LOG or run hack/test-env down"
  fi
  command -v curl >/dev/null 2>&1 || apt_install curl
  kube_pki

  if etcd_answers; then
    pid_alive "$KUBE_ETCD_PIDFILE" etcd || die "kube: something that is not our etcd answers on 127.0.0.1:$TEST_KUBE_ETCD_PORT; set TEST_KUBE_ETCD_PORT"
    step "kube: etcd running (pid $(cat "$KUBE_ETCD_PIDFILE"))"
  else
    step "kube: starting etcd on 127.0.0.1:$TEST_KUBE_ETCD_PORT (log $KUBE_ETCD_LOG)"
    # Loopback only, plain HTTP (nothing leaves the host). No fsync: test data on a shared
    # 2-core machine, where fsync latency would make the apiserver's writes crawl.
    kube_spawn "$KUBE_ETCD_PIDFILE" "$KUBE_ETCD_LOG" "$bin_dir/etcd" \
      --name dockerlet-test --data-dir "$KUBE_STATE/etcd-data" \
      --listen-client-urls "http://127.0.0.1:$TEST_KUBE_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$TEST_KUBE_ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$TEST_KUBE_ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$TEST_KUBE_ETCD_PEER_PORT" \
      --initial-cluster "dockerlet-test=http://127.0.0.1:$TEST_KUBE_ETCD_PEER_PORT" \
      --unsafe-no-fsync --log-level warn
    record_started kube
    kube_wait etcd "$KUBE_ETCD_PIDFILE" "$KUBE_ETCD_LOG" etcd_answers
    pid_alive "$KUBE_ETCD_PIDFILE" etcd || die "kube: pid $(cat "$KUBE_ETCD_PIDFILE") is not etcd; cannot track the etcd we started"
  fi

  step "kube: starting kube-apiserver on $KUBE_URL (log $KUBE_APISERVER_LOG)"
  local start_ns
  start_ns="$(date +%s%N)"
  # --secure-port only (no insecure port exists any more); bound to loopback. Node,RBAC: the
  # shipped RBAC is tested for real. --cert-dir keeps it from writing under /var/run/kubernetes.
  # --endpoint-reconciler-type none: the `kubernetes` Service's endpoints may not be a loopback
  # address, and nothing in the tests runs in a pod to use them.
  kube_spawn "$KUBE_APISERVER_PIDFILE" "$KUBE_APISERVER_LOG" "$bin_dir/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$TEST_KUBE_ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$TEST_KUBE_APISERVER_PORT" \
    --cert-dir "$KUBE_STATE/certs" \
    --tls-cert-file "$KUBE_PKI/apiserver.crt" --tls-private-key-file "$KUBE_PKI/apiserver.key" \
    --client-ca-file "$KUBE_PKI/ca.crt" \
    --token-auth-file "$KUBE_PKI/tokens.csv" \
    --authorization-mode Node,RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$KUBE_PKI/sa.pub" --service-account-signing-key-file "$KUBE_PKI/sa.key" \
    --service-cluster-ip-range "$TEST_KUBE_SERVICE_CIDR" \
    --endpoint-reconciler-type none \
    --profiling=false
  record_started kube # a second line when etcd was started too: harmless, `down` greps for it
  kube_wait kube-apiserver "$KUBE_APISERVER_PIDFILE" "$KUBE_APISERVER_LOG" kube_answers
  pid_alive "$KUBE_APISERVER_PIDFILE" kube-apiserver || die "kube: pid $(cat "$KUBE_APISERVER_PIDFILE") is not kube-apiserver; cannot track it"
  local ready_ms=$((($(date +%s%N) - start_ns) / 1000000))
  kube_write_kubeconfig
  step "kube: ready at $KUBE_URL in $((ready_ms / 1000)).$(printf '%03d' $((ready_ms % 1000)))s (kube-apiserver pid $(cat "$KUBE_APISERVER_PIDFILE"), etcd pid $(cat "$KUBE_ETCD_PIDFILE")); kubeconfig $KUBE_ADMIN_KUBECONFIG, kubectl $KUBE_KUBECTL"
}

kube_down() {
  if ! pid_alive "$KUBE_APISERVER_PIDFILE" kube-apiserver && ! pid_alive "$KUBE_ETCD_PIDFILE" etcd; then
    rm -f "$KUBE_APISERVER_PIDFILE" "$KUBE_ETCD_PIDFILE"
    step "kube: not started by test-env, left alone"
    return 0
  fi
  # The apiserver first: it would only log etcd errors while etcd goes.
  stop_pidfile kube "$KUBE_APISERVER_PIDFILE" kube-apiserver 30
  stop_pidfile kube "$KUBE_ETCD_PIDFILE" etcd 30
  step "kube: stopped"
}

kube_status() {
  if kube_answers; then
    local owner="not started by test-env"
    pid_alive "$KUBE_APISERVER_PIDFILE" kube-apiserver && owner="started by test-env, pid $(cat "$KUBE_APISERVER_PIDFILE")"
    step "kube: ready at $KUBE_URL ($owner); kubeconfig $KUBE_ADMIN_KUBECONFIG, kubectl $KUBE_KUBECTL"
  else
    step "kube: not answering at $KUBE_URL"
  fi
}
