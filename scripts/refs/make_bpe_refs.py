#!/usr/bin/env python3
"""Reference ids for qlite's byte-level BPE tests, from an independent implementation.

Builds a Hugging Face `tokenizers` BPE tokenizer from the vocabulary and merges stored in
SmolLM2's GGUF (read with the `gguf` package), set up like SmolLM2's tokenizer.json
(Digits(individual_digits) + ByteLevel pre-tokenizer, control tokens as added special
tokens), and writes the ids of a list of varied strings. It also writes the word splits of
the GPT-2, Llama-3, Qwen2 and SmolLM pre-tokenizer regexes (run by `tokenizers`' regex
engine) so the hand-written splitters are checked on their own.

Heavy tools stay out of the test run: only the JSON it writes is committed and used.
  python3 -m venv /tmp/v && /tmp/v/bin/pip install tokenizers gguf
  /tmp/v/bin/python scripts/refs/make_bpe_refs.py ~/.cache/qlite/SmolLM2-135M-Instruct.Q4_1.gguf \
      tests/data/bpe_refs.json
"""
import json
import sys

import tokenizers
from gguf import GGUFReader
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3 = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"""
          r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
QWEN2 = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"""
         r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")

TEXTS = [
    "Hello world",
    " Hello world",
    "Hello, world! How are you?",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure they'll say it's fine, we've done what you'd want. DON'T SHOUT",
    "numbers: 1 12 123 1234 12345 3.14159 -42 1,000,000 2024-06-01",
    "a  b   c    d\tTabs\t\tand\n\nnewlines\r\n end  ",
    "   leading and trailing spaces   ",
    "\n\n\n",
    "café naïve résumé Ångström Führer façade",
    "Ελληνικά και Кириллица: привет мир",
    "中文分词测试：我喜欢机器学习。日本語のテキスト、カタカナ。한국어 문장",
    "emoji 🦙🔥👍🏽 and flags 🇫🇷 and zwj 👨‍👩‍👧",
    "symbols #$%^&*()_+-=[]{}|;:'\",.<>/?`~ and ½ ² ③ Ⅻ",
    "code: def f(x):\n    return x**2  # square\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\nIt is 4.<|im_end|>",
    "<|endoftext|>text after end<file_sep>more",
    "mixedCASE camelCaseIdentifiers snake_case_names kebab-case-words",
    "URLs: https://example.com/path?q=1&r=two#frag and e-mail: a.b@c.org",
    "Combining: e\u0301 a\u0308 n\u0303 vs precomposed é ä ñ",
    "Arabic: مرحبا بالعالم ١٢٣ and Hindi: नमस्ते दुनिया १२३",
    "non-breaking\u00a0space and\u3000ideographic space",
    "'s 'S 'RE 'll 'LL's",
    "",
]


def field_strings(reader, key):
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def field_ints(reader, key):
    f = reader.fields[key]
    return [int(f.parts[i][0]) for i in f.data]


def build_tokenizer(path):
    r = GGUFReader(path)
    tokens = field_strings(r, "tokenizer.ggml.tokens")
    types = field_ints(r, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field_strings(r, "tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    # GGUF token type 3 = control, 4 = user-defined: matched literally, never split.
    specials = [AddedToken(t, special=True, normalized=False)
                for t, ty in zip(tokens, types) if ty in (3, 4)]
    tok.add_special_tokens(specials)
    return tok


def splits(pre, text):
    return [w for w, _ in pre.pre_tokenize_str(text)]


def main():
    gguf_path, out_path = sys.argv[1], sys.argv[2]
    tok = build_tokenizer(gguf_path)
    cases = []
    for text in TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
    split = lambda pattern: pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    pres = {
        "gpt2": split(GPT2),
        "llama3": split(LLAMA3),
        "qwen2": split(QWEN2),
        "smollm": pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), split(GPT2)]),
    }
    pretok = {name: [{"text": t, "words": splits(p, t)} for t in TEXTS if t] for name, p in pres.items()}
    doc = {
        "source": "scripts/refs/make_bpe_refs.py: Hugging Face tokenizers %s BPE built from the vocab and "
                  "merges of SmolLM2-135M-Instruct.Q4_1.gguf (Digits + ByteLevel, control tokens special); "
                  "pre_tokenizers: tokenizers' Split with each regex" % tokenizers.__version__,
        "vocab_size": tok.get_vocab_size(),
        "cases": cases,
        "pretokenizers": pretok,
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=True, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
