#!/usr/bin/env python3
"""qlite next to llama.cpp on Gemma 3 270M, or on any GGUF given with --gguf (the same file for
both): prefill and decode tok/s at 1 and 2 threads, the engines alternating per round so
drifting machine load hits both; prints the per-round qlite/llama.cpp ratios. Not part of CI.

llama.cpp runs through llama-cpp-python (its eval loop: 64 prompt tokens in one batch, then
64 single-token evals; the Python wrapper adds well under 1% per token at this size); qlite
through `qlite bench` on the file `qlite convert` made from the GGUF (default scheme: int4
groups of 32, int8 embedding, like the Q4_K_M file's mix in bytes).
  CMAKE_ARGS="-DGGML_NATIVE=ON" python3 -m pip install llama-cpp-python==0.3.36
  python3 scripts/bench_peer_gemma3.py [--rounds 2] [--threads 1 2] [--gguf M.gguf]
A Qwen3-0.6B-shaped random Q4_0 GGUF: scripts/bench_peer_gguf.py make q3.gguf --weights q4
--shape qwen3-0.6b --codes (with PyPI's gguf package).
Env: QLITE_BUILD_DIR (default build), QLITE_CACHE (default ~/.cache/qlite).
"""
import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENS = 64


def llama_cpp_rates(gguf, threads, reps=3):
    import llama_cpp
    llm = llama_cpp.Llama(model_path=gguf, n_ctx=1024, n_batch=TOKENS, n_threads=threads,
                          n_threads_batch=threads, verbose=False)
    prompt = [2] + [1000 + i for i in range(TOKENS - 1)]
    prefill, decode = [], []
    for _ in range(reps):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(prompt)
        t1 = time.perf_counter()
        for _ in range(TOKENS):
            llm.eval([1000])
        t2 = time.perf_counter()
        prefill.append(TOKENS / (t1 - t0))
        decode.append(TOKENS / (t2 - t1))
    return sorted(prefill)[reps // 2], sorted(decode)[reps // 2]


def qlite_rates(qlite, qlm, threads):
    out = subprocess.run([qlite, "bench", "-m", qlm, "-t", str(threads), "--reps", "3", "--window", "1024",
                          "--prompt-tokens", str(TOKENS), "--gen-tokens", str(TOKENS)],
                         check=True, capture_output=True, text=True).stdout
    m = re.search(r"prefill \d+ tokens: ([\d.]+) tok/s\s+decode \d+ tokens: ([\d.]+) tok/s", out)
    return float(m.group(1)), float(m.group(2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--gguf", help="the model (default: Gemma 3 270M, fetched)")
    args = ap.parse_args()
    build = os.environ.get("QLITE_BUILD_DIR", os.path.join(ROOT, "build"))
    cache = os.environ.get("QLITE_CACHE", os.path.expanduser("~/.cache/qlite"))
    qlite = os.path.join(build, "examples", "qlite")
    gguf = args.gguf or subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch_gemma3.sh")], check=True,
                                       capture_output=True, text=True).stdout.strip()
    # The conversion is cached by the GGUF's name: delete it after changing the converter.
    qlm = os.path.join(cache, "bench", os.path.basename(gguf).replace(".gguf", "") + ".qlm")
    if not os.path.exists(qlm):
        os.makedirs(os.path.dirname(qlm), exist_ok=True)
        subprocess.run([qlite, "convert", gguf, "-q", "-o", qlm], check=True)
    for r in range(args.rounds):
        for t in args.threads:
            lp, ld = llama_cpp_rates(gguf, t)
            qp, qd = qlite_rates(qlite, qlm, t)
            load = open("/proc/loadavg").read().split()[0]
            print(f"round {r + 1} threads {t}: prefill qlite {qp:.0f} llama.cpp {lp:.0f} ({qp / lp:.2f}x), "
                  f"decode qlite {qd:.1f} llama.cpp {ld:.1f} ({qd / ld:.2f}x), load {load}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
