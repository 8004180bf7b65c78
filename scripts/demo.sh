#!/usr/bin/env bash
# The main job: install, build, then hold a complete offline phone conversation.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
"$REPO/scripts/setup.sh"
exec "$REPO/target/debug/haru" demo
