#!/usr/bin/env python3
"""Tiny random-weight Qwen3, Qwen2.5 and Gemma 3 models and their reference outputs, made by
Hugging Face `transformers` itself (the independent implementation qlite is checked against).

For each family it writes tests/data/families/<family>/: config.json and model.safetensors
(BF16 storage: exact in f32, half the bytes), a small SentencePiece-style BPE tokenizer.json
with byte fallback (the tokenizer only has to load: the tests feed ids), and refs.json. For Qwen3 and Qwen2.5 it also writes <family>.gguf beside the folder: the same
weights under llama.cpp's gguf-py names and keys (arch qwen3 / qwen2, HF row order as
llama.cpp's converter keeps it for NeoX RoPE, BF16 matrices, F32 norms and biases, the
tokenizer as a "llama" SentencePiece vocabulary), so the GGUF importer is checked against
the same references. refs.json:
  token_ids        a fixed id sequence longer than Gemma's sliding window
  logits           teacher-forced logits of every position, [len(token_ids)][vocab] (f32 run)
  prompt_ids, greedy_ids   greedy continuation (argmax of a full forward per step)
  min_greedy_margin        smallest top-1/top-2 logit gap along the greedy run
Weights are drawn wide enough (std 0.15, norms around their neutral value +-0.3) that every
part of the layer moves the logits; the run stops if a greedy step is a near-tie.

Heavy tools stay out of the test run: only what it writes is committed.
  python3 -m pip install torch transformers tokenizers safetensors
  python3 scripts/refs/make_family_refs.py tests/data/families
"""
import json
import os
import sys

import gguf
import numpy as np
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers

VOCAB_PIECES = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
HIDDEN, FFN, HEADS, KV_HEADS, HEAD_DIM = 32, 64, 2, 1, 64


def make_tokenizer(path):
    """SentencePiece-style BPE: spaces as U+2581, byte fallback, letters and a few merges."""
    vocab = {p: i for i, p in enumerate(VOCAB_PIECES)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for ch in "\u2581abcdefghijklmnopqrstuvwxyzTO.,":
        vocab[ch] = len(vocab)
    merges = [("\u2581", "t"), ("h", "e"), ("\u2581t", "he"), ("i", "n"), ("o", "n"), ("a", "n")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True, unk_token="<unk>"))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens(VOCAB_PIECES)
    tok.save(path)
    return len(vocab)


def family_config(family, vocab):
    common = dict(vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=FFN, num_attention_heads=HEADS,
                  num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM, max_position_embeddings=64, rms_norm_eps=1e-6,
                  tie_word_embeddings=True, bos_token_id=2, eos_token_id=1, pad_token_id=0)
    if family == "qwen3":
        return transformers.Qwen3Config(num_hidden_layers=2, rope_parameters={"rope_type": "default", "rope_theta": 1e6},
                                        attention_bias=False, **common)
    if family == "qwen2":  # Qwen2.5 layout: q/k/v biases, tied embeddings
        return transformers.Qwen2Config(num_hidden_layers=2, rope_parameters={"rope_type": "default", "rope_theta": 1e6},
                                        **common)
    if family == "gemma3":
        # Layers 0-1 local (window 6, base 1e4), 2 global (base 1e6); query scale from 48, not head_dim.
        return transformers.Gemma3TextConfig(
            num_hidden_layers=3, layer_types=["sliding_attention", "sliding_attention", "full_attention"],
            sliding_window=6, query_pre_attn_scalar=48, hidden_activation="gelu_pytorch_tanh",
            rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                             "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}},
            final_logit_softcapping=None, attn_logit_softcapping=None, **common)
    raise ValueError(family)


def model_class(family):
    return {"qwen3": transformers.Qwen3ForCausalLM, "qwen2": transformers.Qwen2ForCausalLM,
            "gemma3": transformers.Gemma3ForCausalLM}[family]


def randomize(model, family, gen):
    """Wide random weights; RMSNorm weights near their neutral value (Gemma stores w of 1 + w)."""
    neutral = 0.0 if family == "gemma3" else 1.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(neutral + 0.3 * (torch.rand(p.shape, generator=gen) * 2 - 1))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=gen))
        # BF16-representable values, so the BF16 file holds exactly what the f32 run used.
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))


