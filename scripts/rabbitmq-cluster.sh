#!/usr/bin/env bash
# Three local RabbitMQ nodes from the installed rabbitmq-server, joined into one cluster, for the
# fail-over tests and benchmarks. The machine's own node (rabbit@localhost, 5672) is never touched:
# each of ours has its own node name, AMQP and distribution ports, config, env file, data and log
# folders, and its own Erlang cookie (HOME), all under FBA_CLUSTER_DIR.
#
#   scripts/rabbitmq-cluster.sh start    # start (or finish starting) and join the three nodes
#   scripts/rabbitmq-cluster.sh status   # the cluster's running members, one line each
#   scripts/rabbitmq-cluster.sh stop     # stop every node; nothing running is fine
#   scripts/rabbitmq-cluster.sh ctl N ARGS...   # rabbitmqctl against node N (1-3), e.g. ctl 1 list_queues name leader
#   scripts/rabbitmq-cluster.sh kill N   # SIGKILL node N, as a crash would (fail-over tests)
#
# Settings (environment): FBA_CLUSTER_DIR (default /tmp/fba-rabbitmq-cluster), FBA_CLUSTER_PORT
# (first AMQP port, default 5681: nodes on 5681, 5682, 5683; distribution ports 20000 higher),
# FBA_CLUSTER_TIMEOUT (seconds a node may take to boot, default 120).
# Broker URL for the framework: CELERY_BROKER_URL='amqp://guest:guest@127.0.0.1:5681//;amqp://...:5682//;...'
set -u

DIR=${FBA_CLUSTER_DIR:-/tmp/fba-rabbitmq-cluster}
FIRST_PORT=${FBA_CLUSTER_PORT:-5681}
TIMEOUT=${FBA_CLUSTER_TIMEOUT:-120}
NODES=(1 2 3)
RMQ_BIN=/usr/lib/rabbitmq/bin
RUN_AS=rabbitmq

die() { echo "rabbitmq-cluster: $*" >&2; exit 1; }
node_name() { echo "fba-c$1@localhost"; }
amqp_port() { echo $((FIRST_PORT + $1 - 1)); }
answers() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# Runs a RabbitMQ command as the rabbitmq user (which the Debian wrappers switch to anyway) with
# node N's environment, so the server and rabbitmqctl share our cookie and never the machine's.
as_node() {
  local n=$1; shift
  local home="$DIR/c$n"
  local -a env=(
    HOME="$home"
    RABBITMQ_NODENAME="$(node_name "$n")"
    RABBITMQ_CONF_ENV_FILE="$home/rabbitmq-env.conf"
    RABBITMQ_CONFIG_FILE="$home/rabbitmq.conf"
    RABBITMQ_DIST_PORT=$(($(amqp_port "$n") + 20000))
    RABBITMQ_MNESIA_BASE="$home/mnesia"
    RABBITMQ_LOG_BASE="$home/log"
    RABBITMQ_PID_FILE="$home/pid"
    RABBITMQ_FEATURE_FLAGS_FILE="$home/feature_flags"
    RABBITMQ_ENABLED_PLUGINS_FILE="$home/enabled_plugins"
    RABBITMQ_QUORUM_DIR="$home/mnesia/quorum"
    PATH="$RMQ_BIN:/usr/bin:/bin"
  )
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$RUN_AS" -- env "${env[@]}" "$@"
  elif [ "$(id -un)" = "$RUN_AS" ]; then
    env "${env[@]}" "$@"
  else
    die "run me as root or as the $RUN_AS user (the nodes run as $RUN_AS)."
  fi
}

ctl() { local n=$1; shift; as_node "$n" "$RMQ_BIN/rabbitmqctl" -n "$(node_name "$n")" "$@"; }

prepare() {
  local n=$1 home="$DIR/c$n"
  mkdir -p "$home/mnesia" "$home/log"
  [ -f "$home/.erlang.cookie" ] || cp "$DIR/.erlang.cookie" "$home/.erlang.cookie"
  chmod 400 "$home/.erlang.cookie"
  printf 'listeners.tcp.local = 127.0.0.1:%s\n' "$(amqp_port "$n")" >"$home/rabbitmq.conf"
  # Our own (empty of node names) env file: the machine's one pins NODENAME=rabbit@localhost.
  printf 'ERL_EPMD_ADDRESS=127.0.0.1\nexport ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"\n' \
    >"$home/rabbitmq-env.conf"
  [ -f "$home/enabled_plugins" ] || echo '[].' >"$home/enabled_plugins"
}

