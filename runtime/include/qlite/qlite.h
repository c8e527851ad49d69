/* qlite: run quantized Llama-family models on edge CPUs (and NVIDIA GPUs). C99 API.
 *
 * Conventions
 * - Every function returns a qlite_status (QLITE_OK = 0) unless it is a getter; on error
 *   qlite_last_error() returns a message for the calling thread.
 * - Handles are opaque. Null pointers are rejected with QLITE_ERR_INVALID_ARGUMENT.
 * - Thread safety: a qlite_model is immutable after opening and may be shared by any number
 *   of sessions on different threads. A qlite_session must be used by one thread at a time.
 * - No exceptions cross this API.
 *
 * Handles: lifetimes and ownership
 * - qlite_model: owned by the caller from a successful qlite_model_open[_memory] until
 *   qlite_model_free. Free every session of a model before the model. A model freed while
 *   sessions still use it is dead at once (calls with it fail) and its memory is released with
 *   its last session; those sessions fail every call with QLITE_ERR_INVALID_ARGUMENT until
 *   they are freed. A model from qlite_model_open_memory reads the caller's buffer until then.
 * - qlite_session: owned by the caller until qlite_session_free. A caller-supplied buffer
 *   (qlite_session_params.buffer) must stay valid and untouched until then.
 * - qlite_adapter: owned by the caller until qlite_adapter_free; it does not refer to its base
 *   model, and sessions keep merged copies, so it may be freed right after
 *   qlite_session_set_adapters.
 * - Every call checks its handle against the library's table of live handles: a freed handle,
 *   a pointer this library never returned, or a handle of another kind gives
 *   QLITE_ERR_INVALID_ARGUMENT and is never dereferenced. Freeing such a handle (a double
 *   free) is a no-op that sets qlite_last_error(). Freeing NULL is a no-op. The check cannot
 *   tell a stale handle from a new one the allocator placed at the same address, and does not
 *   make a handle safe to free on one thread while another thread is using it.
 *
 * Structs that can grow (ABI)
 * - Every params, info, estimate and stats struct starts with struct_size: the sizeof() the
 *   caller was compiled with. Fields are only ever appended. The library reads the fields an
 *   older caller's struct has and gives the rest their defaults; it writes only struct_size
 *   bytes of an out struct. A caller built against a newer header may pass a larger struct:
 *   its unknown fields must be zero, else QLITE_ERR_UNSUPPORTED names the first one set.
 * - The functions that fill or take such structs are static inline wrappers below (e.g.
 *   qlite_session_default_params) around an exported *_sized entry point that receives the
 *   caller's sizeof(), so code that uses the wrappers never sets struct_size by hand. Start
 *   every params struct from its *_default_params() wrapper; a struct_size of 0 (a struct
 *   filled by hand) is refused with QLITE_ERR_INVALID_ARGUMENT.
 * - qlite_sampler_params is nested in qlite_session_params. When it grows, the library keeps
 *   the older session layout and converts by struct_size (runtime/src/abi.h), so the rule
 *   above holds for both. qlite_chat_message, an array element, never grows.
 */
#ifndef QLITE_QLITE_H_
#define QLITE_QLITE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "qlite/qlite_version.h"

#define QLITE_API_VERSION_MAJOR QLITE_VERSION_MAJOR
#define QLITE_API_VERSION_MINOR QLITE_VERSION_MINOR
#define QLITE_API_VERSION ((QLITE_API_VERSION_MAJOR << 16) | QLITE_API_VERSION_MINOR)

#if defined(_WIN32)
#define QLITE_EXPORT __declspec(dllexport)
#else
#define QLITE_EXPORT __attribute__((visibility("default")))
#endif

typedef enum qlite_status {
  QLITE_OK = 0,
  QLITE_ERR_INVALID_ARGUMENT = 1, /* null pointer, out-of-range parameter */
  QLITE_ERR_IO = 2,               /* file cannot be opened, mapped or read */
  QLITE_ERR_FORMAT = 3,           /* corrupt, truncated or unsupported model/adapter file */
  QLITE_ERR_UNSUPPORTED = 4,      /* valid file, feature not supported by this build */
  QLITE_ERR_OUT_OF_MEMORY = 5,    /* memory budget or buffer too small (message has the breakdown) */
  QLITE_ERR_CONTEXT = 6,          /* prompt does not fit the window / position limits */
  QLITE_ERR_MISMATCH = 7,         /* adapter does not belong to this base model */
  QLITE_ERR_CANCELLED = 8,        /* a callback asked to stop */
  QLITE_ERR_INTERNAL = 9
} qlite_status;

