#!/usr/bin/env python3
"""Tiny random-weight models of seven families and their reference outputs, made by Hugging Face
`transformers` itself (the independent implementation qlite is checked against): Qwen3, Qwen2.5,
Gemma 3, Llama 3.2 (llama3 RoPE scaling), Gemma 2 (logit soft-capping), Phi-4-mini style Phi3
(fused projections, partial LongRoPE) and SmolLM3 (a no-RoPE layer).

For each family it writes tests/data/families/<family>/: config.json and model.safetensors
(BF16 storage: exact in f32, half the bytes), a small SentencePiece-style BPE tokenizer.json
with byte fallback (the tokenizer only has to load: the tests feed ids), and refs.json. For every
family but Gemma 3 it also writes <family>.gguf beside the folder: the same weights in the layout
llama.cpp's convert_hf_to_gguf.py writes (gguf-py names and arch keys; Llama and SmolLM3 q/k rows
permuted for interleaved RoPE, Gemma 2 norms stored as 1 + w, Phi3 qkv and gate|up kept fused,
Llama's rope_freqs and Phi3's rope_factors_long/short tensors; BF16 matrices, F32 norms, biases
and factors), with the tokenizer as a "llama" SentencePiece vocabulary, so the GGUF importer is
checked against the same references. refs.json:
  token_ids        a fixed id sequence (BOS + 19) longer than the sliding windows
  logits           teacher-forced logits of every position, [len(token_ids)][vocab] (f32 eager run)
  prompt_ids, greedy_ids   greedy continuation (argmax of a full forward per step)
  min_greedy_margin        smallest top-1/top-2 logit gap along the greedy run
Phi3 also: short_token_ids/short_logits (the first 12 ids: transformers picks the short LongRoPE
factors while max position + 1 <= original_max_position_embeddings 16, the long ones above),
attention_factor (sqrt(1 + ln(64/16) / ln 16), scales cos and sin of the rotated dims); its
greedy prompt is 17 ids, so every greedy step runs on the long factors. Weights are drawn wide
enough (std 0.15, norms around their neutral value +-0.3) that every part of the layer moves the
logits; the run stops if a greedy step is a near-tie. The run prints, per new family, how much its
distinctive feature moves the logits (llama3 scaling, soft-caps, short vs long factors, NoPE layer).

Heavy tools stay out of the test run: only what it writes is committed.
  python3 -m pip install torch transformers tokenizers safetensors gguf
  python3 scripts/refs/make_family_refs.py tests/data/families            # every family
  python3 scripts/refs/make_family_refs.py tests/data/families llama phi3  # only these
"""
import copy
import json
import math
import os
import sys

import gguf
import numpy as np
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers

VOCAB_PIECES = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
HIDDEN, FFN, HEADS, KV_HEADS, HEAD_DIM = 32, 64, 2, 1, 64
FAMILY_SEEDS = {"qwen3": 1, "qwen2": 2, "gemma3": 3, "llama": 4, "gemma2": 5, "phi3": 6, "smollm3": 7}
# Phi3: rotary dim 12 of head_dim 16 (Phi3 and llama.cpp's phi3 take head_dim = hidden / heads).
PHI3_SHORT = [1.0, 1.25, 1.1, 1.6, 1.35, 2.0]
PHI3_LONG = [2.0, 3.5, 5.0, 7.5, 9.0, 12.0]
PHI3_ORIGINAL_CTX = 16


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
    if family == "llama":
        # Llama 3.2: llama3 frequency scaling; original context 16 so it bends most of the 32 frequencies.
        return transformers.LlamaConfig(
            num_hidden_layers=2, attention_bias=False, mlp_bias=False,
            rope_parameters={"rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 16}, **common)
    if family == "gemma2":
        # 4 layers (even ones sliding, window 6) at head_dim 32 / ffn 32 to stay small; small caps so
        # tanh bends. Query scale 1/sqrt(32): llama.cpp's gemma2 takes 1/sqrt(head_dim) (the GGUF has no
        # query_pre_attn_scalar key), so the GGUF describes the same model only at head_dim.
        return transformers.Gemma2Config(
            num_hidden_layers=4, sliding_window=6, query_pre_attn_scalar=32, hidden_activation="gelu_pytorch_tanh",
            rope_parameters={"rope_type": "default", "rope_theta": 1e4}, attn_logit_softcapping=5.0,
            final_logit_softcapping=3.0, **{**common, "head_dim": 32, "intermediate_size": 32})
    if family == "phi3":
        # Phi-4-mini style: fused qkv_proj and gate_up_proj, partial LongRoPE, untied lm_head. Phi3 has no
        # head_dim of its own (hidden / heads = 16; rotary 12 = 6 factors).
        phi = {k: v for k, v in common.items() if k != "head_dim"}
        phi["tie_word_embeddings"] = False
        return transformers.Phi3Config(
            num_hidden_layers=2, original_max_position_embeddings=PHI3_ORIGINAL_CTX, sliding_window=None,
            rope_parameters={"rope_type": "longrope", "rope_theta": 1e4, "partial_rotary_factor": 0.75,
                             "short_factor": PHI3_SHORT, "long_factor": PHI3_LONG,
                             "original_max_position_embeddings": PHI3_ORIGINAL_CTX}, **phi)
    if family == "smollm3":
        # no_rope_layers[i] == 1 means layer i uses RoPE: default interval 4 -> [1, 1, 1, 0] (layer 3 NoPE).
        return transformers.SmolLM3Config(
            num_hidden_layers=4, no_rope_layer_interval=4, use_sliding_window=False, sliding_window=None,
            attention_bias=False, rope_parameters={"rope_type": "default", "rope_theta": 2e6},
            **{**common, "head_dim": 32, "intermediate_size": 32})
    raise ValueError(family)


def model_class(family):
    return {"qwen3": transformers.Qwen3ForCausalLM, "qwen2": transformers.Qwen2ForCausalLM,
            "gemma3": transformers.Gemma3ForCausalLM, "llama": transformers.LlamaForCausalLM,
            "gemma2": transformers.Gemma2ForCausalLM, "phi3": transformers.Phi3ForCausalLM,
            "smollm3": transformers.SmolLM3ForCausalLM}[family]


def randomize(model, family, gen):
    """Wide random weights; RMSNorm weights near their neutral value (Gemma stores w of 1 + w)."""
    neutral = 0.0 if family in ("gemma3", "gemma2") else 1.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(neutral + 0.3 * (torch.rand(p.shape, generator=gen) * 2 - 1))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=gen))
        # BF16-representable values, so the BF16 file holds exactly what the f32 run used.
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))


GGUF_ARCH = {"qwen3": gguf.MODEL_ARCH.QWEN3, "qwen2": gguf.MODEL_ARCH.QWEN2, "llama": gguf.MODEL_ARCH.LLAMA,
             "gemma2": gguf.MODEL_ARCH.GEMMA2, "phi3": gguf.MODEL_ARCH.PHI3, "smollm3": gguf.MODEL_ARCH.SMOLLM3}


def permute_rows(weights, n_head, n_head_kv):
    """llama.cpp's LlamaModel.permute: HF's rotate-half q/k rows to interleaved (GGML "normal") RoPE pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def llama3_rope_factors(rope):
    """llama.cpp's LlamaModel.generate_extra_tensors: per-frequency divisors of the llama3 scaling."""
    base, dim = rope["rope_theta"], HEAD_DIM
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old_ctx = rope["original_max_position_embeddings"]
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < old_ctx / high:
            out.append(1)
        elif wavelen > old_ctx / low:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(out, dtype=torch.float32)


def phi3_attention_factor(config):
    scale = config.max_position_embeddings / config.rope_parameters["original_max_position_embeddings"]
    orig = config.rope_parameters["original_max_position_embeddings"]
    return math.sqrt(1 + math.log(scale) / math.log(orig)) if scale > 1.0 else 1.0


