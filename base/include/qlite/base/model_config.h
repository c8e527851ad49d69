// A model's shape and layer options: what importers produce, the file stores (schema
// ModelConfig) and the forward passes (CPU and CUDA) read. Plain C++, no FlatBuffers types:
// the enums carry the schema's values, and the reader and writer convert at the file's edge.
#pragma once
#include <cstdint>
#include <memory_resource>
#include <vector>

namespace qlite {

enum class Arch : uint8_t { Llama, Mistral, Qwen2, Qwen3, Gemma3, Gemma2, Phi3, SmolLM3, MAX = SmolLM3 };
// How RoPE pairs dimensions: Interleaved = (2i, 2i+1) (Meta/llama2.c/GGUF layout of wq/wk),
// RotateHalf = (i, i + rotary_dim/2) (Hugging Face layout).
enum class RopeStyle : uint8_t { Interleaved, RotateHalf, MAX = RotateHalf };
// LongRope (Phi-3): per-frequency factors, short or long by the session's window.
enum class RopeScaling : uint8_t { None, Linear, Llama3, LongRope, MAX = LongRope };
// The feed-forward's gated activation: SiLU = SwiGLU (Llama), GeluTanh = GeGLU (Gemma).
enum class Activation : uint8_t { SiLU, GeluTanh, MAX = GeluTanh };
const char* ArchName(Arch arch);  // the schema's name ("Llama", "Gemma3", ...); "?" out of range

// The per-layer and per-frequency arrays take their memory from a resource: a model opened
// in a caller's buffer keeps them there (the reader passes its arena); copies use the heap.
struct ModelConfig {
  ModelConfig() = default;
  explicit ModelConfig(std::pmr::memory_resource* mem)
      : sliding_window(mem), eot_ids(mem), rope_freq_factors(mem), rope_long_freq_factors(mem), no_rope(mem) {}

  Arch arch = Arch::Llama;
  uint32_t dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, ffn_dim = 0;
  uint32_t vocab_size = 0, context_length = 0;
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeStyle rope_style = RopeStyle::Interleaved;
  RopeScaling rope_scaling = RopeScaling::None;
  float rope_factor = 1.0f, rope_low_freq_factor = 1.0f, rope_high_freq_factor = 4.0f;
  uint32_t rope_original_context = 0, rotary_dim = 0;
  std::pmr::vector<uint32_t> sliding_window;  // per layer; empty = full attention
  bool tied_embeddings = false;
  bool qkv_bias = false;
  int32_t bos_id = -1, eos_id = -1, pad_id = -1;
  std::pmr::vector<int32_t> eot_ids;
  // Optional layer parts (schema ModelConfig); the defaults are the Llama layer.
  float rope_local_theta = 0.0f;  // > 0: sliding-window layers' RoPE base, unscaled
  std::pmr::vector<float> rope_freq_factors, rope_long_freq_factors;  // rotary_dim/2 divisors or empty
  float rope_attn_factor = 1.0f;  // multiplies cos/sin (LongRope)
  bool qk_norm = false, post_norms = false;
  Activation ffn_activation = Activation::SiLU;
  float embedding_scale = 1.0f;
  float attn_scale = 0.0f;  // 0 = 1/sqrt(head_dim)
  float attn_softcap = 0.0f, final_softcap = 0.0f;  // > 0: c * tanh(x / c) (Gemma 2)
  std::pmr::vector<bool> no_rope;  // per layer; empty = every layer rotates
};

}  // namespace qlite
