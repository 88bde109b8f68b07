"""Exact BPE backends faster than tiktoken, behind ``tokcount_core.encoding.set_backend``.

A backend replaces only tiktoken's ``encode_ordinary`` on the hot path. The vocabulary still comes
from the bundled, hash-checked files (``tokcount_core.load``), and tiktoken stays the reference for
everything else: decoding, the huge-whitespace fallback, and any text a backend is known to split
differently or cannot take (lone surrogates). ``tests/core/test_backends.py`` checks identical
tokens on every reference-case text, random Unicode and every code point in context.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from typing import Any

BACKENDS = ("tiktoken", "fastokens")

# Code points that PCRE2 (fastokens) and Rust's regex crate (tiktoken) classify differently, found by
# the all-code-point sweep in the tests: U+180E MONGOLIAN VOWEL SEPARATOR is ``\s`` to PCRE2 only
# (it stopped being White_Space in Unicode 6.3), which changes cl100k splits. Such texts go to tiktoken.
DIVERGENT_CODE_POINTS = frozenset({0x180E})
_DIVERGENT_CHARS = tuple(map(chr, sorted(DIVERGENT_CODE_POINTS)))


def available(name: str) -> bool:
    """Whether backend ``name`` can be used here (fastokens: a default dependency only where it has a wheel)."""
    if name == "tiktoken":
        return True
    try:
        import fastokens  # noqa: F401
    except ImportError:
        return False
    return name in BACKENDS


class FastokensBPE:
    """fastokens' Rust BPE (about 5-10x tiktoken on chat text) over our own vocabulary file."""

    def __init__(self, vocabulary: bytes, pattern: str):
        import fastokens

        # fastokens reads tiktoken files only from a path: the verified file goes to a private temp file.
        with tempfile.TemporaryDirectory(prefix="tokcount-vocab-") as tmp:
            path = os.path.join(tmp, "vocab.tiktoken")
            with open(path, "wb") as fh:
                fh.write(vocabulary)
            self._tokenizer: Any = fastokens.Tokenizer.from_tiktoken(path, pattern=pattern, special_tokens={})
        self._encode = self._tokenizer.encode_ordinary

    def encode(self, text: str) -> list[int] | None:
        """Token ids, or None when the caller must use tiktoken for this text."""
        if any(c in text for c in _DIVERGENT_CHARS):
            return None
        try:
            return self.encode_unchecked(text)
        except BaseException as exc:  # lone surrogates, a Rust panic: tiktoken decides
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            return None

    def counter(self, fallback: Callable[[str], int]) -> Callable[[str], int]:
        """A token counter that never builds the id list; ``fallback`` (tiktoken) counts the rest.
        One flat closure: this runs for every text segment of every record."""
        encode, divergent = self._encode, _DIVERGENT_CHARS

        def count(text: str) -> int:
            for c in divergent:
                if c in text:
                    return fallback(text)
            try:
                return len(encode(text))
            except BaseException as exc:  # lone surrogates, a Rust panic: tiktoken decides
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                return fallback(text)

        return count

    def encode_unchecked(self, text: str) -> list[int]:
        """fastokens' own answer, without the routing (the differential tests compare this)."""
        return self._encode(text).ids


@functools.cache
def fastokens_bpe(vocab: str, pattern: str) -> FastokensBPE:
    """One tokenizer per vocabulary and pattern per process (building one takes about a second)."""
    from tokcount_core.encoding import verified_vocabulary

    return FastokensBPE(verified_vocabulary(vocab), pattern)
