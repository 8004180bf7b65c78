#!/usr/bin/env bash
# Stops what deploy/start.sh started, and removes its local PostgreSQL cluster (a
# PostgreSQL named by HARU_DATABASE_URL is never touched).
set -uo pipefail
DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$DEPLOY/.." && pwd)"
RUN="$DEPLOY/.run"
[[ -f "$RUN/nginx.pid" ]] && nginx -c "$RUN/nginx.conf" -p "$RUN" -s quit 2>/dev/null
for f in "$RUN"/haru-*.pid "$RUN"/fakes.pid; do
  [[ -f "$f" ]] && kill "$(cat "$f")" 2>/dev/null; rm -f "$f"
done
[[ -d "$RUN/pg" ]] && "$REPO/scripts/pg-test.sh" stop "$RUN/pg"
rm -rf "$RUN"
echo "deploy: stopped" >&2
