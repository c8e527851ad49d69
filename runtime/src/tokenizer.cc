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
int ParseByteToken(const std::string& p) {
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
fb::TokenKind GuessKind(const std::string& p, fb::TokenizerType type) {
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

Status Tokenizer::Create(const TokenizerData& data, const TokenizerSpecialIds& special,
                         std::unique_ptr<Tokenizer>* out) {
  const size_t n = data.pieces.size();
  QLITE_RETURN_IF_ERROR(CheckTokenizer(data));  // the converter's rules (format/model_rules.cc)
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->type_ = data.type;
  t->pieces_ = data.pieces;
  t->scores_ = data.scores;
  if (t->scores_.empty()) t->scores_.assign(n, 0.0f);
  t->kinds_ = data.kinds;
  if (t->kinds_.empty()) {
    t->kinds_.resize(n);
    for (size_t i = 0; i < n; ++i) t->kinds_[i] = GuessKind(data.pieces[i], data.type);
  }
  t->add_bos_ = data.add_bos;
  t->add_eos_ = data.add_eos;
  t->add_dummy_prefix_ = data.add_dummy_prefix;
  t->byte_fallback_ = data.byte_fallback;

  t->all_.Build(&t->pieces_, [](int32_t) { return true; });
  const std::vector<fb::TokenKind>& kinds = t->kinds_;
  t->normal_.Build(&t->pieces_, [&kinds](int32_t id) {
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
  t->bos_ = special.bos >= 0 ? special.bos
          : data.bos_id >= 0 ? data.bos_id
                             : FirstOf(*t, {"<s>", "<|begin_of_text|>", "<|startoftext|>"});
  t->eos_ = special.eos >= 0 ? special.eos
          : data.eos_id >= 0 ? data.eos_id
                             : FirstOf(*t, {"</s>", "<|end_of_text|>", "<|endoftext|>"});
  t->unk_ = data.unk_id;
  if (t->unk_ < 0) {
    for (size_t i = 0; i < n && t->unk_ < 0; ++i) {
      if (t->kinds_[i] == fb::TokenKind::Unknown) t->unk_ = static_cast<int32_t>(i);
    }
  }

  // Pieces matched literally in the input, longest first: control pieces (when the
  // caller asks) and user-defined ones (always, as SentencePiece and llama.cpp do).
  for (size_t i = 0; i < n; ++i) {
    const fb::TokenKind k = t->kinds_[i];
    if ((k != fb::TokenKind::Control && k != fb::TokenKind::UserDefined) || data.pieces[i].empty()) continue;
    t->specials_.push_back(static_cast<int32_t>(i));
    t->special_first_byte_[static_cast<uint8_t>(data.pieces[i][0])] = true;
  }
  std::stable_sort(t->specials_.begin(), t->specials_.end(), [&t](int32_t a, int32_t b) {
    return t->pieces_[a].size() > t->pieces_[b].size();
  });

  if (data.type == fb::TokenizerType::SentencePieceBPE) {
    QLITE_RETURN_IF_ERROR(t->InitSpm());
  } else if (data.type == fb::TokenizerType::ByteLevelBPE) {
    QLITE_RETURN_IF_ERROR(t->InitByteLevel(data));
  } else {
    return StatusError(StatusCode::kUnsupported, "tokenizer type %d is not supported", static_cast<int>(data.type));
  }
  t->InitBytes();
  *out = std::move(t);
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

Status Tokenizer::InitByteLevel(const TokenizerData& data) {
  QLITE_RETURN_IF_ERROR(ParsePreTokenizer(data.pre_tokenizer, &pretok_));
  ignore_merges_ = pretok_ == PreTokenizer::kLlama3;
  nfc_ = pretok_ == PreTokenizer::kQwen2;
  std::string ch;
  for (int b = 0; b < 256; ++b) {
    ch.clear();
    Utf8Append(ByteToUnicode(static_cast<uint8_t>(b)), &ch);
    byte_token_[b] = all_.Find(ch);
  }
  merges_.reserve(data.merges.size());
  std::string joined;
  for (size_t r = 0; r < data.merges.size(); ++r) {
    const std::string& m = data.merges[r];
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos) {
      return StatusError(StatusCode::kFormat, "tokenizer: merge %zu '%s' is not 'left right'", r, m.c_str());
    }
    const std::string_view left(m.data(), sp), right(m.data() + sp + 1, m.size() - sp - 1);
    joined.assign(left.data(), left.size());
    joined.append(right.data(), right.size());
    const int32_t a = all_.Find(left), b = all_.Find(right), c = all_.Find(joined);
    if (a < 0 || b < 0 || c < 0) continue;  // a merge whose result is not in the vocab never fires
    const uint64_t key = (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
    merges_.emplace(key, Merge{static_cast<int32_t>(r), c});  // first (lowest rank) wins
  }
  return Status::Ok();
}

void Tokenizer::InitBytes() {
  const size_t n = pieces_.size();
  bytes_off_.assign(n + 1, 0);
  bytes_.clear();
  for (size_t i = 0; i < n; ++i) {
    bytes_off_[i] = static_cast<uint32_t>(bytes_.size());
    const std::string& p = pieces_[i];
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
      bytes_ += p;  // added tokens are stored as plain text
    } else {
      for (size_t pos = 0; pos < p.size();) {
        const size_t start = pos;
        const int b = UnicodeToByte(Utf8Next(p, &pos));
        if (b >= 0) bytes_.push_back(static_cast<char>(b));
        else bytes_.append(p, start, pos - start);  // not a byte-level char: keep it
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
    const std::string& p = pieces_[id];
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
