#!/usr/bin/env python3
"""Holds the offline demo call N times in a row and tabulates what each run produced.

    scripts/demo-repeat.py 10                   # Korean
    HARU_DEMO_LANG=en scripts/demo-repeat.py 10 # English

Needs `make setup` first (it runs target/debug/haru demo as it is). For each run: every
answered turn's end of speech -> first audio (the acknowledgement when one played) and ->
the answer's own first audio, and whether the diary, a schedule item and the mood are
present and written in the call's language. Ends non-zero if any run lacks one of them.
"""
import os
import re
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LANG = os.environ.get("HARU_DEMO_LANG", "ko")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
HAN_KANA = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def in_language(text):
    """Korean: Hangul and no Chinese/Japanese script; English: no Hangul at all."""
    if LANG.startswith("ko"):
        return bool(HANGUL.search(text)) and not HAN_KANA.search(text)
    return not HANGUL.search(text) and not HAN_KANA.search(text) and bool(re.search("[A-Za-z]", text))


def section(out, name):
    m = re.search(rf"== {name} ==\n(.*?)(?:\n== |\Z)", out, re.S)
    return m.group(1).strip() if m else ""


def one_run(i):
    for f in ("demo.db", "demo.db-wal", "demo.db-shm"):
        try:
            os.remove(os.path.join(REPO, "out", f))
        except FileNotFoundError:
            pass
    env = dict(os.environ, NO_COLOR="1", RUST_LOG=os.environ.get("RUST_LOG", "warn,haru_postcall=info"))
    p = subprocess.run(
        [os.path.join(REPO, "target/debug/haru"), "demo"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    out = p.stdout
    first, answer = [], []
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 7 and cols[0].isdigit() and cols[-1] == "answered":
            if cols[4].isdigit():
                first.append(int(cols[4]))
            if cols[5].isdigit():
                answer.append(int(cols[5]))
    diary, sched, mood = section(out, "Diary"), section(out, "Schedules"), section(out, "Mood")
    ok = {
        "diary": bool(diary) and diary != "(none yet)" and in_language(diary),
        "schedules": sched.startswith("- "),
        "mood": bool(mood) and mood != "(none yet)" and in_language(mood.split(":", 1)[-1]),
    }
    return {"run": i, "rc": p.returncode, "first": first, "answer": answer, "ok": ok,
            "diary": diary, "sched": sched, "mood": mood, "stdout": out, "stderr": p.stderr}


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    runs, all_first, all_answer = [], [], []
    log_dir = os.path.join(REPO, "out", f"demo-repeat-{LANG}")
    os.makedirs(log_dir, exist_ok=True)
    print(f"{'run':>3}  {'first audio (ms)':<20} {'answer (ms)':<20} diary schedules mood")
    for i in range(1, n + 1):
        r = one_run(i)
        runs.append(r)
        all_first += r["first"]
        all_answer += r["answer"]
        with open(os.path.join(log_dir, f"run-{i:02}.txt"), "w") as f:
            f.write(r["stdout"] + "\n--- stderr ---\n" + r["stderr"])
        mark = lambda k: "yes" if r["ok"][k] else "NO"
        print(f"{i:>3}  {str(r['first']):<20} {str(r['answer']):<20} "
              f"{mark('diary'):<5} {mark('schedules'):<9} {mark('mood')}"
              + ("" if r["rc"] == 0 else f"  (exit {r['rc']})"), flush=True)
    full = sum(all(r["ok"].values()) and r["rc"] == 0 for r in runs)
    p = lambda xs, q: sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] if xs else None
    print(f"\n{LANG}: {full}/{n} runs with diary, schedules and mood in the call's language")
    if all_first:
        print(f"end of speech -> first audio: p50 {statistics.median(all_first):.0f} ms, "
              f"p90 {p(all_first, 0.9)} ms over {len(all_first)} answered turns")
    if all_answer:
        print(f"end of speech -> answer audio: p50 {statistics.median(all_answer):.0f} ms, "
              f"p90 {p(all_answer, 0.9)} ms")
    print(f"each run's output: {log_dir}/")
    sys.exit(0 if full == n else 1)


if __name__ == "__main__":
    main()
