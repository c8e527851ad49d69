#!/usr/bin/env python3
"""GGUF side of scripts/bench_peer_llamacpp.sh (run with the PyPI `gguf` package's venv).

  bench_peer_gguf.py make OUT.gguf --weights q4|q8|f16 [--shape tinyllama|qwen3-0.6b] [--seed 1] [--codes]
      A model with random N(0, 0.02) weights (norms 1) and the shapes of TinyLlama-1.1B (llama
      arch, untied output) or Qwen3-0.6B (qwen3 arch: q/k norms, head_dim 128, tied 151936-token
      embedding): layer matrices Q4_0 or Q8_0, token_embd and output Q8_0 (as qlite's q4 model
      keeps an 8-bit output head, so both engines stream the same bytes per token); --weights f16
      makes every matrix f16 (a converter's input, scripts/bench_convert.sh). The speed
      of a forward pass does not depend on what the weights say. --codes draws random codes and
      scales directly in the Q4_0/Q8_0 block layout (seconds instead of minutes).
  bench_peer_gguf.py bytes M.gguf
      Bytes one decode token streams: every tensor except token_embd when the output is
      untied (then only one embedding row is read).
"""
import argparse
import sys

import numpy as np
import gguf
from gguf.quants import quantize

# dim, ffn, layers, heads, kv heads, head_dim, vocab, context. TinyLlama-1.1B is the shape
# qlite_make_synthetic --shape tinyllama uses; Qwen3-0.6B's config.json for the other.
SHAPES = {"tinyllama": (2048, 5632, 22, 32, 4, 64, 32000, 2048),
          "qwen3-0.6b": (1024, 3072, 28, 16, 8, 128, 151936, 40960)}
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
    if qtype == Q.F16:
        x = rng.standard_normal((rows, cols), dtype=np.float32)
        x *= np.float32(0.02)
        w.add_tensor(name, x.astype(np.float16))
        return
    if codes:
        w.add_tensor(name, random_blocks(rng, rows, cols, qtype), raw_dtype=qtype)
        return
    x = rng.standard_normal((rows, cols), dtype=np.float32)
    x *= np.float32(0.02)
    w.add_tensor(name, quantize(x, qtype), raw_dtype=qtype)


def add_vocab(w, VOCAB):
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


def make(out, weights, seed, codes=False, shape="tinyllama"):
    DIM, FFN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, VOCAB, CTX = SHAPES[shape]
    qwen3 = shape.startswith("qwen3")
    layer_q = {"q4": Q.Q4_0, "q8": Q.Q8_0, "f16": Q.F16}[weights]
    embed_q = Q.F16 if weights == "f16" else Q.Q8_0
    rng = np.random.default_rng(seed)
    matrix = lambda name, rows, cols, qtype: add_matrix(w, rng, name, rows, cols, qtype, codes)
    w = gguf.GGUFWriter(out, "qwen3" if qwen3 else "llama")
    w.add_name("%s-shaped random %s" % (shape, weights))
    w.add_context_length(CTX)
    w.add_embedding_length(DIM)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_rope_dimension_count(HEAD_DIM)
    if qwen3:
        w.add_rope_freq_base(1e6)
    w.add_layer_norm_rms_eps(1e-6 if qwen3 else 1e-5)
    w.add_vocab_size(VOCAB)
    w.add_file_type({"q4": gguf.LlamaFileType.MOSTLY_Q4_0, "q8": gguf.LlamaFileType.MOSTLY_Q8_0,
                     "f16": gguf.LlamaFileType.MOSTLY_F16}[weights])
    add_vocab(w, VOCAB)
    ones = np.ones(DIM, dtype=np.float32)
    head_ones = np.ones(HEAD_DIM, dtype=np.float32)
    matrix("token_embd.weight", VOCAB, DIM, embed_q)
    for l in range(LAYERS):
        p = "blk.%d." % l
        w.add_tensor(p + "attn_norm.weight", ones)
        matrix(p + "attn_q.weight", HEADS * HEAD_DIM, DIM, layer_q)
        matrix(p + "attn_k.weight", KV_HEADS * HEAD_DIM, DIM, layer_q)
        matrix(p + "attn_v.weight", KV_HEADS * HEAD_DIM, DIM, layer_q)
        matrix(p + "attn_output.weight", DIM, HEADS * HEAD_DIM, layer_q)
        if qwen3:
            w.add_tensor(p + "attn_q_norm.weight", head_ones)
            w.add_tensor(p + "attn_k_norm.weight", head_ones)
        w.add_tensor(p + "ffn_norm.weight", ones)
        matrix(p + "ffn_gate.weight", FFN, DIM, layer_q)
        matrix(p + "ffn_up.weight", FFN, DIM, layer_q)
        matrix(p + "ffn_down.weight", DIM, FFN, layer_q)
    w.add_tensor("output_norm.weight", ones)
    if not qwen3:  # Qwen3-0.6B ties its output to the embedding
        matrix("output.weight", VOCAB, DIM, embed_q)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def token_bytes(path):
    r = gguf.GGUFReader(path)
    tied = not any(t.name == "output.weight" for t in r.tensors)
    return sum(int(t.n_bytes) for t in r.tensors if tied or t.name != "token_embd.weight")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    m.add_argument("--weights", choices=["q4", "q8", "f16"], required=True)
    m.add_argument("--shape", choices=sorted(SHAPES), default="tinyllama")
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--codes", action="store_true", help="random codes in the block layout (fast)")
    b = sub.add_parser("bytes")
    b.add_argument("model")
    a = ap.parse_args()
    if a.cmd == "make":
        make(a.out, a.weights, a.seed, a.codes, a.shape)
    else:
        print(token_bytes(a.model))


if __name__ == "__main__":
    sys.exit(main())
