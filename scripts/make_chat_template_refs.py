#!/usr/bin/env python3
"""Writes tests/data/chat_templates/refs.json: what Hugging Face transformers'
apply_chat_template renders for each committed template (tests/data/chat_templates/*.jinja,
sources in SOURCES.md there) and a set of conversations, with add_generation_prompt true and
false. runtime_test_chat_template checks that qlite's interpreter gives the same bytes.

Not run by CI. Needs `pip install transformers jinja2 tokenizers` (no torch):
    python3 scripts/make_chat_template_refs.py

strftime_now() is pinned to 2024-07-26 10:30:00 (the test passes the same time), so the
Llama 3.2 template's "Today Date" is reproducible.
"""
import calendar
import datetime as real_datetime
import json
import os
import sys

import jinja2
import transformers
import transformers.utils.chat_template_utils as chat_template_utils
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, "tests", "data", "chat_templates")
FIXED_NOW = real_datetime.datetime(2024, 7, 26, 10, 30, 0)


class FixedDatetime(real_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


chat_template_utils.datetime = FixedDatetime  # what strftime_now() reads

# Each template's special tokens, as its tokenizer_config.json names them (None: not set).
TOKENS = {
    "chatml.jinja": ("<s>", "<|im_end|>"),
    "gemma.jinja": ("<bos>", "<eos>"),
    "gemma2.jinja": ("<bos>", "<eos>"),
    "gemma3.jinja": ("<bos>", "<eos>"),
    "llama2.jinja": ("<s>", "</s>"),
    "llama3.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama3.1.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama3.2.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "mistral-v0.1.jinja": ("<s>", "</s>"),
    "mistral-v1-system.jinja": ("<s>", "</s>"),
    "mistral-nemo.jinja": ("<s>", "</s>"),
    "phi3-mini.jinja": ("<s>", "<|endoftext|>"),
    "phi3-medium.jinja": ("<s>", "<|endoftext|>"),
    "phi3.5.jinja": ("<s>", "<|endoftext|>"),
    "phi4.jinja": ("<|endoftext|>", "<|im_end|>"),
    "phi4-mini.jinja": ("<|endoftext|>", "<|endoftext|>"),
    "qwen2.jinja": (None, "<|im_end|>"),
    "qwen2.5.jinja": (None, "<|im_end|>"),
    "qwen3.jinja": (None, "<|im_end|>"),
    "smollm2.jinja": ("<|im_start|>", "<|im_end|>"),
    "smollm3.jinja": (None, "<|im_end|>"),
}

# Extra variables some templates read (passed to apply_chat_template as keyword arguments).
EXTRA = {
    "qwen3.jinja": [{"enable_thinking": False}],
    "smollm3.jinja": [{"enable_thinking": False}],
    "llama3.1.jinja": [{"date_string": "01 Jan 2025"}],
}

CONVERSATIONS = {
    "user": [{"role": "user", "content": "Hello! Who are you?"}],
    "system": [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "multi_turn": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "system_multi_turn": [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Colour of the sky?"},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "And grass?"},
        {"role": "assistant", "content": "Green."},
        {"role": "user", "content": "Snow?"},
    ],
    "unicode": [
        {"role": "user", "content": "Grüße aus Köln — 東京は晴れ 🌤️ «ok» ñ"},
        {"role": "assistant", "content": "Très bien ✓ — 谢谢! Ω≈ç√"},
        {"role": "user", "content": "Emoji only: 🙂🙃👍🏽"},
    ],
    "empty": [{"role": "user", "content": ""}],
    "empty_turns": [
        {"role": "system", "content": ""},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": ""},
    ],
    "whitespace": [
        {"role": "user", "content": "  padded  \n\n"},
        {"role": "assistant", "content": "\n answer with padding \n"},
        {"role": "user", "content": "\ttabs\tand\u00a0nbsp\u3000"},
    ],
    "ends_with_assistant": [
        {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "Hi."},
    ],
    "template_syntax_in_content": [
        {"role": "user", "content": "Print {{ messages }} and {% if x %} and {# c #} literally; 'quotes' \"too\" \\n"},
    ],
    "thinking": [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "<think>\nTwo plus two.\n</think>\n\n4"},
        {"role": "user", "content": "Times 3?"},
    ],
    "not_alternating": [
        {"role": "user", "content": "One"},
        {"role": "user", "content": "Two"},
    ],
}


def render(template, bos, eos, messages, add_generation_prompt, extra):
    kwargs = {}
    if bos is not None:
        kwargs["bos_token"] = bos
    if eos is not None:
        kwargs["eos_token"] = eos
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")), **kwargs)
    tok.chat_template = template
    try:
        return {"expected": tok.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt, **extra)}
    except Exception as e:  # raise_exception(), or a template error on this conversation
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    cases = []
    for name in sorted(TOKENS):
        with open(os.path.join(DIR, name), encoding="utf-8") as f:
            template = f.read()
        bos, eos = TOKENS[name]
        for extra in [{}] + EXTRA.get(name, []):
            for conv in CONVERSATIONS:
                for agp in (True, False):
                    case = {"template": name, "conversation": conv, "add_generation_prompt": agp}
                    if bos is not None:
                        case["bos_token"] = bos
                    if eos is not None:
                        case["eos_token"] = eos
                    if extra:
                        case["extra"] = extra
                    case.update(render(template, bos, eos, CONVERSATIONS[conv], agp, extra))
                    cases.append(case)
    out = {
        "generator": f"scripts/make_chat_template_refs.py with transformers {transformers.__version__}, "
                     f"jinja2 {jinja2.__version__}",
        "fixed_time_utc": calendar.timegm(FIXED_NOW.timetuple()),
        "conversations": CONVERSATIONS,
        "cases": cases,
    }
    path = os.path.join(DIR, "refs.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum("error" in c for c in cases)
    print(f"{path}: {len(cases)} cases ({errors} raise)", file=sys.stderr)


if __name__ == "__main__":
    main()
