#!/usr/bin/env python3
"""Writes tests/data/tokenizer/llama3_cases.json: token ids the Hugging Face `tokenizers` library
gives for a handful of strings, for tokenizers that have no conformance vectors in shared/.
tests/tokenizer_bpe_test.cc checks `Tokenizer::from_hf_json` against them.

Usage: PYTHONPATH=/path/to/tokenizers python3 tools/make_tokenizer_goldens.py [SHARED_DIR]
(SHARED_DIR defaults to ../shared relative to the repository root.)
"""
import json
import os
import sys

from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, '..', 'shared')

TEXTS = [
    "Hello world",
    " Hello world",
    "Once upon a time, there was a little girl named Lily.",
    "It's 12345 o'clock, isn't it? I'M SURE they'LL come",
    "   leading spaces and trailing   ",
    "line one\nline two\r\n\n\ttabbed",
    "numbers: 1 12 123 1234 3.14159 1,000,000",
    "naïve café Ünïcödé — “quotes” … ½",
    "中文字符 日本語のテキスト 한국어 текст Ελληνικά",
    "emoji: 🦙🚀 👨‍👩‍👧 ❤️",
    "code: def f(x):\n    return x**2  # square\n",
    "<|begin_of_text|>not special unless asked",
    "",
    "a",
]

CASES = [
    # (tokenizer.json under shared/, add_special_tokens, texts)
    ("tokenizer-tests/hf-llama3/tokenizer.json", False, TEXTS),
    ("tokenizer-tests/hf-qwen3/tokenizer.json", False, TEXTS),
    ("models/TinyStories-656K/tokenizer.json", False, TEXTS),
    ("models/TinyStories-656K/tokenizer.json", True, ["Once upon a time", "Once upon a time, there was a little girl named Lily."]),
]


def main():
    out = []
    for rel, add_special, texts in CASES:
        tok = Tokenizer.from_file(os.path.join(SHARED, rel))
        for text in texts:
            ids = tok.encode(text, add_special_tokens=add_special).ids
            out.append({"tokenizer": rel, "add_special": add_special, "text": text, "ids": ids})
    path = os.path.join(ROOT, 'tests', 'data', 'tokenizer', 'llama3_cases.json')
    with open(path, 'w', encoding='utf-8') as f:
        # One case per line keeps the file short and its diffs readable.
        f.write('[\n' + ',\n'.join(json.dumps(c, ensure_ascii=False) for c in out) + '\n]\n')
    print(f"wrote {len(out)} cases to {path}")


if __name__ == '__main__':
    main()
