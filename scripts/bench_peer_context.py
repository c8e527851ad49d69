#!/usr/bin/env python3
"""qlite next to llama.cpp on one real GGUF with each engine's defaults, at an empty context and
deep into one: decode tok/s after D cached positions (D = 0 and 4096 by default) and prefill of
512 tokens at D = 0, at 1 and 2 threads. The engines alternate per round (llama.cpp first in odd
rounds), so drifting machine load hits both; prints every run, then medians and per-round ratios.
Not part of CI.

  llama.cpp: `llama-bench -m M.gguf -t T -p 0 -n G -d D -r R -o jsonl` (default KV cache: f16),
             `llama-bench -m M.gguf -t T -p 512 -n 0 -r R -o jsonl`
  qlite:     `qlite bench -m M.qlm -t T --prompt-tokens max(D,1) --gen-tokens G --reps R`
             (default KV cache: f16), `qlite bench -m M.qlm -t T --prompt-tokens 512 --gen-tokens 0`
  M.qlm is `qlite convert M.gguf` with defaults (made once, cached by the GGUF's name).

  python3 scripts/bench_peer_context.py [--gguf M.gguf] [--rounds 3] [--threads 1 2] [--depths 0 4096]
The default model is SmolLM2-135M-Instruct's Q4_1 GGUF (scripts/fetch_smollm2.sh); llama-bench is
the one scripts/bench_peer_llamacpp.sh --setup-only builds.
Env: QLITE_BUILD_DIR (default build), QLITE_CACHE (default ~/.cache/qlite),
     QLITE_PEER_CACHE (default $QLITE_CACHE/peer).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFILL = 512


def load():
    return open("/proc/loadavg").read().split()[0]


def llama_rates(lbench, gguf, threads, gen, depths, reps):
    """{("decode", D): tok/s, ("prefill", 0): tok/s}: medians of llama-bench's samples."""
    out = {}
    runs = [["-p", "0", "-n", str(gen), "-d", ",".join(map(str, depths))],
            ["-p", str(PREFILL), "-n", "0"]]
    for extra in runs:
        text = subprocess.run([lbench, "-m", gguf, "-t", str(threads), "-r", str(reps), "-o", "jsonl"] + extra,
                              check=True, capture_output=True, text=True).stdout
        for line in text.splitlines():
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            kind = "decode" if row["n_gen"] > 0 else "prefill"
            out[(kind, row.get("n_depth", 0))] = statistics.median(row["samples_ts"])
    return out


def qlite_rates(qlite, qlm, threads, gen, depths, reps):
    out = {}
    pattern = r"prefill (\d+) tokens: ([\d.]+) tok/s\s+decode (\d+) tokens: ([\d.]+) tok/s"
    for d in depths:
        text = subprocess.run([qlite, "bench", "-m", qlm, "-t", str(threads), "--reps", str(reps),
                               "--prompt-tokens", str(max(d, 1)), "--gen-tokens", str(gen)],
                              check=True, capture_output=True, text=True).stdout
        out[("decode", d)] = float(re.search(pattern, text).group(4))
    text = subprocess.run([qlite, "bench", "-m", qlm, "-t", str(threads), "--reps", str(reps),
                           "--prompt-tokens", str(PREFILL), "--gen-tokens", "0"],
                          check=True, capture_output=True, text=True).stdout
    out[("prefill", 0)] = float(re.search(r"prefill \d+ tokens: ([\d.]+) tok/s", text).group(1))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", help="the model (default: SmolLM2-135M-Instruct Q4_1, fetched)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--depths", type=int, nargs="+", default=[0, 4096])
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    build = os.environ.get("QLITE_BUILD_DIR", os.path.join(ROOT, "build"))
    cache = os.environ.get("QLITE_CACHE", os.path.expanduser("~/.cache/qlite"))
    peer = os.environ.get("QLITE_PEER_CACHE", os.path.join(cache, "peer"))
    qlite = os.path.join(build, "examples", "qlite")
    lbench = os.path.join(peer, "llama.cpp", "build", "bin", "llama-bench")
    if not os.access(lbench, os.X_OK):
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "bench_peer_llamacpp.sh"), "--setup-only"], check=True)
    gguf = args.gguf or subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch_smollm2.sh")], check=True,
                                       capture_output=True, text=True).stdout.strip()
    qlm = os.path.join(cache, "bench", os.path.basename(gguf).replace(".gguf", "") + "-default.qlm")
    if not os.path.exists(qlm):  # cached by name: delete it after changing the converter
        os.makedirs(os.path.dirname(qlm), exist_ok=True)
        subprocess.run([qlite, "convert", gguf, "-q", "-o", qlm], check=True)
    version = open(os.path.join(peer, "llama.cpp", "VERSION")).read().strip()
    print(f"model {gguf}\nqlite file {qlm}\nllama.cpp: {version}", flush=True)

    rows = {}  # (kind, depth, threads) -> [(qlite, llama.cpp) per round]
    for r in range(args.rounds):
        for t in args.threads:
            engines = [("llama.cpp", lambda: llama_rates(lbench, gguf, t, args.gen_tokens, args.depths, args.reps)),
                       ("qlite", lambda: qlite_rates(qlite, qlm, t, args.gen_tokens, args.depths, args.reps))]
            if r % 2:
                engines.reverse()
            got = {}
            for name, run in engines:
                before = load()
                got[name] = run()
                print(f"round {r + 1} threads {t} {name} (load {before}): "
                      + ", ".join(f"{k} {d}: {v:.1f}" for (k, d), v in sorted(got[name].items())), flush=True)
            for key, q in got["qlite"].items():
                rows.setdefault((key[0], key[1], t), []).append((q, got["llama.cpp"][key]))

    print("\n| kind | cached positions | threads | qlite tok/s | llama.cpp tok/s | ratio | per round |")
    print("|---|---|---|---|---|---|---|")
    for (kind, depth, t), pairs in sorted(rows.items()):
        q = statistics.median(p[0] for p in pairs)
        l = statistics.median(p[1] for p in pairs)
        ratios = [p[0] / p[1] for p in pairs]
        what = f"decode {args.gen_tokens}" if kind == "decode" else f"prefill {PREFILL}"
        print(f"| {what} | {depth} | {t} | {q:.1f} | {l:.1f} | {statistics.median(ratios):.2f} | "
              + " ".join(f"{x:.2f}" for x in ratios) + " |")


if __name__ == "__main__":
    sys.exit(main())
