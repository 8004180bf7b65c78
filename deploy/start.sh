#!/usr/bin/env bash
# Two haru instances, one PostgreSQL, nginx in front — all on this machine, all on
# 127.0.0.1. State lives in deploy/.run (the database cluster, logs, pids).
#
#   deploy/start.sh        start everything (PostgreSQL, `haru migrate`, two `haru serve`, nginx)
#   deploy/stop.sh         stop everything, the local PostgreSQL cluster (and its data) included
#
# Providers come from .env as for `haru serve` (OPENAI_BASE_URL etc.); with none set,
# `haru fake-providers` is started so the stack can be tried without a key.
set -euo pipefail
DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$DEPLOY/.." && pwd)"
RUN="$DEPLOY/.run"
mkdir -p "$RUN"
log() { echo "deploy: $*" >&2; }

command -v nginx >/dev/null || { log "nginx is missing: apt-get install -y nginx"; exit 1; }
[[ -x "$REPO/target/release/haru" ]] || (cd "$REPO" && cargo build --release -p haru)
HARU="$REPO/target/release/haru"

# PostgreSQL: the one HARU_DATABASE_URL names (production), or a cluster of its own in
# deploy/.run/pg for trying this out (durable; deploy/stop.sh removes it).
if [[ "${HARU_DATABASE_URL:-}" == postgres* ]]; then
  log "using the PostgreSQL of HARU_DATABASE_URL"
elif [[ -f "$RUN/pg.url" ]] && psql "$(cat "$RUN/pg.url")" -Atc 'select 1' >/dev/null 2>&1; then
  log "PostgreSQL already running"
  export HARU_DATABASE_URL="$(cat "$RUN/pg.url")"
else
  PG_DURABLE=1 "$REPO/scripts/pg-test.sh" start "$RUN/pg" >"$RUN/pg.url"
  export HARU_DATABASE_URL="$(cat "$RUN/pg.url")"
  log "PostgreSQL started: $HARU_DATABASE_URL"
fi
export API_BASE_URL="${API_BASE_URL:-http://127.0.0.1:8000}"

if [[ -z "${OPENAI_BASE_URL:-}" ]] && ! grep -q '^OPENAI_BASE_URL=' "$REPO/.env" 2>/dev/null; then
  "$HARU" fake-providers --openai 127.0.0.1:8070 --twilio 127.0.0.1:8071 >"$RUN/fakes.log" 2>&1 &
  echo $! >"$RUN/fakes.pid"
  export OPENAI_BASE_URL=http://127.0.0.1:8070/v1 OPENAI_API_KEY=x
  log "no provider configured: fake providers on 127.0.0.1:8070"
fi

"$HARU" migrate
for n in 1 2; do
  HARU_BIND="127.0.0.1:800$n" HARU_INSTANCE_ID="haru-$n" \
    "$HARU" serve >"$RUN/haru-$n.log" 2>&1 &
  echo $! >"$RUN/haru-$n.pid"
done
for n in 1 2; do
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:800$n/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fsS "http://127.0.0.1:800$n/healthz" >/dev/null || { log "haru-$n did not start:"; tail -20 "$RUN/haru-$n.log"; exit 1; }
done
sed "s#__RUN__#$RUN#g" "$DEPLOY/nginx.conf" >"$RUN/nginx.conf"
nginx -c "$RUN/nginx.conf" -p "$RUN"
log "nginx on http://127.0.0.1:8000 → haru-1 (:8001), haru-2 (:8002)"
"$HARU" doctor
