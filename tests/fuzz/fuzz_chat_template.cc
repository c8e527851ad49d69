// Fuzz target for the chat template interpreter (runtime/src/chat_template.cc): any bytes as a
// template must parse and render, or fail with a status, within the limits; never crash, hang
// or recurse without bound. Seeds: the real templates in tests/data/chat_templates.
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "chat_template.h"
#include "fuzz_targets.h"

namespace qlite_fuzz {

// First byte: which conversation, add_generation_prompt, and whether special tokens are set;
// the rest is the template.
void FuzzChatTemplate(const uint8_t* data, size_t size) {
  if (size < 1) return;
  using qlite::chat::Message;
  static const std::vector<Message> kConversations[] = {
      {{"user", "Hello!"}},
      {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}},
      {{"user", "Gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x99\x82 {{ x }} {% if %}"}, {"assistant", "<think>\nhm\n</think>\n\nok"}},
      {{"user", ""}, {"user", ""}},
  };
  const uint8_t sel = data[0];
  const std::vector<Message>& conv = kConversations[sel % 4];
  const bool tokens = sel & 8;
  const std::string_view source(reinterpret_cast<const char*>(data + 1), size - 1);
  qlite::chat::Options options;
  // Smaller than the defaults so that each input stays fast; the defaults scale these up.
  options.limits.max_output_bytes = 1 << 16;
  options.limits.max_steps = 200000;
  options.limits.max_work_bytes = 16 << 20;
  options.fixed_time = 1721989800;
  const qlite::chat::Value ctx =
      qlite::chat::MakeContext(conv, sel & 4, tokens ? "<s>" : "", tokens ? "</s>" : "");
  std::string out;
  const qlite::Status s = qlite::chat::Render(source, ctx, options, &out);
  if (s.ok()) {
    if (out.size() > options.limits.max_output_bytes) std::abort();
    std::string again;  // rendering is deterministic
    if (!qlite::chat::Render(source, ctx, options, &again).ok() || again != out) std::abort();
  } else if (s.message().empty()) {
    std::abort();  // every error says what and where
  }
  (void)qlite::chat::Check(source);
}

}  // namespace qlite_fuzz
