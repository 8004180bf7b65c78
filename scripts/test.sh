#!/usr/bin/env bash
# The whole suite: formatting, lints, and every test of both workspaces (real engines included).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
"$REPO/scripts/setup.sh"
echo "test: formatting and lints" >&2
cargo fmt --all --check
cargo clippy --quiet --workspace --all-targets -- -D warnings
(cd engines && cargo fmt --all --check && cargo clippy --quiet --all-targets -- -D warnings)
echo "test: haru workspace" >&2
cargo test --workspace
# The store, post-call, API and multi-instance tests again, on a real PostgreSQL server
# started for this run in a temporary directory (127.0.0.1 only) and stopped afterwards.
echo "test: the same store suites on PostgreSQL" >&2
PG_DIR="$(mktemp -d /tmp/haru-pg.XXXXXX)"
rmdir "$PG_DIR"
trap '"$REPO/scripts/pg-test.sh" stop "$PG_DIR" || true' EXIT
PG_URL="$("$REPO/scripts/pg-test.sh" start "$PG_DIR")"
HARU_TEST_DATABASE_URL="$PG_URL" cargo test -p haru-store -p haru-postcall -p haru-api
HARU_TEST_DATABASE_URL="$PG_URL" cargo test -p haru --test recovery --test instances --test companion
"$REPO/scripts/pg-test.sh" stop "$PG_DIR"
trap - EXIT
echo "test: offline engines" >&2
(cd engines && cargo test)