/* KV cache element types. Q8: int8 with one scale per position and head. Q4: 4-bit groups of
   32 (16 or 8 for small heads) after a Hadamard rotation of each head (head_dim a multiple
   of 8, at most 512): a quarter of f16's bytes plus a 4 B scale per group. */
typedef enum qlite_kv_type { QLITE_KV_F32 = 0, QLITE_KV_F16 = 1, QLITE_KV_Q8 = 2, QLITE_KV_Q4 = 3 } qlite_kv_type;

/* Where a model's weights live and its sessions run. */
typedef enum qlite_device {
  QLITE_DEVICE_CPU = 0, /* this library's own kernels (the default) */
  QLITE_DEVICE_CUDA = 1 /* one NVIDIA GPU: needs a build with -DQLITE_CUDA=ON */
} qlite_device;

typedef struct qlite_model qlite_model;
typedef struct qlite_session qlite_session;
typedef struct qlite_adapter qlite_adapter;

/* Library */
QLITE_EXPORT uint32_t qlite_api_version(void);
QLITE_EXPORT const char* qlite_version_string(void);
QLITE_EXPORT const char* qlite_status_string(qlite_status status);
/* Message for the last failed call on this thread ("" if none). Valid until the next call. */
QLITE_EXPORT const char* qlite_last_error(void);

/* Devices of one kind this process can use: 1 for QLITE_DEVICE_CPU; for QLITE_DEVICE_CUDA the
 * number of usable GPUs (0 when this build has no CUDA backend or the machine no GPU/driver). */
QLITE_EXPORT int32_t qlite_device_count(qlite_device device);

/* Model */
typedef struct qlite_model_params {
  uint32_t struct_size;  /* sizeof(qlite_model_params) as the caller compiled it (see ABI above) */
  int verify_checksums; /* 1: verify every tensor checksum at open (reads the whole file) */
  int use_mmap;         /* 1 (default): map the file; 0: read it into memory */
  /* QLITE_DEVICE_CUDA: every tensor is uploaded to GPU device_index at open and the model's
   * sessions run there (same file, KV types, windows, sinks and adapters as on the CPU; the
   * tokenizer and sampler stay on the host). QLITE_ERR_UNSUPPORTED, with the reason, when the
   * build or the machine has no such GPU or the GPU backend cannot run the model. */
  qlite_device device;
  int32_t device_index;
  /* Where the model's own host memory comes from (tensor table, tokenizer indexes, layer
   * views, RoPE tables, the model object): NULL (default) = the heap; else buffer_size bytes
   * the caller owns, which must outlive the model and stay untouched while it lives
   * (qlite_model_free does not free it). With a buffer, qlite_model_open_memory calls no
   * system allocator on the CPU. Too small: QLITE_ERR_OUT_OF_MEMORY, the message saying how
   * many bytes it needs; qlite_model_memory gives that size up front. */
  void* buffer;
  size_t buffer_size;
} qlite_model_params;

QLITE_EXPORT void qlite_model_default_params_sized(qlite_model_params* out, size_t struct_size);
static inline qlite_model_params qlite_model_default_params(void) {
  qlite_model_params p;
  qlite_model_default_params_sized(&p, sizeof p);
  return p;
}
QLITE_EXPORT qlite_status qlite_model_open(const char* path, const qlite_model_params* params,
                                           qlite_model** out_model);
/* Uses the caller's buffer in place (it must outlive the model and stay unchanged). */
QLITE_EXPORT qlite_status qlite_model_open_memory(const void* data, size_t size,
                                                  const qlite_model_params* params,
                                                  qlite_model** out_model);
QLITE_EXPORT void qlite_model_free(qlite_model* model);
/* Bytes qlite_model_params.buffer must hold to open data/size with params: measured by an
 * open on the heap (the file is validated as by qlite_model_open_memory; buffer_size is
 * ignored). Exact for params->buffer's address when it is set (the buffer is aligned to 64
 * bytes inside), else enough for any address (63 bytes more at most). */
QLITE_EXPORT qlite_status qlite_model_memory(const void* data, size_t size, const qlite_model_params* params,
                                             uint64_t* out_bytes);