def write_qwen_gguf(family, model, config, tokenizer_json, path):
    """llama.cpp's layout of a Qwen3 or Qwen2 model (its names from gguf-py), tied embeddings."""
    arch = gguf.MODEL_ARCH.QWEN3 if family == "qwen3" else gguf.MODEL_ARCH.QWEN2
    w = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[arch])
    w.add_context_length(config.max_position_embeddings)
    w.add_embedding_length(config.hidden_size)
    w.add_block_count(config.num_hidden_layers)
    w.add_feed_forward_length(config.intermediate_size)
    w.add_head_count(config.num_attention_heads)
    w.add_head_count_kv(config.num_key_value_heads)
    w.add_key_length(config.head_dim)
    w.add_value_length(config.head_dim)
    w.add_rope_freq_base(config.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(config.rms_norm_eps)
    with open(tokenizer_json) as f:
        tok = json.load(f)
    pieces = sorted(tok["model"]["vocab"].items(), key=lambda kv: kv[1])
    special = {a["content"] for a in tok["added_tokens"]}
    w.add_tokenizer_model("llama")
    w.add_token_list([p for p, _ in pieces])
    w.add_token_scores([0.0] * len(pieces))
    w.add_token_types([3 if p in special else 6 if p.startswith("<0x") else 1 for p, _ in pieces])
    w.add_bos_token_id(config.bos_token_id)
    w.add_eos_token_id(config.eos_token_id)
    w.add_add_space_prefix(False)
    names = {"model.embed_tokens.weight": gguf.MODEL_TENSOR.TOKEN_EMBD, "model.norm.weight": gguf.MODEL_TENSOR.OUTPUT_NORM}
    per_layer = {"input_layernorm": gguf.MODEL_TENSOR.ATTN_NORM, "post_attention_layernorm": gguf.MODEL_TENSOR.FFN_NORM,
                 "self_attn.q_proj": gguf.MODEL_TENSOR.ATTN_Q, "self_attn.k_proj": gguf.MODEL_TENSOR.ATTN_K,
                 "self_attn.v_proj": gguf.MODEL_TENSOR.ATTN_V, "self_attn.o_proj": gguf.MODEL_TENSOR.ATTN_OUT,
                 "self_attn.q_norm": gguf.MODEL_TENSOR.ATTN_Q_NORM, "self_attn.k_norm": gguf.MODEL_TENSOR.ATTN_K_NORM,
                 "mlp.gate_proj": gguf.MODEL_TENSOR.FFN_GATE, "mlp.up_proj": gguf.MODEL_TENSOR.FFN_UP,
                 "mlp.down_proj": gguf.MODEL_TENSOR.FFN_DOWN}
    for name, t in model.state_dict().items():
        if name == "lm_head.weight":  # tied: llama.cpp writes no output tensor
            continue
        if name in names:
            key = gguf.TENSOR_NAMES[names[name]]
        else:
            _, _, layer, part = name.split(".", 3)
            part, kind = part.rsplit(".", 1)  # kind: weight or bias
            key = gguf.TENSOR_NAMES[per_layer[part]].format(bid=int(layer))
            if kind == "bias":
                w.add_tensor(key + ".bias", t.to(torch.float32).numpy())
                continue
        t = t.to(torch.float32)
        if t.dim() == 1:
            w.add_tensor(key + ".weight", t.numpy())
        else:
            bits = t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
            w.add_tensor(key + ".weight", bits, raw_shape=bits.shape, raw_dtype=gguf.GGMLQuantizationType.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def forward_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].to(torch.float32)


def main(out_root):
    for family, seed in (("qwen3", 1), ("qwen2", 2), ("gemma3", 3)):
        out = os.path.join(out_root, family)
        os.makedirs(out, exist_ok=True)
        vocab = make_tokenizer(os.path.join(out, "tokenizer.json"))
        config = family_config(family, vocab)
        config._attn_implementation = "eager"
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = model_class(family)(config).to(torch.float32).eval()
        randomize(model, family, gen)
        ids = [2] + torch.randint(6, vocab, (19,), generator=gen).tolist()  # BOS + 19 > window 6
        logits = forward_logits(model, ids)
        prompt = ids[:5]
        greedy, margin, seq = [], float("inf"), list(prompt)
        for _ in range(16):
            last = forward_logits(model, seq)[-1]
            top2 = torch.topk(last, 2).values
            margin = min(margin, float(top2[0] - top2[1]))
            nxt = int(torch.argmax(last))
            greedy.append(nxt)
            seq.append(nxt)
        if margin < 1e-3:
            sys.exit(f"{family}: greedy near-tie (margin {margin}); pick another seed")
        if family in ("qwen3", "qwen2"):
            write_qwen_gguf(family, model, config, os.path.join(out, "tokenizer.json"), out + ".gguf")
        model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
        for extra in ("generation_config.json",):
            if os.path.exists(os.path.join(out, extra)):
                os.remove(os.path.join(out, extra))
        refs = {"family": family, "transformers": transformers.__version__, "torch": torch.__version__,
                "seed": seed, "token_ids": ids, "logits": [round(float(v), 6) for v in logits.flatten()],
                "prompt_ids": prompt, "greedy_ids": greedy, "min_greedy_margin": margin}
        with open(os.path.join(out, "refs.json"), "w") as f:
            json.dump(refs, f, separators=(",", ":"))
        print(f"{family}: vocab {vocab}, greedy {greedy}, margin {margin:.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/families")
