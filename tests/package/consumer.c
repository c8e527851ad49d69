/* An app's first program against an installed qlite: only <qlite/qlite.h>, C99. Opens a model,
 * checks the library is the one the header describes, and generates a few greedy tokens.
 * usage: consumer MODEL.qlm   (exit 0 when every step worked) */
#include <qlite/qlite.h>
#include <stdio.h>
#include <string.h>

static int Print(void* user, int32_t token, const char* piece, size_t len) {
  (void)token;
  *(unsigned*)user += 1;
  fwrite(piece, 1, len, stdout);
  return 0;
}

int main(int argc, char** argv) {
  qlite_model* model = NULL;
  qlite_session* session = NULL;
  qlite_session_params params;
  unsigned pieces = 0;
  qlite_generate_stats stats;
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL.qlm\n", argv[0]);
    return 2;
  }
  if (qlite_api_version() != QLITE_API_VERSION) {
    fprintf(stderr, "library API %u, header API %u\n", (unsigned)qlite_api_version(), (unsigned)QLITE_API_VERSION);
    return 1;
  }
  if (strcmp(qlite_version_string(), "qlite " QLITE_VERSION_STRING) != 0) {
    fprintf(stderr, "library '%s', header %s\n", qlite_version_string(), QLITE_VERSION_STRING);
    return 1;
  }
  if (qlite_model_open(argv[1], NULL, &model) != QLITE_OK) {
    fprintf(stderr, "open: %s\n", qlite_last_error());
    return 1;
  }
  params = qlite_session_default_params();
  params.sampler.temperature = 0;
  if (qlite_session_create(model, &params, &session) != QLITE_OK ||
      qlite_generate(session, "Once upon a time", 16, 0, Print, &pieces, &stats) != QLITE_OK) {
    fprintf(stderr, "generate: %s\n", qlite_last_error());
    qlite_session_free(session);
    qlite_model_free(model);
    return 1;
  }
  printf("\n%s: %u tokens generated\n", qlite_version_string(), (unsigned)stats.n_generated);
  qlite_session_free(session);
  qlite_model_free(model);
  return stats.n_generated == 16 && pieces > 0 ? 0 : 1;
}
