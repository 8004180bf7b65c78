#!/usr/bin/env python3
"""Labels the real-speech English end-of-turn set (crates/haru-bench/data/eot-real-en.tsv).

Each turn is real human speech from packages that ship it (Debian's pocketsphinx-testdata:
LibriVox readings and spoken card names; the moonshine-voice wheel's WAVs, installed into
models/fixtures by scripts/install-engines.sh). Some turns are two consecutive sentences of
the same reading, joined as the reader spoke them. Every silence of at least MIN_HOLD_MS
inside a turn is a hold; the end of the last speech is the true end of turn. The words
before each hold are what haru's own transcriber (Whisper base, through a running
haru-local) returns for the audio up to that pause, as a speculative transcription would.

Run with haru-local listening (engines/README.md), then commit the TSV:
    scripts/eot-label-real.py http://127.0.0.1:8090 > crates/haru-bench/data/eot-real-en.tsv
stdlib only.
"""
import io, json, math, re, sys, urllib.request, uuid, wave, hashlib, os

PS = "/usr/share/pocketsphinx/test/data"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FX = os.path.join(REPO, "models", "fixtures")
LV = PS + "/librivox/sense_and_sensibility_01_austen_64kb-0%s.wav"
# (id, [clip paths]) — joined clips are consecutive sentences of one reading.
TURNS = [
    ("lv870", [LV % "870"]),
    ("lv880", [LV % "880"]),
    ("lv890", [LV % "890"]),
    ("lv920", [LV % "920"]),
    ("lv930", [LV % "930"]),
    ("lv870+880", [LV % "870", LV % "880"]),
    ("lv880+890", [LV % "880", LV % "890"]),
    ("lv920+930", [LV % "920", LV % "930"]),
    ("cards1", [PS + "/cards/001.wav"]),
    ("cards2", [PS + "/cards/002.wav"]),
    ("cards3", [PS + "/cards/003.wav"]),
    ("cards4", [PS + "/cards/004.wav"]),
    ("cards5", [PS + "/cards/005.wav"]),
    ("goforward", [PS + "/goforward.raw"]),
    ("numbers", [PS + "/numbers.raw"]),
    ("something", [PS + "/something.raw"]),
    ("beckett", [FX + "/beckett.wav"]),
    ("clone", [FX + "/clone-test.wav"]),
]
MIN_HOLD_MS = 150
FRAME_MS = 10


def load16k(path):
    if path.endswith(".raw"):
        data = open(path, "rb").read()  # 16 kHz, 16-bit little-endian mono
        return list(memoryview(data).cast("h"))
    with wave.open(path) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1, path
        return list(memoryview(w.readframes(w.getnframes())).cast("h"))


def energies(pcm):
    n = 16 * FRAME_MS
    return [math.sqrt(sum(s * s for s in pcm[i:i + n]) / n) for i in range(0, len(pcm) - n + 1, n)]


def speech_spans(pcm):
    """(start, end) ms of speech: frames above a level set from the loud frames."""
    e = energies(pcm)
    loud = sorted(e)[int(len(e) * 0.95)]
    thr = max(loud * 0.06, 60.0)
    voiced = [x > thr for x in e]
    spans, start = [], None
    for i, v in enumerate(voiced + [False]):
        if v and start is None:
            start = i
        if not v and start is not None:
            spans.append([start * FRAME_MS, i * FRAME_MS])
            start = None
    # Merge gaps shorter than a hold; drop blips.
    merged = []
    for s in spans:
        if merged and s[0] - merged[-1][1] < MIN_HOLD_MS:
            merged[-1][1] = s[1]
        else:
            merged.append(s)
    return [s for s in merged if s[1] - s[0] >= 60]


def wav_bytes(pcm):
    b = io.BytesIO()
    with wave.open(b, "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
        w.writeframes(b"".join(int(s).to_bytes(2, "little", signed=True) for s in pcm))
    return b.getvalue()


def transcribe(base, pcm):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nen\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            f"Content-Type: audio/wav\r\n\r\n").encode() + wav_bytes(pcm) + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(base + "/v1/audio/transcriptions", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = json.load(r)["text"].strip().replace("\t", " ")
    # Whisper base loops on some short clips ("4 4 4 4 ..."): one copy is what was said.
    return re.sub(r"(\S+?)([ ,.]+\1)+\b[,.]?", r"\1", text)


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8090"
    print("# turn\tclips (sha256 prefix)\tkind\tstart_ms\tend_ms\twords before (Whisper base on the audio so far)")
    for tid, clips in TURNS:
        pcm, shas = [], []
        for c in clips:
            shas.append(os.path.basename(c) + ":" + hashlib.sha256(open(c, "rb").read()).hexdigest()[:16])
            pcm += load16k(c)
        spans = speech_spans(pcm)
        for a, b in zip(spans, spans[1:]):
            # What a speculative transcription sees at this pause: the turn up to 150 ms in.
            words = transcribe(base, pcm[spans[0][0] * 16 - 4800 if spans[0][0] > 300 else 0:(a[1] + 150) * 16])
            print(f"{tid}\t{' '.join(shas)}\thold\t{a[1]}\t{b[0]}\t{words}")
        words = transcribe(base, pcm[:(spans[-1][1] + 150) * 16])
        print(f"{tid}\t{' '.join(shas)}\tend\t{spans[-1][1]}\t{len(pcm) // 16}\t{words}")


main()
