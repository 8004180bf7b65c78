#!/usr/bin/env python3
"""Measure a running haru-local: STT latency, LLM first token and tokens/s, TTS latency.

Usage: bench.py [--base http://127.0.0.1:8090] [--models-dir models] [--runs 5]
Standard library only.
"""

import argparse
import json
import statistics
import time
import urllib.request
import uuid
from pathlib import Path


def post(url, body, headers):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    return urllib.request.urlopen(req, timeout=120)


def multipart(fields, file_name, file_bytes):
    boundary = uuid.uuid4().hex
    out = b""
    for k, v in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode() + file_bytes + f"\r\n--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def bench_stt(base, wav, runs):
    body, headers = multipart({"model": "whisper-1", "language": "en"}, "clip.wav", wav)
    times, text = [], ""
    for _ in range(runs):
        t = time.perf_counter()
        text = json.load(post(f"{base}/v1/audio/transcriptions", body, headers))["text"]
        times.append(time.perf_counter() - t)
    return statistics.median(times), text


def bench_llm(base, runs):
    req = {
        "model": "smollm2-135m-instruct",
        "stream": True,
        "max_tokens": 64,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "You are a friendly phone receptionist for a dental clinic."},
            {"role": "user", "content": "Hi, I'd like to book a cleaning next week. What do you need from me?"},
        ],
    }
    firsts, rates = [], []
    for i in range(runs):
        # A new question each run: the system prompt stays cached (as within
        # a call), the user turn must be evaluated.
        req["messages"][1]["content"] = f"Hi, this is caller {i}. I'd like to book a cleaning next week. What do you need from me?"
        t0 = time.perf_counter()
        first, n = None, 0
        with post(f"{base}/v1/chat/completions", json.dumps(req).encode(), {"Content-Type": "application/json"}) as r:
            for line in r:
                line = line.decode().strip()
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                delta = json.loads(line[6:])["choices"]
                if delta and delta[0]["delta"].get("content"):
                    n += 1
                    if first is None:
                        first = time.perf_counter()
        end = time.perf_counter()
        firsts.append(first - t0)
        if n > 1:
            rates.append((n - 1) / (end - first))
    return statistics.median(firsts), statistics.median(rates)


def bench_tts(base, runs):
    req = {
        "model": "tts-1",
        "voice": "alloy",
        "response_format": "pcm",
        "input": "Thanks for calling Bright Smile Dental. How can I help you today?",
    }
    firsts, totals, size = [], [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        with post(f"{base}/v1/audio/speech", json.dumps(req).encode(), {"Content-Type": "application/json"}) as r:
            chunk = r.read(4096)
            firsts.append(time.perf_counter() - t0)
            size = len(chunk) + len(r.read())
        totals.append(time.perf_counter() - t0)
    return statistics.median(firsts), statistics.median(totals), size / 2 / 24000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8090")
    ap.add_argument("--models-dir", default="models")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    wav = (Path(a.models_dir) / "fixtures" / "clone-test.wav").read_bytes()
    stt, text = bench_stt(a.base, wav, a.runs)
    print(f"STT  clone-test.wav (4.1 s): {stt * 1000:.0f} ms median  -> {text!r}")
    first, rate = bench_llm(a.base, a.runs)
    print(f"LLM  first token {first * 1000:.0f} ms, {rate:.0f} tokens/s (median)")
    tfirst, ttotal, secs = bench_tts(a.base, a.runs)
    print(f"TTS  {secs:.1f} s of audio: first bytes {tfirst * 1000:.0f} ms, complete {ttotal * 1000:.0f} ms")


if __name__ == "__main__":
    main()
