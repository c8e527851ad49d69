#!/usr/bin/env python3
"""GGUF side of scripts/bench_peer_llamacpp.sh (run with the PyPI `gguf` package's venv).

  bench_peer_gguf.py make OUT.gguf --weights q4|q8 [--seed 1] [--codes]
      A llama-arch model with TinyLlama-1.1B's shapes and random N(0, 0.02) weights (norms 1):
      layer matrices Q4_0 or Q8_0, token_embd and output Q8_0 (as qlite's q4 model keeps an
      8-bit output head, so both engines stream the same bytes per token). The speed of a
      forward pass does not depend on what the weights say. --codes draws random codes and
      scales directly in the Q4_0/Q8_0 block layout (seconds instead of minutes: for a GPU
      machine whose time is counted).
  bench_peer_gguf.py bytes M.gguf
      Bytes one decode token streams: every tensor except token_embd (output is untied, so
      only one embedding row is read).
"""
import argparse
import sys

import numpy as np
import gguf
from gguf.quants import quantize

# TinyLlama-1.1B (the shape qlite_make_synthetic --shape tinyllama uses).
DIM, FFN, LAYERS, HEADS, KV_HEADS, VOCAB, CTX = 2048, 5632, 22, 32, 4, 32000, 2048
HEAD_DIM = DIM // HEADS
Q = gguf.GGMLQuantizationType


def random_blocks(rng, rows, cols, qtype):
    """Q4_0 / Q8_0 blocks of 32 with random codes and f16 scales (|w| about 0.02)."""
    blocks = cols // 32
    if qtype == Q.Q4_0:
        block = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
        scale = 0.02 / 4
    else:
        block = np.dtype([("d", "<f2"), ("qs", "i1", 32)])
        scale = 0.02 / 64
    out = np.empty((rows, blocks), dtype=block)
    out["d"] = (scale * (0.5 + rng.random((rows, blocks)))).astype(np.float16)
    out["qs"] = rng.integers(0, 256, size=out["qs"].shape, dtype=np.uint8).view(out["qs"].dtype)
    return out.view(np.uint8).reshape(rows, blocks * block.itemsize)


def add_matrix(w, rng, name, rows, cols, qtype, codes=False):
    if codes:
        w.add_tensor(name, random_blocks(rng, rows, cols, qtype), raw_dtype=qtype)
        return
    x = rng.standard_normal((rows, cols), dtype=np.float32)
    x *= np.float32(0.02)
    w.add_tensor(name, quantize(x, qtype), raw_dtype=qtype)


def add_vocab(w):
    # SentencePiece-style vocabulary: unk/bos/eos, 256 byte tokens, filler pieces. llama-bench
    # feeds random ids, so only the count and the special ids matter.
    tokens, types = ["<unk>", "<s>", "</s>"], [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL,
                                                 gguf.TokenType.CONTROL]
    tokens += ["<0x%02X>" % b for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    tokens += ["\u2581t%d" % i for i in range(VOCAB - len(tokens))]
    types += [gguf.TokenType.NORMAL] * (VOCAB - len(types))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([-float(i) for i in range(VOCAB)])
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)


def make(out, weights, seed, codes=False):
    layer_q = {"q4": Q.Q4_0, "q8": Q.Q8_0}[weights]
    rng = np.random.default_rng(seed)
    matrix = lambda name, rows, cols, qtype: add_matrix(w, rng, name, rows, cols, qtype, codes)
    w = gguf.GGUFWriter(out, "llama")
    w.add_name("tinyllama-shaped random %s" % weights)
    w.add_context_length(CTX)
    w.add_embedding_length(DIM)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(VOCAB)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0 if weights == "q4" else gguf.LlamaFileType.MOSTLY_Q8_0)
    add_vocab(w)
    ones = np.ones(DIM, dtype=np.float32)
    matrix("token_embd.weight", VOCAB, DIM, Q.Q8_0)
    for l in range(LAYERS):
        p = "blk.%d." % l
        w.add_tensor(p + "attn_norm.weight", ones)
        matrix(p + "attn_q.weight", DIM, DIM, layer_q)
        matrix(p + "attn_k.weight", KV_HEADS * HEAD_DIM, DIM, layer_q)
        matrix(p + "attn_v.weight", KV_HEADS * HEAD_DIM, DIM, layer_q)
        matrix(p + "attn_output.weight", DIM, DIM, layer_q)
        w.add_tensor(p + "ffn_norm.weight", ones)
        matrix(p + "ffn_gate.weight", FFN, DIM, layer_q)
        matrix(p + "ffn_up.weight", FFN, DIM, layer_q)
        matrix(p + "ffn_down.weight", DIM, FFN, layer_q)
    w.add_tensor("output_norm.weight", ones)
    matrix("output.weight", VOCAB, DIM, Q.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def token_bytes(path):
    r = gguf.GGUFReader(path)
    return sum(int(t.n_bytes) for t in r.tensors if t.name != "token_embd.weight")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    m.add_argument("--weights", choices=["q4", "q8"], required=True)
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--codes", action="store_true", help="random codes in the block layout (fast)")
    b = sub.add_parser("bytes")
    b.add_argument("model")
    a = ap.parse_args()
    if a.cmd == "make":
        make(a.out, a.weights, a.seed, a.codes)
    else:
        print(token_bytes(a.model))


if __name__ == "__main__":
    sys.exit(main())
