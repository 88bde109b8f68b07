"""Encoders, built once per process and cached (the hot path starts here)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import regex
import tiktoken

from tokcount_core import backends
from tokcount_core.load import parse_ranks, vocabulary_file

# Split patterns and special tokens copied from tiktoken_ext/openai_public.py (tiktoken 0.14).
_CL100K_PAT = "|".join(
    [
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+""",
        r"""\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    ]
)
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
# GPT-2's pattern, shared by r50k_base and p50k_base (legacy Completions models).
_R50K_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
_SPECIALS = {
    "r50k_base": {"<|endoftext|>": 50256},
    "p50k_base": {"<|endoftext|>": 50256},
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
# o200k_harmony = o200k_base ranks + harmony's chat-format specials (gpt-oss); see openai/harmony.
_SPECIALS["o200k_harmony"] = {
    **_SPECIALS["o200k_base"],
    "<|startoftext|>": 199998,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|call|>": 200012,
} | {f"<|reserved_{i}|>": i for i in (200000, 200001, 200004, 200009, 200010, 200011, *range(200013, 201088))}

_VOCAB = {"cl100k_base": ("cl100k_base", _CL100K_PAT), "o200k_base": ("o200k_base", _O200K_PAT),
          "o200k_harmony": ("o200k_base", _O200K_PAT), "p50k_base": ("p50k_base", _R50K_PAT),
          "r50k_base": ("r50k_base", _R50K_PAT)}
# Legacy Completions encodings: rare in traffic, so always tiktoken (the fast backend's differential
# tests cover the chat encodings only), and not built up front.
_TIKTOKEN_ONLY = frozenset({"p50k_base", "r50k_base"})
# tiktoken's Rust regex overflows its stack (a panic, not an Exception) on whitespace runs somewhere
# between 300k and 1M characters; from this length on we split pieces in Python instead.
LONG_WHITESPACE = 65_536
_LONG_RUN = re.compile(rf"\s{{{LONG_WHITESPACE}}}")

ENCODING_NAMES = tuple(name for name in _VOCAB if name not in _TIKTOKEN_ONLY)


@functools.cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken encoder for ``name``, from bundled, hash-checked vocabulary."""
    vocab, pattern = _VOCAB[name]
    return tiktoken.Encoding(
        name=name,
        pat_str=pattern,
        mergeable_ranks=_ranks(vocab),
        special_tokens=_SPECIALS[name],
    )


@functools.cache
def _ranks(vocab: str) -> dict[bytes, int]:
    return parse_ranks(verified_vocabulary(vocab))


@functools.cache
def verified_vocabulary(vocab: str) -> bytes:
    """The hash-checked ``.tiktoken`` file, read once per process (the backends load it as is)."""
    return vocabulary_file(vocab)


_backend = "tiktoken"


def set_backend(name: str) -> str:
    """Pick the BPE implementation of this process: ``tiktoken`` (the default), ``fastokens``
    (identical tokens, several times faster; installed by default where it has a wheel) or ``auto``
    (fastokens when installed). Returns the backend now in use. Per process: Ray workers set their own."""
    global _backend
    _backend = resolve_backend(name)
    return _backend


def resolve_backend(name: str) -> str:
    """The backend ``name`` means here (``auto`` resolved); raises if it is unknown or not installed."""
    if name == "auto":
        name = "fastokens" if backends.available("fastokens") else "tiktoken"
    if name not in backends.BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(backends.BACKENDS)} or auto")
    if not backends.available(name):
        raise ImportError(f"backend {name!r} is not installed here (no wheel for this platform?): "
                          f"pip install fastokens")
    return name


def get_backend() -> str:
    return _backend


def prepare(names: tuple[str, ...] = ENCODING_NAMES) -> None:
    """Build the encoders now, not inside the first timed record: with the fast backend only its
    own (tiktoken's are built if a text ever needs them: fallbacks, ids), each on its own thread
    (its Rust build, a second or two of every worker's start-up, releases the GIL for part of it)."""
    vocabs = dict.fromkeys(_VOCAB[name] for name in names)
    fast = {key for key in vocabs if _backend != "tiktoken" and key[0] not in _TIKTOKEN_ONLY}
    slow = [name for name in names if _VOCAB[name] not in fast]
    for vocab in dict.fromkeys(_VOCAB[name][0] for name in slow):
        _ranks(vocab)  # before the threads: functools.cache would let two of them read one vocabulary
    builds = [functools.partial(backends.fastokens_bpe, *key) for key in fast]
    builds += [functools.partial(get_encoding, name) for name in slow]
    with ThreadPoolExecutor(len(builds)) as pool:
        for future in [pool.submit(build) for build in builds]:
            future.result()


def encode_ordinary(encoding: tiktoken.Encoding, text: str) -> list[int]:
    """``encoding.encode_ordinary`` through the selected backend, coping with huge whitespace runs.

    The fallback splits with the same pattern using the ``regex`` module (what tiktoken's own
    educational implementation does) and runs tiktoken's BPE on each piece: identical tokens
    (checked in tests against tiktoken on random text), bounded time, no panic. Only code points
    that one Unicode version assigns and the other does not could split differently.
    """
    if _backend != "tiktoken" and encoding.name not in _TIKTOKEN_ONLY:
        ids = backends.fastokens_bpe(*_VOCAB[encoding.name]).encode(text)
        if ids is not None:
            return ids
    return _tiktoken_encode(encoding, text)


def _tiktoken_encode(encoding: tiktoken.Encoding, text: str) -> list[int]:
    if len(text) >= LONG_WHITESPACE and _LONG_RUN.search(text):
        return _encode_by_pieces(encoding, text)
    return encoding.encode_ordinary(text)


def token_counter(name: str) -> Callable[[str], int]:
    """``len(encode_ordinary(...))`` for encoding ``name`` with the selected backend: fetch it once
    per record; a backend that can count without building the id list does so."""
    return _token_counter(name, _backend)


@functools.cache
def _token_counter(name: str, backend: str) -> Callable[[str], int]:
    def tiktoken_count(text: str) -> int:
        return len(_tiktoken_encode(get_encoding(name), text))

    if backend == "tiktoken" or name in _TIKTOKEN_ONLY:
        return tiktoken_count
    return backends.fastokens_bpe(*_VOCAB[name]).counter(tiktoken_count)


def _encode_by_pieces(encoding: tiktoken.Encoding, text: str) -> list[int]:
    # Lone surrogates become U+FFFD, as tiktoken's encode_ordinary does.
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    splitter = _splitter(encoding.name)
    out: list[int] = []
    for piece in splitter.findall(text):
        out.extend(encoding._encode_single_piece(piece.encode("utf-8")))
    return out


@functools.cache
def _splitter(name: str) -> regex.Pattern[str]:
    return regex.compile(_VOCAB[name][1])
