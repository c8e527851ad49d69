// Fuzz targets for text: the tokenizers (bytes in, encode, decode; byte-level BPE must give
// the input back exactly) and the CLI's flag parsers (argv from NUL-separated input).
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../../examples/cli/quant_flags.h"
#include "../../examples/cli/session_flags.h"
#include "fuzz_targets.h"
#include "qlite/format/import.h"
#include "tokenizer.h"
#include "utf8.h"

namespace qlite_fuzz {
namespace {

// A byte-level BPE vocabulary: the 256 byte pieces and a few merges (words, digit runs).
qlite::TokenizerData ByteLevel(const char* pre_tokenizer) {
  qlite::TokenizerData d;
  d.type = qlite::fb::TokenizerType::ByteLevelBPE;
  d.pre_tokenizer = pre_tokenizer;
  d.add_bos = false;
  d.add_dummy_prefix = false;
  for (int b = 0; b < 256; ++b) {
    std::string p;
    qlite::Utf8Append(qlite::ByteToUnicode(static_cast<uint8_t>(b)), &p);
    d.pieces.push_back(p);
  }
  const std::string sp = d.pieces[' '];
  for (const auto& [l, r] : std::vector<std::pair<std::string, std::string>>{
           {sp, "t"}, {"t", "h"}, {"th", "e"}, {sp + "t", "he"}, {"1", "2"}, {"12", "3"}, {"\xc3\xa9", "t"}}) {
    d.merges.push_back(l + " " + r);
    d.pieces.push_back(l + r);
  }
  d.kinds.assign(d.pieces.size(), qlite::fb::TokenKind::Normal);
  return d;
}

struct Tokenizers {
  std::unique_ptr<qlite::Tokenizer> spm;          // stories260K's SentencePiece BPE
  std::unique_ptr<qlite::Tokenizer> byte_level[4];  // gpt2, llama3, qwen2, smollm
  Tokenizers() {
    qlite::TokenizerData d;
    if (qlite::ImportSentencePieceModel(DataPath("stories260K/tok512.model"), &d).ok())
      (void)qlite::Tokenizer::Create(d, {}, &spm);
    const char* names[4] = {"gpt2", "llama3", "qwen2", "smollm"};
    for (int i = 0; i < 4; ++i)
      if (!qlite::Tokenizer::Create(ByteLevel(names[i]), {}, &byte_level[i]).ok()) std::abort();
  }
};

}  // namespace

// First byte: which tokenizer and whether control pieces are matched; the rest is the text.
void FuzzTokenizer(const uint8_t* data, size_t size) {
  static const Tokenizers t;
  if (size < 1) return;
  const int which = data[0] % 5;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const qlite::Tokenizer* tok = which == 4 ? t.spm.get() : t.byte_level[which].get();
  if (!tok) return;
  qlite::EncodeOptions o;
  o.add_bos = false;
  o.parse_special = (data[0] & 0x80) != 0;
  std::vector<int32_t> ids;
  if (!tok->Encode(text, o, &ids).ok()) std::abort();  // any bytes are text
  const std::string back = tok->Decode(ids);
  // Byte-level BPE without normalization (Qwen2 applies NFC) is lossless on any bytes.
  if (which != 2 && which != 4 && back != text) std::abort();
}

void FuzzCliArgs(const uint8_t* data, size_t size) {
  std::vector<std::string> args = {"qlite"};
  std::string cur;
  for (size_t i = 0; i < size && args.size() < 64; ++i) {
    if (data[i] == 0) {
      args.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(data[i]));
    }
  }
  args.push_back(cur);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(&a[0]);
  const int argc = static_cast<int>(argv.size());
  qlite_cli::SessionFlags session;
  qlite_cli::QuantFlags quant;
  for (int i = 1; i < argc; ++i) {
    if (qlite_cli::ParseSessionFlag(argc, argv.data(), &i, &session) != 0) continue;
    (void)qlite_cli::ParseQuantFlag(argc, argv.data(), &i, &quant, "fuzz");
  }
  qlite::ConvertOptions options;
  (void)qlite_cli::QuantFlagsToOptions(quant, &options, "fuzz");
  uint64_t bytes = 0;
  (void)qlite_cli::ParseBytes(args.back().c_str(), &bytes);
  (void)qlite_cli::SplitLoraSpec(args.back());
}

}  // namespace qlite_fuzz
