#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and RabbitMQ answer on 127.0.0.1, starting any that
# is down with this machine's own command; fails loudly if one still does not answer.
set -u
answers() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
start() {
  case "$1" in
    PostgreSQL) pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start ;;
    Redis) redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
             --dir /var/lib/redis --logfile /var/log/redis/ci.log ;;
    RabbitMQ) rabbitmq-server -detached ;;
  esac
}
status=0
for svc in "PostgreSQL 5432" "Redis 6379" "RabbitMQ 5672"; do
  set -- $svc
  answers "$2" && continue
  echo "services: $1 is not answering on 127.0.0.1:$2; starting it" >&2
  start "$1" >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do answers "$2" && break; sleep 1; done
  if ! answers "$2"; then
    echo "services: $1 still does not answer on 127.0.0.1:$2. Start it by hand (see README, 'Services')." >&2
    status=1
  fi
done
exit $status
