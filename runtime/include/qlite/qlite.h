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
/* Added to one token's logit before every draw (after the repetition penalty). */
typedef struct qlite_logit_bias {
  int32_t token;
  float bias; /* finite, or -INFINITY: the token is never sampled */
} qlite_logit_bias;

/* Nested in qlite_session_params, whose struct_size covers it (see ABI above). */
typedef struct qlite_sampler_params {
  float temperature;        /* 0 = greedy */
  int32_t top_k;            /* 0 = off */
  float top_p;              /* 1 = off */
  float min_p;              /* 0 = off */
  float repeat_penalty;     /* 1 = off */
  int32_t repeat_last_n;    /* tokens considered by the penalty */
  uint64_t seed;
  /* qlite_generate ends when its output text contains one of these (UTF-8, NUL-terminated,
   * not empty; at most 256 of at most 1024 bytes each), matched across token boundaries; the
   * stop string and what follows it are never passed to the callback. Text that could still
   * start a stop string is held back until it cannot.
   * Both arrays (and the strings) are copied into the session by qlite_session_create
   * (counted by qlite_estimate_memory): they need not outlive that call. */
  const char* const* stop_strings;
  size_t n_stop_strings;
  const qlite_logit_bias* logit_bias; /* tokens in the vocabulary; at most 65536 */
  size_t n_logit_bias;
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
  /* Bytes reserved for a grammar (qlite_session_set_grammar): its compiled rules and the
   * matcher's stacks. 0 = no grammar can be set. 256 KiB holds a tool call's JSON schema;
   * a session with grammar memory also keeps an index of the vocabulary (about 16 bytes a
   * token), counted in qlite_memory_estimate.grammar. */
  uint64_t grammar_memory;
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
  uint64_t grammar;          /* grammar_memory + the vocabulary index (part of session_total) */
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

/* Multi-turn sessions. A session remembers the token at each position whose keys its cache
 * still holds, and a hash of the tokens at positions it has evicted when the window slid.
 * Appending: qlite_prefill feeds tokens at the next positions (no BOS is ever added), and so
 * does qlite_session_append_text with text. */
QLITE_EXPORT qlite_status qlite_session_append_text(qlite_session* session, const char* text, size_t text_len);

/* Brings the session to hold exactly tokens[0..n_tokens) (n_tokens >= 1: a whole conversation,
 * BOS included if it starts with one) with the logits after the last one current, processing
 * only what it does not already hold: the longest common prefix with the positions held is
 * kept (qlite_session_seek) and the rest is fed. Once the window has slid, the kept sinks and
 * window are compared token by token and the evicted positions by their hash; when the
 * divergence lies where the session cannot go back to (an evicted position, or a seek
 * qlite_session_seek refuses), the session is reset and the whole of tokens is prefilled.
 * *out_n_reused (may be NULL) receives the positions kept (0 after such a re-prefill). The
 * sampler's random stream is not reset. */
QLITE_EXPORT qlite_status qlite_session_sync(qlite_session* session, const int32_t* tokens, size_t n_tokens,
                                             size_t* out_n_reused);
/* The same with text: tokenized with BOS when add_bos is set (as a fresh prompt would be). */
QLITE_EXPORT qlite_status qlite_session_sync_text(qlite_session* session, const char* text, size_t text_len,
                                                  int add_bos, size_t* out_n_reused);

/* Truncates the session to its first n_past positions, exactly as if only those tokens had
 * been fed (the penalty history is rebuilt; the random stream goes on); feed a token before
 * sampling again. n_past == n_past of qlite_session_get_info is a no-op, 0 is a reset.
 * QLITE_ERR_CONTEXT when the keys position n_past would attend to have been overwritten: once
 * a layer's ring has wrapped (more positions fed than it holds; a sliding-window layer's ring
 * is its window) only n_past <= its sinks can be reached, and a q4 cache's exact recent rows
 * allow going back at most 32 positions. QLITE_ERR_UNSUPPORTED on a GPU session (0 < n_past <
 * n_past now). QLITE_ERR_INVALID_ARGUMENT past the current position. */
QLITE_EXPORT qlite_status qlite_session_seek(qlite_session* session, uint64_t n_past);

/* Saved state: everything the session needs to go on exactly as if it had never stopped (KV
 * cache positions in use, positions, the remembered tokens, the sampler's random stream and
 * penalty history, the current logits). A state is bound to the model file (fingerprint and
 * weights) and adapter set, and to the session parameters that shape the cache (window,
 * sinks, kv_type, repeat_last_n); loading it into any other session gives QLITE_ERR_MISMATCH,
 * a corrupt or truncated one QLITE_ERR_FORMAT, another state version QLITE_ERR_UNSUPPORTED,
 * and the session is left unchanged. CPU sessions without a grammar only (QLITE_ERR_UNSUPPORTED
 * on a GPU or while a grammar is set: its matcher state is not saved).
 * The size depends on the positions held: ask for it right before saving. */
QLITE_EXPORT qlite_status qlite_session_state_size(const qlite_session* session, size_t* out_size);
/* Writes the state into buf (no allocation); QLITE_ERR_OUT_OF_MEMORY when capacity is less
 * than the size, which *out_size (may be NULL) receives either way. */
QLITE_EXPORT qlite_status qlite_session_save_state(const qlite_session* session, void* buf, size_t capacity,
                                                   size_t* out_size);
/* Reads a state saved by qlite_session_save_state (the buffer is not kept). */
QLITE_EXPORT qlite_status qlite_session_load_state(qlite_session* session, const void* data, size_t size);
/* The same through a file (these allocate a buffer of the state's size). */
QLITE_EXPORT qlite_status qlite_session_save_state_file(const qlite_session* session, const char* path);
QLITE_EXPORT qlite_status qlite_session_load_state_file(qlite_session* session, const char* path);

/* Streaming callback: piece bytes (whole UTF-8 characters only); return nonzero to stop. */
typedef int (*qlite_token_callback)(void* user_data, int32_t token, const char* piece, size_t piece_len);

typedef struct qlite_generate_stats {
  uint32_t struct_size;
  uint32_t n_prompt_tokens, n_generated;
  double prefill_seconds, decode_seconds;
} qlite_generate_stats;

/* Tokenize prompt, prefill, then sample up to max_tokens, streaming each piece. The prompt
 * gets BOS only when the session holds no positions; otherwise it continues the conversation
 * (prompt "" then samples from the current logits). Stops at EOS when stop_at_eos is set, and
 * at the session's stop strings (qlite_sampler_params): then the callback has received the
 * text before the stop string and QLITE_OK is returned. A piece may carry bytes held back
 * from earlier tokens (a possible stop string's start); `token` is the newest. Sampled tokens
 * are fed to the session, except an end token and the one that completes a stop string. */
QLITE_EXPORT qlite_status qlite_generate_sized(qlite_session* session, const char* prompt, uint32_t max_tokens,
                                               int stop_at_eos, qlite_token_callback callback, void* user_data,
                                               qlite_generate_stats* out_stats, size_t struct_size);
static inline qlite_status qlite_generate(qlite_session* session, const char* prompt, uint32_t max_tokens,
                                          int stop_at_eos, qlite_token_callback callback, void* user_data,
                                          qlite_generate_stats* out_stats) {
  return qlite_generate_sized(session, prompt, max_tokens, stop_at_eos, callback, user_data, out_stats,
                              sizeof *out_stats);
}

/* Constrained output. A grammar (GBNF as llama.cpp documents it, a subset: rules
 * `name ::= ...`, sequences, `|`, `( )`, "literals" with escapes, [character classes] with
 * ranges and [^negation], `.`, repetition `* + ? {m} {m,} {m,n}`, # comments; start rule
 * `root`; no left recursion) restricts what qlite_sample returns: a token is sampled as usual,
 * and when its bytes would leave the grammar every token that does is masked out and the
 * sampling repeated. End tokens (EOS, end of turn) are allowed only where the grammar can end;
 * once nothing else can follow, qlite_generate stops (and qlite_sample can only return EOS).
 * The grammar follows the tokens qlite_sample returns; no step allocates.
 * The text is compiled into the session's grammar memory (qlite_session_params.grammar_memory;
 * none or too little: QLITE_ERR_OUT_OF_MEMORY with the size needed); nothing refers to
 * `grammar` after the call. A bad grammar gives QLITE_ERR_FORMAT with line and column; on any
 * error the session has no grammar. It replaces any earlier grammar and starts matching from
 * the beginning; qlite_session_reset restarts it too. */
QLITE_EXPORT qlite_status qlite_session_set_grammar(qlite_session* session, const char* grammar, size_t grammar_len);
QLITE_EXPORT qlite_status qlite_session_clear_grammar(qlite_session* session);
/* JSON Schema to grammar text, like snprintf (see qlite_chat_apply_template: *out_len gets the
 * length, buf NULL with capacity 0 asks for it, a small buf gives QLITE_ERR_OUT_OF_MEMORY).
 * Supported: type (object, array, string, integer, number, boolean, null, or a list),
 * properties (generated in the schema's order), required, additionalProperties (false, true or
 * a schema for maps), items, minItems/maxItems, minLength/maxLength, enum, const, anyOf,
 * oneOf (as anyOf), and annotations (title, description, default, ...). Other keywords give
 * QLITE_ERR_UNSUPPORTED naming the keyword and where; bad JSON gives QLITE_ERR_FORMAT. The
 * empty schema {} gives any JSON value. Output is JSON with optional spaces and indentation;
 * numbers have at most 16 digits before and after the point. */
QLITE_EXPORT qlite_status qlite_json_schema_to_grammar(const char* schema, size_t schema_len, char* buf,
                                                       size_t capacity, size_t* out_len);

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
