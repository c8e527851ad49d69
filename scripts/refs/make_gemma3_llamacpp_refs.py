#!/usr/bin/env python3
"""llama.cpp's greedy continuations of a few prompts on Gemma 3 270M (gemma-3-270m-q4_k_m.gguf,
scripts/fetch_gemma3.sh), the references of tests/e2e/test_gemma3.cc.

llama.cpp runs through llama-cpp-python (PyPI; its wheel builds the vendored llama.cpp):
for each prompt it records llama.cpp's token ids (BOS added, special tokens parsed), then
N greedy steps (argmax of the last logits, fed back one token at a time) with each step's
top-1/top-2 logit gap, so a test can stop comparing at the first near-tie.

Heavy tools stay out of the test run: only the JSON it writes is committed.
  CMAKE_ARGS="-DGGML_NATIVE=ON" python3 -m pip install llama-cpp-python==0.3.36 numpy
  python3 scripts/refs/make_gemma3_llamacpp_refs.py ~/.cache/qlite/gemma-3-270m-q4_k_m.gguf \
      tests/data/gemma3_270m_llamacpp.json
"""
import hashlib
import json
import sys

import llama_cpp
import numpy as np

PROMPTS = [
    "Water boils at a temperature of",
    "The first president of the United States was",
    "Once upon a time, there was a little girl named",
    "La capitale de la France est",
    "def fibonacci(n):\n",
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
]
STEPS = 24


def main(gguf, out):
    llm = llama_cpp.Llama(model_path=gguf, n_ctx=512, n_batch=512, n_threads=2, seed=0, logits_all=True, verbose=False)
    with open(gguf, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    cases = []
    for prompt in PROMPTS:
        ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
        llm.reset()
        llm.eval(ids)
        greedy, margins = [], []
        for _ in range(STEPS):
            row = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float64)
            top2 = np.sort(np.partition(row, -2)[-2:])
            nxt = int(np.argmax(row))
            greedy.append(nxt)
            margins.append(round(float(top2[1] - top2[0]), 4))
            llm.eval([nxt])
        text = llm.detokenize(greedy).decode("utf-8", "replace")
        print(f"{prompt!r} -> {text!r} (smallest margin {min(margins):.3f})")
        cases.append({"prompt": prompt, "prompt_ids": ids, "greedy_ids": greedy, "margins": margins, "text": text})
    refs = {"model": "gemma-3-270m-q4_k_m.gguf", "sha256": sha,
            "llama_cpp_python": llama_cpp.__version__, "cases": cases}
    with open(out, "w") as f:
        json.dump(refs, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