typedef struct qlite_model_info {
  uint32_t struct_size;
  uint32_t dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim, vocab_size, context_length;
  uint32_t sliding_window; /* 0 = full attention */
  int32_t bos_id, eos_id;
  uint64_t weight_bytes;   /* bytes of tensor data */
  uint64_t n_params;
  int has_chat_template;
  qlite_device device;     /* where the model runs */
  uint64_t device_bytes;   /* GPU memory its weights take (0 on the CPU) */
  uint64_t decode_bytes;   /* weight bytes one decode token reads where the model runs (every
                              layer tensor, the output head, one embedding row) */
  uint32_t n_slow_layout_tensors; /* weights stored in a layout this CPU reads through an
                                     unpacking copy (interleave16 where its kernel is missing):
                                     convert with --layout rowmajor for files that travel */
} qlite_model_info;
QLITE_EXPORT qlite_status qlite_model_get_info_sized(const qlite_model* model, qlite_model_info* out_info,
                                                     size_t struct_size);
static inline qlite_status qlite_model_get_info(const qlite_model* model, qlite_model_info* out_info) {
  return qlite_model_get_info_sized(model, out_info, sizeof *out_info);
}

/* Tokenizer (owned by the model; thread-safe) */
QLITE_EXPORT qlite_status qlite_tokenize(const qlite_model* model, const char* text, size_t text_len,
                                         int add_bos, int32_t* out_tokens, size_t capacity,
                                         size_t* out_count);
/* Writes the bytes of one token's piece (raw bytes, may be part of a UTF-8 character). */
QLITE_EXPORT qlite_status qlite_token_to_piece(const qlite_model* model, int32_t token, char* buf,
                                               size_t capacity, size_t* out_len);

/* Session */
/* Nested in qlite_session_params, whose struct_size covers it (see ABI above). */
typedef struct qlite_sampler_params {
  float temperature;        /* 0 = greedy */
  int32_t top_k;            /* 0 = off */
  float top_p;              /* 1 = off */
  float min_p;              /* 0 = off */
  float repeat_penalty;     /* 1 = off */
  int32_t repeat_last_n;    /* tokens considered by the penalty */
  uint64_t seed;
} qlite_sampler_params;

typedef struct qlite_session_params {
  uint32_t struct_size;
  uint32_t n_threads;        /* 0 = automatic: one per performance core (see cpu_mask) */
  uint32_t window;           /* KV positions kept; 0 = model's sliding window or context length */
  uint32_t n_sink_tokens;    /* attention sinks kept when the window slides; UINT32_MAX = automatic */
  qlite_kv_type kv_type;
  uint32_t max_batch;        /* tokens per prefill chunk (GEMM batch) */
  uint64_t memory_budget;    /* bytes; 0 = no limit (session reserves exactly what it needs) */
  void* buffer;              /* caller-owned memory for all session state (firmware), or NULL */
  size_t buffer_size;
  qlite_sampler_params sampler;
  uint64_t adapter_memory;   /* bytes reserved for LoRA-merged tensor copies (qlite_adapters_memory); 0 = none */
  /* CPUs the session's worker threads are pinned to (bit i = CPU i; Linux and Android), round
   * robin; n_threads 0 then means one thread per CPU in the mask. 0 = automatic: on a CPU with
   * cores of different maximum frequency (big.LITTLE) the workers are pinned to the fastest,
   * elsewhere they are not pinned. The calling thread runs work too and is never pinned. */
  uint64_t cpu_mask;
} qlite_session_params;

QLITE_EXPORT void qlite_session_default_params_sized(qlite_session_params* out, size_t struct_size);
static inline qlite_session_params qlite_session_default_params(void) {
  qlite_session_params p;
  qlite_session_default_params_sized(&p, sizeof p);
  return p;
}

/* Host memory, except where a field says otherwise. On a QLITE_DEVICE_CUDA model kv_cache and
 * activations are GPU memory, counted in `device` and not in session_total, and the mapped
 * weights are read once at open (weights_resident 0; the whole file when use_mmap is 0). */
typedef struct qlite_memory_estimate {
  uint32_t struct_size;
  uint64_t weights_mapped;   /* bytes of the model file's tensors (mapped, shared) */
  uint64_t weights_resident; /* bytes expected resident (all of them, once touched) */
  uint64_t kv_cache;
  uint64_t activations;
  uint64_t scratch;
  uint64_t adapters;
  uint64_t session_total;    /* host memory qlite_session_create reserves */
  uint64_t total;            /* session_total + weights_resident + model_host */
  uint64_t device;           /* GPU memory: the model's weights + this session's kv_cache and activations */
  uint64_t model_host;       /* the model's own host memory (what qlite_model_memory gives) */
} qlite_memory_estimate;

