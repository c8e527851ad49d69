// Fuzz targets for constrained output (runtime/src/grammar.h): any bytes as grammar text must
// compile or fail with a located error, and a compiled grammar must match text within its
// memory; any bytes as a JSON schema must convert to a grammar that compiles, or be refused.
// Seeds: tests/data/grammars.
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_targets.h"
#include "grammar.h"

namespace qlite_fuzz {
namespace {

// Feeds `text` in chunks; a refused chunk must leave the state as it was.
void Exercise(const qlite::grammar::Compiled& g, std::string_view text) {
  std::vector<uint8_t> mem(qlite::grammar::Matcher::GrammarBytes(g) + (64 << 10));
  qlite::grammar::Matcher m;
  if (!m.Bind(g, mem.data(), mem.size()).ok()) return;
  for (size_t i = 0; i < text.size(); i += 3) {
    const std::string_view chunk = text.substr(i, 3);
    const bool could = m.Allows(chunk), end_before = m.CanEnd();
    const bool did = m.Accept(chunk);
    if (could != did) std::abort();  // Allows predicts Accept
    if (!did && m.CanEnd() != end_before) std::abort();
    if (m.Done() && !m.CanEnd()) std::abort();
  }
}

}  // namespace

// The grammar text, then (after a NUL, if any) text to match against it.
void FuzzGrammar(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t nul = all.find('\0');
  const std::string_view source = all.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? std::string_view("{\"a\": [1, true]} hello") : all.substr(nul + 1);
  qlite::grammar::Limits limits;  // smaller than the defaults so that each input stays fast
  limits.max_elements = 1 << 16;
  limits.max_rules = 1 << 12;
  qlite::grammar::Compiled g;
  const qlite::Status s = qlite::grammar::Compile(source, &g, limits);
  if (!s.ok()) {
    if (s.message().find("grammar") != 0) std::abort();  // every error says where
    return;
  }
  Exercise(g, text);
}

void FuzzJsonSchema(const uint8_t* data, size_t size) {
  const std::string_view schema(reinterpret_cast<const char*>(data), size);
  std::string text;
  if (!qlite::grammar::JsonSchemaToGrammar(schema, &text).ok()) return;
  qlite::grammar::Compiled g;
  if (!qlite::grammar::Compile(text, &g).ok()) std::abort();  // the converter wrote a bad grammar
  Exercise(g, "{\"name\": \"x\", \"n\": [1, 2.5e3, null, true], \"s\": \"\\u00e9\"}");
}

}  // namespace qlite_fuzz
