/* Tool calling with constrained output, in plain C99: the model (e.g. SmolLM2-135M-Instruct)
 * is told about one tool, get_weather, and its reply is constrained by a JSON schema, so it is
 * always a well-formed call that the app can parse without guessing; the app then "calls" the
 * tool and prints the result.
 *
 * usage: qlite_tool_call model.qlm get_weather.schema.json ["question"]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qlite/qlite.h"

#define MAX_TOKENS 160

static char* read_text(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  char* text = NULL;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (text = (char*)malloc((size_t)n + 1)) != NULL) {
    *len = fread(text, 1, (size_t)n, f);
    text[*len] = '\0';
  }
  fclose(f);
  return text;
}

/* The string value of "key" in `json`. The grammar guarantees the shape, so a plain scan is a
 * parser here: the key appears once, followed by optional spaces, a colon and a string. */
static int json_string(const char* json, const char* key, char* out, size_t capacity) {
  char quoted[64];
  const char* p;
  size_t n = 0;
  snprintf(quoted, sizeof(quoted), "\"%s\"", key);
  p = strstr(json, quoted);
  if (!p) return 0;
  p = strchr(p + strlen(quoted), ':');
  if (!p) return 0;
  p = strchr(p, '"');
  if (!p) return 0;
  for (++p; *p && *p != '"' && n + 1 < capacity; ++p) {
    if (*p == '\\' && p[1]) ++p; /* \" and \\ keep the second character; enough for a demo */
    out[n++] = *p;
  }
  out[n] = '\0';
  return *p == '"';
}

/* The tool: a made-up but repeatable forecast. */
static void get_weather(const char* city, const char* unit, char* out, size_t capacity) {
  static const char* const skies[] = {"sunny", "cloudy", "rainy", "windy", "foggy"};
  unsigned h = 5381;
  const char* c;
  int celsius;
  for (c = city; *c; ++c) h = h * 33u + (unsigned char)*c;
  celsius = (int)(h % 30u);
  if (strcmp(unit, "fahrenheit") == 0) {
    snprintf(out, capacity, "%s: %d F, %s", city, celsius * 9 / 5 + 32, skies[h % 5u]);
  } else {
    snprintf(out, capacity, "%s: %d C, %s", city, celsius, skies[h % 5u]);
  }
}

int main(int argc, char** argv) {
  const char* question = argc > 3 ? argv[3] : "What's the weather like in Paris today?";
  qlite_model* model = NULL;
  qlite_session* session = NULL;
  qlite_session_params params = qlite_session_default_params();
  qlite_chat_message chat[2];
  char *schema = NULL, *grammar = NULL, *prompt = NULL;
  char reply[4096], piece[256], city[128], unit[32], result[256];
  int32_t* tokens = NULL;
  size_t schema_len = 0, grammar_len = 0, prompt_len = 0, n_tokens = 0, reply_len = 0, piece_len = 0;
  int i, rc = 1;
  qlite_model_info info;

  if (argc < 3) {
    fprintf(stderr, "usage: %s model.qlm get_weather.schema.json [\"question\"]\n", argv[0]);
    return 2;
  }
  schema = read_text(argv[2], &schema_len);
  if (!schema) {
    fprintf(stderr, "cannot read %s\n", argv[2]);
    return 1;
  }
  /* The schema becomes a grammar (size query first, then the text). */
  if (qlite_json_schema_to_grammar(schema, schema_len, NULL, 0, &grammar_len) != QLITE_OK ||
      !(grammar = (char*)malloc(grammar_len + 1)) ||
      qlite_json_schema_to_grammar(schema, schema_len, grammar, grammar_len + 1, &grammar_len) != QLITE_OK) {
    fprintf(stderr, "schema: %s\n", qlite_last_error());
    goto done;
  }
  if (qlite_model_open(argv[1], NULL, &model) != QLITE_OK || qlite_model_get_info(model, &info) != QLITE_OK) {
    fprintf(stderr, "model: %s\n", qlite_last_error());
    goto done;
  }
  params.sampler.temperature = 0; /* the most likely call */
  params.grammar_memory = 256u << 10;
  if (qlite_session_create(model, &params, &session) != QLITE_OK ||
      qlite_session_set_grammar(session, grammar, grammar_len) != QLITE_OK) {
    fprintf(stderr, "session: %s\n", qlite_last_error());
    goto done;
  }

  chat[0].role = "system";
  chat[0].content =
      "You can call one tool: get_weather(city, unit), unit being celsius or fahrenheit. Answer "
      "with the call as JSON: {\"tool\": \"get_weather\", \"arguments\": {\"city\": ..., \"unit\": ...}}";
  chat[1].role = "user";
  chat[1].content = question;
  if (qlite_chat_apply_template(model, chat, 2, 1, NULL, 0, &prompt_len) != QLITE_OK ||
      !(prompt = (char*)malloc(prompt_len + 1)) ||
      qlite_chat_apply_template(model, chat, 2, 1, prompt, prompt_len + 1, &prompt_len) != QLITE_OK) {
    fprintf(stderr, "chat template: %s\n", qlite_last_error());
    goto done;
  }
  if (qlite_tokenize(model, prompt, prompt_len, 0, NULL, 0, &n_tokens) != QLITE_OK && n_tokens == 0) goto done;
  tokens = (int32_t*)malloc(n_tokens * sizeof(int32_t));
  if (!tokens || qlite_tokenize(model, prompt, prompt_len, 0, tokens, n_tokens, &n_tokens) != QLITE_OK ||
      qlite_prefill(session, tokens, n_tokens) != QLITE_OK) {
    fprintf(stderr, "prefill: %s\n", qlite_last_error());
    goto done;
  }

  /* The reply: every sampled token keeps it inside the schema; the end token comes only once
   * the JSON is complete (an end token has no bytes). */
  for (i = 0; i < MAX_TOKENS; ++i) {
    int32_t t = 0;
    if (qlite_sample(session, &t) != QLITE_OK) {
      fprintf(stderr, "sample: %s\n", qlite_last_error());
      goto done;
    }
    if (t == info.eos_id) break;
    if (qlite_token_to_piece(model, t, piece, sizeof(piece), &piece_len) != QLITE_OK) goto done;
    if (piece_len == 0) break;
    if (reply_len + piece_len >= sizeof(reply)) break;
    memcpy(reply + reply_len, piece, piece_len);
    reply_len += piece_len;
    if (qlite_decode(session, t) != QLITE_OK) goto done;
  }
  reply[reply_len] = '\0';
  printf("model: %s\n", reply);

  if (!json_string(reply, "city", city, sizeof(city)) || !json_string(reply, "unit", unit, sizeof(unit))) {
    fprintf(stderr, "the reply is not a whole call (it stopped after %d tokens)\n", MAX_TOKENS);
    goto done;
  }
  get_weather(city, unit, result, sizeof(result));
  printf("call:  get_weather(city=\"%s\", unit=\"%s\")\nresult: %s\n", city, unit, result);
  rc = 0;

done:
  qlite_session_free(session);
  qlite_model_free(model);
  free(tokens);
  free(prompt);
  free(grammar);
  free(schema);
  return rc;
}
