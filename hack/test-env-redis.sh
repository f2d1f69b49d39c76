# shellcheck shell=bash
# The `redis` part of hack/test-env: the shared test Redis, loopback only, no persistence. Tests
# reach it through DOCKERLET_TEST_REDIS_URL (test/support/redis.ts), which defaults to this port.
# Source it after test-env-lib.sh; it defines functions only.

TEST_REDIS_PORT="${TEST_REDIS_PORT:-6390}"
REDIS_PIDFILE="$DOCKERLET_TEST_STATE/redis.pid"
REDIS_LOG="$DOCKERLET_TEST_STATE/redis.log"

# PING over bash's /dev/tcp, so no redis-cli is needed.
redis_answers() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$TEST_REDIS_PORT" || exit 1
    printf 'PING\r\n' >&3
    IFS= read -r -t 2 line <&3 || exit 1
    [[ "$line" == "+PONG"* ]]
  ) 2>/dev/null
}

redis_up() {
  if redis_answers; then
    if pid_alive "$REDIS_PIDFILE" redis-server; then
      step "redis: running on 127.0.0.1:$TEST_REDIS_PORT (started by test-env, pid $(cat "$REDIS_PIDFILE"))"
    else
      step "redis: already running on 127.0.0.1:$TEST_REDIS_PORT (not ours, left alone)"
    fi
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    # On a host with systemd the package also starts the Debian service on 6379; we neither use
    # nor touch it: our instance is the one below, on its own port.
    apt_install redis-server
  fi
  if pid_alive "$REDIS_PIDFILE" redis-server; then
    die "our redis-server (pid $(cat "$REDIS_PIDFILE")) runs but does not answer on $TEST_REDIS_PORT; see $REDIS_LOG or run hack/test-env down"
  fi

  mkdir -p "$DOCKERLET_TEST_STATE"
  step "redis: starting redis-server on 127.0.0.1:$TEST_REDIS_PORT (log $REDIS_LOG)"
  # No persistence: test keys are throwaway. --dir keeps any stray dump out of the working tree.
  # As with dockerd, setsid execs redis-server in place, so $! is its pid.
  setsid redis-server --port "$TEST_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --dir "$DOCKERLET_TEST_STATE" >>"$REDIS_LOG" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$REDIS_PIDFILE"
  record_started redis

  wait_started "redis: redis-server" "$REDIS_PIDFILE" "$REDIS_LOG" 20 redis_answers
  pid_alive "$REDIS_PIDFILE" redis-server || die "pid $pid is not redis-server; cannot track the Redis we started"
  step "redis: ready on 127.0.0.1:$TEST_REDIS_PORT ($(redis-server --version | grep -o 'v=[^ ]*'), pid $pid)"
}

redis_down() {
  if ! pid_alive "$REDIS_PIDFILE" redis-server; then
    rm -f "$REDIS_PIDFILE"
    step "redis: not started by test-env, left alone"
    return 0
  fi
  stop_pidfile redis "$REDIS_PIDFILE" redis-server 10
  step "redis: stopped"
}

redis_status() {
  if redis_answers; then
    local owner="not started by test-env"
    pid_alive "$REDIS_PIDFILE" redis-server && owner="started by test-env, pid $(cat "$REDIS_PIDFILE")"
    step "redis: answering on 127.0.0.1:$TEST_REDIS_PORT ($owner)"
  else
    step "redis: not answering on 127.0.0.1:$TEST_REDIS_PORT"
  fi
}
