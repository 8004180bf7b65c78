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
echo "test: offline engines" >&2
(cd engines && cargo test)
