#!/usr/bin/env bash
# Everything a fresh machine needs: apt packages, models, and the builds.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
"$REPO/scripts/install-engines.sh"
echo "setup: building the offline engines (engines/)" >&2
(cd engines && cargo build --quiet)
echo "setup: building haru" >&2
cargo build --quiet -p haru