def write_hparams(family, config, w):
    """The arch keys llama.cpp's converter writes for the family (general.* and file_type left out)."""
    if family in ("qwen3", "qwen2"):
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
    elif family in ("llama", "smollm3"):  # TextModel.set_gguf_parameters + LlamaModel's two keys
        w.add_block_count(config.num_hidden_layers)
        w.add_context_length(config.max_position_embeddings)
        w.add_embedding_length(config.hidden_size)
        w.add_feed_forward_length(config.intermediate_size)
        w.add_head_count(config.num_attention_heads)
        w.add_head_count_kv(config.num_key_value_heads)
        w.add_rope_freq_base(config.rope_parameters["rope_theta"])  # llama3 scaling: no scaling keys
        w.add_layer_norm_rms_eps(config.rms_norm_eps)
        w.add_key_length(config.head_dim)
        w.add_value_length(config.head_dim)
        w.add_vocab_size(config.vocab_size)
        w.add_rope_dimension_count(config.head_dim)  # smollm3: NoPE every 4th layer is llama.cpp's constant
    elif family == "gemma2":  # Gemma2Model.set_gguf_parameters: no rope base (llama.cpp's default 1e4)
        w.add_context_length(config.max_position_embeddings)
        w.add_embedding_length(config.hidden_size)
        w.add_block_count(config.num_hidden_layers)
        w.add_feed_forward_length(config.intermediate_size)
        w.add_head_count(config.num_attention_heads)
        w.add_head_count_kv(config.num_key_value_heads)
        w.add_layer_norm_rms_eps(config.rms_norm_eps)
        w.add_key_length(config.head_dim)
        w.add_value_length(config.head_dim)
        w.add_attn_logit_softcapping(config.attn_logit_softcapping)
        w.add_final_logit_softcapping(config.final_logit_softcapping)
        w.add_sliding_window(config.sliding_window)
    elif family == "phi3":  # Phi3MiniModel.set_gguf_parameters (+ attn_factor from generate_extra_tensors)
        rope = config.rope_parameters
        w.add_context_length(config.max_position_embeddings)
        w.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
        w.add_embedding_length(config.hidden_size)
        w.add_feed_forward_length(config.intermediate_size)
        w.add_block_count(config.num_hidden_layers)
        w.add_head_count(config.num_attention_heads)
        w.add_head_count_kv(config.num_key_value_heads)
        w.add_layer_norm_rms_eps(config.rms_norm_eps)
        w.add_rope_dimension_count(int(rope["partial_rotary_factor"] * config.hidden_size) // config.num_attention_heads)
        w.add_rope_freq_base(rope["rope_theta"])
        w.add_sliding_window(config.sliding_window or 0)
        w.add_rope_scaling_attn_factors(phi3_attention_factor(config))
    else:
        raise ValueError(family)


def extra_tensors(family, config):
    """Tensors llama.cpp's converter generates (written before the model's own, as it does)."""
    if family == "llama":
        yield gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS], llama3_rope_factors(config.rope_parameters)
    if family == "phi3":
        rope = config.rope_parameters
        yield gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FACTORS_LONG], torch.tensor(rope["long_factor"], dtype=torch.float32)
        yield gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FACTORS_SHORT], torch.tensor(rope["short_factor"], dtype=torch.float32)


def write_gguf(family, model, config, tokenizer_json, path):
    """llama.cpp's layout of the model (its names from gguf-py); lm_head only when untied."""
    w = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[GGUF_ARCH[family]])
    write_hparams(family, config, w)
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
    T = gguf.MODEL_TENSOR
    names = {"model.embed_tokens.weight": T.TOKEN_EMBD, "model.norm.weight": T.OUTPUT_NORM, "lm_head.weight": T.OUTPUT}
    per_layer = {"input_layernorm": T.ATTN_NORM, "post_attention_layernorm": T.FFN_NORM,
                 "self_attn.q_proj": T.ATTN_Q, "self_attn.k_proj": T.ATTN_K,
                 "self_attn.v_proj": T.ATTN_V, "self_attn.o_proj": T.ATTN_OUT,
                 "self_attn.q_norm": T.ATTN_Q_NORM, "self_attn.k_norm": T.ATTN_K_NORM,
                 "mlp.gate_proj": T.FFN_GATE, "mlp.up_proj": T.FFN_UP, "mlp.down_proj": T.FFN_DOWN,
                 "self_attn.qkv_proj": T.ATTN_QKV, "mlp.gate_up_proj": T.FFN_UP,  # phi3: fused, rows as HF has them
                 "pre_feedforward_layernorm": T.FFN_NORM, "post_feedforward_layernorm": T.FFN_POST_NORM}
    if family == "gemma2":  # Gemma 2's post_attention_layernorm follows attention; the FFN's pre-norm is ffn_norm
        per_layer["post_attention_layernorm"] = T.ATTN_POST_NORM
    for key, t in extra_tensors(family, config):
        w.add_tensor(key + ".weight", t.numpy())
    for name, t in model.state_dict().items():
        if name == "lm_head.weight" and config.tie_word_embeddings:  # tied: llama.cpp writes no output tensor
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
        if family in ("llama", "smollm3") and name.endswith(("q_proj.weight", "k_proj.weight")):
            n_kv = config.num_attention_heads if "q_proj" in name else config.num_key_value_heads
            t = permute_rows(t, config.num_attention_heads, n_kv)
        if family == "gemma2" and name.endswith("norm.weight"):
            t = t + 1  # Gemma2Model.modify_tensors: HF's (1 + w) stored as the plain RMSNorm weight
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


def variant(family, model, config, **changes):
    """The same weights under a changed config (to show what a feature does to the logits)."""
    cfg = copy.deepcopy(config)
    for k, v in changes.items():
        setattr(cfg, k, v)
    other = model_class(family)(cfg).to(torch.float32).eval()
    other.load_state_dict(model.state_dict())
    return other