QLITE_EXPORT qlite_status qlite_estimate_memory_sized(const qlite_model* model,
                                                      const qlite_session_params* params,
                                                      qlite_memory_estimate* out_estimate, size_t struct_size);
static inline qlite_status qlite_estimate_memory(const qlite_model* model, const qlite_session_params* params,
                                                 qlite_memory_estimate* out_estimate) {
  return qlite_estimate_memory_sized(model, params, out_estimate, sizeof *out_estimate);
}
/* Human-readable breakdown into buf (always NUL-terminated when capacity > 0). */
QLITE_EXPORT qlite_status qlite_format_memory_estimate(const qlite_memory_estimate* estimate,
                                                       char* buf, size_t capacity);

QLITE_EXPORT qlite_status qlite_session_create(const qlite_model* model,
                                               const qlite_session_params* params,
                                               qlite_session** out_session);
QLITE_EXPORT void qlite_session_free(qlite_session* session);
/* What a session resolved its automatic parameters to, and where it stands. */
typedef struct qlite_session_info {
  uint32_t struct_size;
  uint32_t n_threads;      /* threads running its work (the caller's included) */
  uint64_t cpu_mask;       /* CPUs its workers are pinned to; 0 = not pinned */
  uint32_t window, n_sink_tokens;
  qlite_kv_type kv_type;
  uint64_t n_past;         /* positions fed since creation or the last reset */
} qlite_session_info;
QLITE_EXPORT qlite_status qlite_session_get_info_sized(const qlite_session* session, qlite_session_info* out_info,
                                                       size_t struct_size);
static inline qlite_status qlite_session_get_info(const qlite_session* session, qlite_session_info* out_info) {
  return qlite_session_get_info_sized(session, out_info, sizeof *out_info);
}
/* Forget all positions (KV cache) and sampler history. */
QLITE_EXPORT qlite_status qlite_session_reset(qlite_session* session);

/* Feed tokens (batched, chunked to the window); logits of the last one become current. */
QLITE_EXPORT qlite_status qlite_prefill(qlite_session* session, const int32_t* tokens, size_t n_tokens);
/* Feed one token; logits become current. */
QLITE_EXPORT qlite_status qlite_decode(qlite_session* session, int32_t token);
/* Current logits (vocab_size floats, owned by the session, valid until the next call). */
QLITE_EXPORT qlite_status qlite_get_logits(qlite_session* session, const float** out_logits);
/* Sample from the current logits with the session's sampler. */
QLITE_EXPORT qlite_status qlite_sample(qlite_session* session, int32_t* out_token);

/* Streaming callback: piece bytes (whole UTF-8 characters only); return nonzero to stop. */
typedef int (*qlite_token_callback)(void* user_data, int32_t token, const char* piece, size_t piece_len);

typedef struct qlite_generate_stats {
  uint32_t struct_size;
  uint32_t n_prompt_tokens, n_generated;
  double prefill_seconds, decode_seconds;
} qlite_generate_stats;

/* Tokenize prompt (with BOS), prefill, then sample up to max_tokens, streaming each piece.
 * Stops at EOS when stop_at_eos is set. */
QLITE_EXPORT qlite_status qlite_generate_sized(qlite_session* session, const char* prompt, uint32_t max_tokens,
                                               int stop_at_eos, qlite_token_callback callback, void* user_data,
                                               qlite_generate_stats* out_stats, size_t struct_size);
static inline qlite_status qlite_generate(qlite_session* session, const char* prompt, uint32_t max_tokens,
                                          int stop_at_eos, qlite_token_callback callback, void* user_data,
                                          qlite_generate_stats* out_stats) {
  return qlite_generate_sized(session, prompt, max_tokens, stop_at_eos, callback, user_data, out_stats,
                              sizeof *out_stats);
}

/* LoRA adapters merged at load time (format/LORA.md). qlite_adapter_open reads a .qla file
 * (bound to `base` by fingerprint: another base gives QLITE_ERR_MISMATCH), a PEFT folder or a
 * llama.cpp GGUF LoRA, with rows in `base`'s order; it keeps no reference to `base` and can be
 * applied to sessions of any model with the same fingerprint (e.g. other quantizations). */