node_pid() { cat "$DIR/c$1/pid" 2>/dev/null; }
node_alive() { local pid; pid=$(node_pid "$1") && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

start_node() {
  local n=$1
  if answers "$(amqp_port "$n")"; then
    node_alive "$n" || die "port $(amqp_port "$n") is taken by something else; set FBA_CLUSTER_PORT to free ports."
    return 0
  fi
  prepare "$n"
  as_node "$n" "$RMQ_BIN/rabbitmq-server" -detached >>"$DIR/c$n/log/start.out" 2>&1
}

wait_node() {
  local n=$1 deadline=$((SECONDS + TIMEOUT))
  until answers "$(amqp_port "$n")" && ctl "$n" await_startup >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && die "node $(node_name "$n") did not answer on 127.0.0.1:$(amqp_port "$n") within ${TIMEOUT}s; see $DIR/c$n/log."
    sleep 1
  done
}

join_node() {
  local n=$1
  running_members "$n" | grep -qx "$(node_name 1)" && return 0
  ctl "$n" stop_app >>"$DIR/c$n/log/start.out" 2>&1 || die "could not stop the app of $(node_name "$n") to join it."
  ctl "$n" reset >>"$DIR/c$n/log/start.out" 2>&1 || die "could not reset $(node_name "$n") before joining."
  ctl "$n" join_cluster "$(node_name 1)" >>"$DIR/c$n/log/start.out" 2>&1 || die "$(node_name "$n") could not join $(node_name 1)."
  ctl "$n" start_app >>"$DIR/c$n/log/start.out" 2>&1 || die "$(node_name "$n") joined but its app did not start again."
}

running_members() {
  ctl "$1" cluster_status --formatter json 2>/dev/null |
    python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin).get("running_nodes", [])))' 2>/dev/null
}

cmd_start() {
  command -v "$RMQ_BIN/rabbitmq-server" >/dev/null || [ -x "$RMQ_BIN/rabbitmq-server" ] ||
    die "rabbitmq-server is not installed (apt-get install rabbitmq-server)."
  mkdir -p "$DIR"
  if [ ! -f "$DIR/.erlang.cookie" ]; then
    head -c 30 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/.erlang.cookie"
  fi
  [ "$(id -u)" = 0 ] && chown -R "$RUN_AS:$RUN_AS" "$DIR" 2>/dev/null
  for n in "${NODES[@]}"; do prepare "$n"; done
  [ "$(id -u)" = 0 ] && chown -R "$RUN_AS:$RUN_AS" "$DIR"
  for n in "${NODES[@]}"; do start_node "$n"; done
  for n in "${NODES[@]}"; do wait_node "$n"; done
  for n in 2 3; do join_node "$n"; done
  [ "$(running_members 1 | wc -l)" -eq 3 ] || die "the nodes started but did not form one cluster of three; see $DIR/c*/log."
  cmd_status
}

cmd_status() {
  local n members
  for n in "${NODES[@]}"; do
    answers "$(amqp_port "$n")" || continue
    members=$(running_members "$n") || continue
    [ -n "$members" ] || continue
    for m in $members; do echo "$m running (AMQP 127.0.0.1:$(amqp_port "${m:5:1}"))"; done
    return 0
  done
  echo "rabbitmq-cluster: no node of the cluster answers (ports $(amqp_port 1)-$(amqp_port 3))." >&2
  return 1
}

cmd_stop() {
  local n pid
  for n in "${NODES[@]}"; do
    [ -d "$DIR/c$n" ] || continue
    if node_alive "$n"; then
      pid=$(node_pid "$n")
      ctl "$n" stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -9 "$pid" 2>/dev/null
    fi
  done
  return 0
}

valid_node() { case "${1:-}" in 1 | 2 | 3) ;; *) die "name a node: 1, 2 or 3." ;; esac; }

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  ctl) valid_node "${2:-}"; n=$2; shift 2; ctl "$n" "$@" ;;
  kill) valid_node "${2:-}"; node_alive "$2" || die "node $(node_name "$2") is not running."; kill -9 "$(node_pid "$2")" ;;
  *) die "usage: $0 start|stop|status|ctl N ARGS...|kill N" ;;
esac
