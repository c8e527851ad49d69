/* Firmware-style use of the qlite C API, in plain C99: the model file is read into a static
 * array and used in place, the model's own memory (tensor table, tokenizer, layer views)
 * lives in a second static buffer and the whole session (KV cache, activations, scratch) in
 * a third. With one thread, opening and generating call no allocator at all. This program calls no malloc itself; qlite sizes everything up front and
 * fails cleanly, with the memory breakdown, when the buffer is too small.
 *
 * usage: qlite_c_demo model.qlm ["prompt"] [tokens]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qlite/qlite.h"

#define MODEL_CAPACITY (8u << 20)   /* enough for stories260K in any scheme */
#define SESSION_CAPACITY (2u << 20)
#define MODEL_HOST_CAPACITY (256u << 10) /* stories260K needs ~37 KiB (qlite_model_memory) */

static unsigned char g_model[MODEL_CAPACITY] __attribute__((aligned(64)));
static unsigned char g_session[SESSION_CAPACITY] __attribute__((aligned(64)));
static unsigned char g_model_host[MODEL_HOST_CAPACITY] __attribute__((aligned(64)));

static int print_piece(void* user, int32_t token, const char* piece, size_t len) {
  (void)user;
  (void)token;
  fwrite(piece, 1, len, stdout);
  fflush(stdout);
  return 0;
}

static size_t read_model(const char* path) {
  size_t n;
  FILE* f = fopen(path, "rb");
  if (!f) return 0;
  n = fread(g_model, 1, sizeof(g_model), f);
  if (n == sizeof(g_model) && fgetc(f) != EOF) n = 0; /* does not fit */
  fclose(f);
  return n;
}

int main(int argc, char** argv) {
  qlite_model* model = NULL;
  qlite_session* session = NULL;
  qlite_model_params mp = qlite_model_default_params();
  qlite_session_params sp = qlite_session_default_params();
  qlite_memory_estimate est;
  qlite_generate_stats stats;
  char text[1024];
  const char* prompt = argc > 2 ? argv[2] : "Once upon a time";
  uint32_t n_tokens = 64;
  size_t size;

  if (argc < 2) {
    fprintf(stderr, "usage: %s model.qlm [\"prompt\"] [tokens]\n", argv[0]);
    return 2;
  }
  if (argc > 3) {
    char* end = NULL;
    const unsigned long n = strtoul(argv[3], &end, 10);
    if (end == argv[3] || *end != '\0' || n == 0 || n > 1000000) {
      fprintf(stderr, "tokens: '%s' is not a count in [1, 1000000]\n", argv[3]);
      return 2;
    }
    n_tokens = (uint32_t)n;
  }
  size = read_model(argv[1]);
  if (size == 0) {
    fprintf(stderr, "cannot read %s into %u bytes\n", argv[1], MODEL_CAPACITY);
    return 1;
  }
  mp.buffer = g_model_host;
  mp.buffer_size = sizeof(g_model_host);
  if (qlite_model_open_memory(g_model, size, &mp, &model) != QLITE_OK) {
    fprintf(stderr, "model: %s\n", qlite_last_error());
    return 1;
  }

  sp.window = 256;
  sp.kv_type = QLITE_KV_Q8;
  sp.max_batch = 16;
  sp.sampler.temperature = 0.0f;
  sp.buffer = g_session;
  sp.buffer_size = sizeof(g_session);
  if (qlite_estimate_memory(model, &sp, &est) == QLITE_OK &&
      qlite_format_memory_estimate(&est, text, sizeof(text)) == QLITE_OK) {
    fprintf(stderr, "memory plan (session buffer %u bytes):\n%s", SESSION_CAPACITY, text);
  }
  if (qlite_session_create(model, &sp, &session) != QLITE_OK) {
    fprintf(stderr, "session: %s\n", qlite_last_error());
    qlite_model_free(model);
    return 1;
  }

  fputs(prompt, stdout);
  if (qlite_generate(session, prompt, n_tokens, 1, print_piece, NULL, &stats) != QLITE_OK) {
    fprintf(stderr, "\ngenerate: %s\n", qlite_last_error());
  }
  printf("\n");
  fprintf(stderr, "%u prompt tokens, %u generated\n", stats.n_prompt_tokens, stats.n_generated);
  qlite_session_free(session);
  qlite_model_free(model);
  return 0;
}