def feature_checks(family, model, config, ids, logits):
    """Print how much the family's distinctive feature moves the logits; stop if it does not."""
    def diff(other, n=len(ids)):
        return float((forward_logits(other, ids[:n]) - logits[:n]).abs().max())
    if family == "llama":
        plain = {"rope_type": "default", "rope_theta": config.rope_parameters["rope_theta"]}
        factors = llama3_rope_factors(config.rope_parameters)
        moved = diff(variant(family, model, config, rope_parameters=plain))
        print(f"  llama3 rope factors {[round(float(f), 4) for f in factors[:5]]}... ({int((factors != 1).sum())} of "
              f"{len(factors)} != 1); max |logit diff| vs unscaled RoPE: {moved:.4f}")
    elif family == "gemma2":
        raw = forward_logits(variant(family, model, config, final_logit_softcapping=None), ids)
        print(f"  max |logit| before final cap {float(raw.abs().max()):.4f}, after {float(logits.abs().max()):.4f}")
        moved = diff(variant(family, model, config, attn_logit_softcapping=None))
        print(f"  max |logit diff| without attention soft-cap: {moved:.4f}")
        print(f"  max |logit diff| with query_pre_attn_scalar 48 instead of 32: "
              f"{diff(variant(family, model, config, query_pre_attn_scalar=48)):.4f}")
    elif family == "smollm3":
        print(f"  no_rope_layers {config.no_rope_layers}")
        moved = diff(variant(family, model, config, no_rope_layers=[1] * config.num_hidden_layers))
        print(f"  max |logit diff| with RoPE in every layer: {moved:.4f}")
    else:
        return
    if moved < 1e-2:
        sys.exit(f"{family}: the feature barely moves the logits ({moved})")


def greedy_run(model, prompt, min_len=0):
    greedy, margin, seq = [], float("inf"), list(prompt)
    for _ in range(16):
        assert len(seq) > min_len
        last = forward_logits(model, seq)[-1]
        top2 = torch.topk(last, 2).values
        margin = min(margin, float(top2[0] - top2[1]))
        nxt = int(torch.argmax(last))
        greedy.append(nxt)
        seq.append(nxt)
    return greedy, margin


def make_family(out_root, family, seed):
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
    logits = forward_logits(model, ids)  # phi3: 20 > 16, long factors
    extra = {}
    if family == "phi3":
        orig = config.rope_parameters["original_max_position_embeddings"]
        short_ids = ids[:12]
        short_logits = forward_logits(model, short_ids)  # 12 <= 16: short factors
        gap = float((short_logits - logits[:12]).abs().max())
        factor = phi3_attention_factor(config)
        assert abs(model.model.rotary_emb.attention_scaling - factor) < 1e-12
        print(f"  attention_factor {factor:.6f}; max |logit diff| short vs long factors, first 12 positions: {gap:.4f}")
        if gap < 1e-2:
            sys.exit("phi3: short and long factors give the same logits")
        extra = {"short_token_ids": short_ids, "short_logits": [round(float(v), 6) for v in short_logits.flatten()],
                 "attention_factor": factor}
        prompt = ids[:17]  # every greedy forward has > 16 positions: long factors throughout
        greedy, margin = greedy_run(model, prompt, min_len=orig)
    else:
        feature_checks(family, model, config, ids, logits)
        prompt = ids[:5]
        greedy, margin = greedy_run(model, prompt)
    if margin < 1e-3:
        sys.exit(f"{family}: greedy near-tie (margin {margin}); pick another seed")
    if family in GGUF_ARCH:
        write_gguf(family, model, config, os.path.join(out, "tokenizer.json"), out + ".gguf")
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    for name in ("generation_config.json",):
        if os.path.exists(os.path.join(out, name)):
            os.remove(os.path.join(out, name))
    refs = {"family": family, "transformers": transformers.__version__, "torch": torch.__version__,
            "seed": seed, "token_ids": ids, "logits": [round(float(v), 6) for v in logits.flatten()],
            "prompt_ids": prompt, "greedy_ids": greedy, "min_greedy_margin": margin, **extra}
    with open(os.path.join(out, "refs.json"), "w") as f:
        json.dump(refs, f, separators=(",", ":"))
    print(f"{family}: vocab {vocab}, greedy {greedy}, margin {margin:.4f}")


def main(argv):
    out_root = argv[0] if argv else "tests/data/families"
    families = argv[1:] or list(FAMILY_SEEDS)
    unknown = [f for f in families if f not in FAMILY_SEEDS]
    if unknown:
        sys.exit(f"unknown families {unknown}; known: {list(FAMILY_SEEDS)}")
    for family in families:
        make_family(out_root, family, FAMILY_SEEDS[family])


if __name__ == "__main__":
    main(sys.argv[1:])