QLITE_EXPORT qlite_status qlite_adapter_open(const qlite_model* base, const char* path, qlite_adapter** out_adapter);
QLITE_EXPORT void qlite_adapter_free(qlite_adapter* adapter);
/* Replace the session's adapters (NULL/0 = base model) without reopening the base: the
 * adapted tensors are dequantized, merged (scales NULL = all 1) and requantized with their
 * own scheme into the session's adapter memory, and the KV cache is reset. On error the
 * session runs the base model. Never called on the token path; it allocates temporaries. */
QLITE_EXPORT qlite_status qlite_session_set_adapters(qlite_session* session, const qlite_adapter* const* adapters,
                                                     const float* scales, size_t n_adapters);
/* Bytes of merged tensor copies a session needs for this set of adapters (the union of the
 * tensors they adapt); reserve the largest set a session will use in adapter_memory. */
QLITE_EXPORT qlite_status qlite_adapters_memory(const qlite_model* model, const qlite_adapter* const* adapters,
                                                size_t n_adapters, uint64_t* out_bytes);

/* Chat templates. A conversation becomes the model's prompt text through the Jinja chat
 * template stored in the model file (GGUF tokenizer.chat_template, or the Hugging Face folder's
 * tokenizer_config.json / chat_template.jinja), rendered as transformers' apply_chat_template
 * renders it (bos_token and eos_token are the texts of the model's BOS and EOS tokens). A file
 * without a template gets a fallback chosen by its vocabulary (qlite_chat_format).
 * Ownership: the caller owns `messages`, the strings they point to and `buf`; nothing is kept
 * after a call returns, and calls on one model may run on several threads at once.
 * Tokenize the text with add_bos = 0 when it already starts with the BOS token's text (the
 * templates that print bos_token do), else as the model's tokenizer says. */
typedef struct qlite_chat_message {
  const char* role;    /* "system", "user", "assistant", ...: what the template accepts (NUL-terminated) */
  const char* content; /* UTF-8 text (NUL-terminated) */
} qlite_chat_message;

typedef enum qlite_chat_format {
  QLITE_CHAT_FORMAT_TEMPLATE = 0, /* the model file's own template */
  QLITE_CHAT_FORMAT_CHATML = 1,   /* none stored; the vocabulary has <|im_start|> and <|im_end|>: ChatML */
  QLITE_CHAT_FORMAT_GEMMA = 2,    /* none stored; <start_of_turn> and <end_of_turn>: Gemma 3's template */
  QLITE_CHAT_FORMAT_PLAIN = 3     /* none stored, neither: "User: ..." / "Assistant: ..." lines */
} qlite_chat_format;

/* Which of the above qlite_chat_apply_template uses for `model`. */
QLITE_EXPORT qlite_status qlite_chat_get_format(const qlite_model* model, qlite_chat_format* out_format);

/* Renders messages[0..n_messages) (n_messages >= 1), followed by the assistant turn's opening
 * when add_generation_prompt is nonzero. Like snprintf: *out_len receives the text's length
 * (without the NUL) whenever the template renders; the text and a NUL are written when
 * capacity > *out_len. buf NULL with capacity 0 asks for the size (QLITE_OK); a buf too small
 * gives QLITE_ERR_OUT_OF_MEMORY and holds "" (capacity > 0).
 * Errors: QLITE_ERR_INVALID_ARGUMENT when the template rejects the conversation (its
 * raise_exception(), e.g. a system message for Gemma 2 or roles that do not alternate);
 * QLITE_ERR_FORMAT when the template cannot be parsed, fails, or passes a hard limit (output
 * of 1 MiB plus 4x the messages' bytes, steps, nesting); the message names line and column. */
QLITE_EXPORT qlite_status qlite_chat_apply_template(const qlite_model* model, const qlite_chat_message* messages,
                                                    size_t n_messages, int add_generation_prompt, char* buf,
                                                    size_t capacity, size_t* out_len);

/* The same with the caller's template text (template_len bytes, e.g. a --chat-template file),
 * no model needed; bos_token / eos_token may be NULL (then undefined in the template). */
QLITE_EXPORT qlite_status qlite_chat_render_template(const char* template_text, size_t template_len,
                                                     const char* bos_token, const char* eos_token,
                                                     const qlite_chat_message* messages, size_t n_messages,
                                                     int add_generation_prompt, char* buf, size_t capacity,
                                                     size_t* out_len);

#ifdef __cplusplus
}
#endif
#endif /* QLITE_QLITE_H_ */
