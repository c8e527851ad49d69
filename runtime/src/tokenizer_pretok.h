// Pre-tokenizers of byte-level BPE: split text into words before merging.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "qlite/base/pretokenizers.h"
#include "qlite/base/status.h"

namespace qlite {


// Name as stored in TokenizerData::pre_tokenizer ("gpt2", "llama3", "qwen2", "smollm";
// empty means gpt2). Unknown names are an error rather than a silent mis-tokenization.
Status ParsePreTokenizer(std::string_view name, PreTokenizer* out);

// GPT-2's byte <-> printable code point mapping used by byte-level vocabularies:
// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order.
uint32_t ByteToUnicode(uint8_t b);
int UnicodeToByte(uint32_t cp);  // -1 when cp is not the image of a byte

// Appends the words of `text` (views into it, covering it exactly, in order).
void PreTokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>* words);

}  // namespace qlite
