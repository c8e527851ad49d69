// Tokenizer construction, special-token splitting and decoding. The two encoders live in
// tokenizer_spm.cc and tokenizer_bpe.cc.
#include "tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "qlite/format/model_file.h"
#include "utf8.h"

namespace qlite {
namespace {

// "<0xNN>" -> NN, else -1.
int ParseByteToken(std::string_view p) {
  if (p.size() != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(p[3]), lo = hex(p[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Kinds for hand-built vocabularies that come without them (importers always set them).
fb::TokenKind GuessKind(std::string_view p, fb::TokenizerType type) {
  if (p == "<unk>") return fb::TokenKind::Unknown;
  if (p == "<s>" || p == "</s>") return fb::TokenKind::Control;
  if (type == fb::TokenizerType::SentencePieceBPE && ParseByteToken(p) >= 0) return fb::TokenKind::Byte;
  if (type == fb::TokenizerType::ByteLevelBPE && p.size() > 4 && p.compare(0, 2, "<|") == 0 &&
      p.compare(p.size() - 2, 2, "|>") == 0) {
    return fb::TokenKind::Control;
  }
  return fb::TokenKind::Normal;
}

int32_t FirstOf(const Tokenizer& t, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    const int32_t id = t.Find(n);
    if (id >= 0) return id;
  }
  return -1;
}

}  // namespace

Tokenizer::Tokenizer(std::pmr::memory_resource* mem)
    : owned_pieces_(mem),
      pieces_(mem),
      scores_(mem),
      kinds_(mem),
      all_(mem),
      normal_(mem),
      specials_(mem),
      merges_(mem),
      bytes_(mem),
      bytes_off_(mem) {}

Status Tokenizer::Create(const TokenizerData& data, const TokenizerSpecialIds& special,
                         std::unique_ptr<Tokenizer>* out) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  QLITE_RETURN_IF_ERROR(t->Build(TokenizerView(data), special, /*copy_pieces=*/true));
  *out = std::move(t);
  return Status::Ok();
}

Status Tokenizer::Init(const TokenizerView& view, const TokenizerSpecialIds& special) {
  return Build(view, special, /*copy_pieces=*/false);
}

Status Tokenizer::Build(const TokenizerView& data, const TokenizerSpecialIds& special, bool copy_pieces) {
  QLITE_RETURN_IF_ERROR(CheckTokenizer(data));  // the converter's rules (format/model_rules.cc)
  const size_t n = data.n_pieces();
  type_ = data.type;
  pieces_.resize(n);
  if (copy_pieces) {
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) total += data.piece(i).size();
    owned_pieces_.reserve(total);
    for (size_t i = 0; i < n; ++i) owned_pieces_.append(data.piece(i));
    for (size_t i = 0, off = 0; i < n; off += pieces_[i].size(), ++i)
      pieces_[i] = std::string_view(owned_pieces_.data() + off, data.piece(i).size());
  } else {
    for (size_t i = 0; i < n; ++i) pieces_[i] = data.piece(i);
  }
  scores_.resize(n);
  for (size_t i = 0; i < n; ++i) scores_[i] = data.n_scores() ? data.score(i) : 0.0f;
  kinds_.resize(n);
  for (size_t i = 0; i < n; ++i) kinds_[i] = data.n_kinds() ? data.kind(i) : GuessKind(pieces_[i], data.type);
  add_bos_ = data.add_bos;
  add_eos_ = data.add_eos;
  add_dummy_prefix_ = data.add_dummy_prefix;
  byte_fallback_ = data.byte_fallback;

  all_.Build(pieces_.data(), n, [](int32_t) { return true; });
  const fb::TokenKind* kinds = kinds_.data();
  normal_.Build(pieces_.data(), n, [kinds](int32_t id) {
    return kinds[id] == fb::TokenKind::Normal || kinds[id] == fb::TokenKind::UserDefined;
  });

  auto check_id = [n](int32_t id, const char* what) {
    if (id < -1 || id >= static_cast<int32_t>(n)) {
      return StatusError(StatusCode::kFormat, "tokenizer: %s id %d out of range [0, %zu)", what, id, n);
    }
    return Status::Ok();
  };
  QLITE_RETURN_IF_ERROR(check_id(special.bos, "BOS"));
  QLITE_RETURN_IF_ERROR(check_id(special.eos, "EOS"));
  // The model's ids first, then the tokenizer source's, then the usual spellings.
  bos_ = special.bos >= 0 ? special.bos
       : data.bos_id >= 0 ? data.bos_id
                          : FirstOf(*this, {"<s>", "<|begin_of_text|>", "<|startoftext|>"});
  eos_ = special.eos >= 0 ? special.eos
       : data.eos_id >= 0 ? data.eos_id
                          : FirstOf(*this, {"</s>", "<|end_of_text|>", "<|endoftext|>"});
  unk_ = data.unk_id;
  for (size_t i = 0; i < n && unk_ < 0; ++i) {
    if (kinds_[i] == fb::TokenKind::Unknown) unk_ = static_cast<int32_t>(i);
  }

  // Pieces matched literally in the input, longest first (ties: lower id first): control
  // pieces (when the caller asks) and user-defined ones (always, as SentencePiece and
  // llama.cpp do). Counted first so the list is one block; std::sort needs no buffer.
  auto is_special = [this](size_t i) {
    const fb::TokenKind k = kinds_[i];
    return (k == fb::TokenKind::Control || k == fb::TokenKind::UserDefined) && !pieces_[i].empty();
  };
  size_t n_special = 0;
  for (size_t i = 0; i < n; ++i) n_special += is_special(i);
  specials_.reserve(n_special);
  for (size_t i = 0; i < n; ++i) {
    if (!is_special(i)) continue;
    specials_.push_back(static_cast<int32_t>(i));
    special_first_byte_[static_cast<uint8_t>(pieces_[i][0])] = true;
  }
  std::sort(specials_.begin(), specials_.end(), [this](int32_t a, int32_t b) {
    const size_t la = pieces_[a].size(), lb = pieces_[b].size();
    return la != lb ? la > lb : a < b;
  });

  if (data.type == fb::TokenizerType::SentencePieceBPE) {
    QLITE_RETURN_IF_ERROR(InitSpm());
  } else if (data.type == fb::TokenizerType::ByteLevelBPE) {
    QLITE_RETURN_IF_ERROR(InitByteLevel(data));
  } else {
    return StatusError(StatusCode::kUnsupported, "tokenizer type %d is not supported", static_cast<int>(data.type));
  }
  InitBytes();
  return Status::Ok();
}

Status Tokenizer::InitSpm() {
  std::fill(std::begin(byte_token_), std::end(byte_token_), -1);
  for (size_t i = 0; i < pieces_.size(); ++i) {
    if (kinds_[i] != fb::TokenKind::Byte) continue;
    const int b = ParseByteToken(pieces_[i]);
    if (b < 0) return StatusError(StatusCode::kFormat, "tokenizer: byte token %zu is not <0xNN>", i);
    if (byte_token_[b] < 0) byte_token_[b] = static_cast<int32_t>(i);
  }
  return Status::Ok();
}

Status Tokenizer::InitByteLevel(const TokenizerView& data) {
  QLITE_RETURN_IF_ERROR(ParsePreTokenizer(data.pre_tokenizer, &pretok_));
  ignore_merges_ = pretok_ == PreTokenizer::kLlama3;
  nfc_ = pretok_ == PreTokenizer::kQwen2;
  for (int b = 0; b < 256; ++b) {
    char ch[4];
    byte_token_[b] = all_.Find(std::string_view(ch, Utf8Encode(ByteToUnicode(static_cast<uint8_t>(b)), ch)));
  }
  const size_t n_merges = data.n_merges();
  merges_.Reserve(n_merges);
  for (size_t r = 0; r < n_merges; ++r) {
    const std::string_view m = data.merge(r);
    const size_t sp = m.find(' ', 1);
    if (sp == std::string_view::npos) {
      return StatusError(StatusCode::kFormat, "tokenizer: merge %zu '%.*s' is not 'left right'", r,
                         static_cast<int>(m.size()), m.data());
    }
    const std::string_view left = m.substr(0, sp), right = m.substr(sp + 1);
    const int32_t a = all_.Find(left), b = all_.Find(right), c = all_.FindConcat(left, right);
    if (a < 0 || b < 0 || c < 0) continue;  // a merge whose result is not in the vocab never fires
    merges_.Insert(a, b, MergeTable::Merge{static_cast<int32_t>(r), c});  // first (lowest rank) wins
  }
  return Status::Ok();
}

void Tokenizer::InitBytes() {
  const size_t n = pieces_.size();
  // A token's bytes never outnumber its piece's: U+2581, <0xNN> and byte-level chars shrink.
  size_t bound = 0;
  for (size_t i = 0; i < n; ++i) bound += pieces_[i].size();
  bytes_.reserve(bound);
  bytes_off_.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    bytes_off_[i] = static_cast<uint32_t>(bytes_.size());
    const std::string_view p = pieces_[i];
    const fb::TokenKind k = kinds_[i];
    if (k == fb::TokenKind::Control) {
      // no bytes: BOS/EOS and chat markers are not text
    } else if (type_ == fb::TokenizerType::SentencePieceBPE) {
      const int b = k == fb::TokenKind::Byte ? ParseByteToken(p) : -1;
      if (b >= 0) {
        bytes_.push_back(static_cast<char>(b));
      } else {
        for (size_t j = 0; j < p.size(); ++j) {
          if (p.compare(j, 3, "\xE2\x96\x81") == 0) {
            bytes_.push_back(' ');
            j += 2;
          } else {
            bytes_.push_back(p[j]);
          }
        }
      }
    } else if (k == fb::TokenKind::UserDefined) {
      bytes_.insert(bytes_.end(), p.begin(), p.end());  // added tokens are stored as plain text
    } else {
      for (size_t pos = 0; pos < p.size();) {
        const size_t start = pos;
        const int b = UnicodeToByte(Utf8Next(p, &pos));
        if (b >= 0) bytes_.push_back(static_cast<char>(b));
        else bytes_.insert(bytes_.end(), p.begin() + start, p.begin() + pos);  // not a byte-level char: keep it
      }
    }
    max_token_bytes_ = std::max<size_t>(max_token_bytes_, bytes_.size() - bytes_off_[i]);
  }
  bytes_off_[n] = static_cast<uint32_t>(bytes_.size());
}

int32_t Tokenizer::MatchSpecial(std::string_view text, size_t pos, bool control, size_t* len) const {
  if (!special_first_byte_[static_cast<uint8_t>(text[pos])]) return -1;
  for (int32_t id : specials_) {
    if (!control && kinds_[id] == fb::TokenKind::Control) continue;
    const std::string_view p = pieces_[id];
    if (text.compare(pos, p.size(), p) == 0) {
      *len = p.size();
      return id;
    }
  }
  return -1;
}

Status Tokenizer::Encode(std::string_view text, const EncodeOptions& options, std::vector<int32_t>* out) const {
  if (options.add_bos && add_bos_ && bos_ >= 0) out->push_back(bos_);
  bool prev_special = true;  // SentencePiece: a dummy prefix starts the text and follows specials
  size_t start = 0;
  auto flush = [&](size_t end) -> Status {
    if (end <= start) return Status::Ok();
    const std::string_view frag = text.substr(start, end - start);
    if (type_ == fb::TokenizerType::SentencePieceBPE) {
      QLITE_RETURN_IF_ERROR(EncodeSpm(frag, add_dummy_prefix_ && prev_special, out));
    } else {
      QLITE_RETURN_IF_ERROR(EncodeByteLevel(frag, out));
    }
    prev_special = false;
    return Status::Ok();
  };
  if (!specials_.empty()) {
    for (size_t pos = 0; pos < text.size();) {
      size_t len = 0;
      const int32_t id = MatchSpecial(text, pos, options.parse_special, &len);
      if (id < 0) {
        ++pos;
        continue;
      }
      QLITE_RETURN_IF_ERROR(flush(pos));
      out->push_back(id);
      prev_special = true;
      pos += len;
      start = pos;
    }
  }
  QLITE_RETURN_IF_ERROR(flush(text.size()));
  if (options.add_eos && add_eos_ && eos_ >= 0) out->push_back(eos_);
  return Status::Ok();
}

std::string_view Tokenizer::TokenBytesAfter(int32_t prev, int32_t id) const {
  std::string_view b = TokenBytes(id);
  if (type_ == fb::TokenizerType::SentencePieceBPE && prev == bos_ && prev >= 0 && !b.empty() && b[0] == ' ') {
    b.remove_prefix(1);
  }
  return b;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::string s;
  int32_t prev = -1;
  for (int32_t id : ids) {
    if (!Valid(id)) continue;
    const std::string_view b = TokenBytesAfter(prev, id);
    s.append(b.data(), b.size());
    prev = id;
  }
  return s;
}

}  // namespace qlite
