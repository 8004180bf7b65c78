#!/usr/bin/env python3
"""One voice-agent turn against a running haru-local: WAV -> STT -> LLM -> TTS.

Usage: roundtrip.py [--base http://127.0.0.1:8090] [--wav models/fixtures/clone-test.wav] [--out reply.wav]
Prints the transcript, the reply and each stage's time; writes the spoken reply.
Standard library only.
"""

import argparse
import json
import time
import urllib.request
import uuid


def post(url, body, content_type):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8090")
    ap.add_argument("--wav", default="models/fixtures/clone-test.wav")
    ap.add_argument("--out", default="reply.wav")
    a = ap.parse_args()

    wav = open(a.wav, "rb").read()
    b = uuid.uuid4().hex
    form = (
        f'--{b}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="in.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode() + wav + f"\r\n--{b}--\r\n".encode()
    t = time.perf_counter()
    heard = json.loads(post(f"{a.base}/v1/audio/transcriptions", form, f"multipart/form-data; boundary={b}"))["text"]
    t_stt = time.perf_counter() - t
    print(f"caller said ({t_stt * 1000:.0f} ms): {heard}")

    chat = {
        "model": "smollm2-135m-instruct",
        "max_tokens": 60,
        "messages": [
            {"role": "system", "content": "You are a friendly phone assistant. Reply in one or two short sentences."},
            {"role": "user", "content": heard},
        ],
    }
    t = time.perf_counter()
    reply = json.loads(post(f"{a.base}/v1/chat/completions", json.dumps(chat).encode(), "application/json"))
    reply = reply["choices"][0]["message"]["content"]
    t_llm = time.perf_counter() - t
    print(f"agent replies ({t_llm * 1000:.0f} ms): {reply}")

    speech = {"model": "tts-1", "voice": "alloy", "response_format": "wav", "input": reply or "Sorry?"}
    t = time.perf_counter()
    audio = post(f"{a.base}/v1/audio/speech", json.dumps(speech).encode(), "application/json")
    t_tts = time.perf_counter() - t
    with open(a.out, "wb") as f:
        f.write(audio)
    secs = (len(audio) - 44) / 2 / 24000
    print(f"spoken reply ({t_tts * 1000:.0f} ms): {secs:.1f} s of audio in {a.out}")


if __name__ == "__main__":
    main()
