"""``tokcount explain BODY.json``: which piece of a request costs how many tokens."""

from __future__ import annotations

import sys
from pathlib import Path

from jobs.config import ConfigError


def run_explain(path: str, model: str | None = None) -> int:
    from tokcount_core import count

    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    res = count(raw, default_model=model, explain=True)
    if res.error_code is not None:
        print(f"{res.error_code}: {res.error_message}", file=sys.stderr)
        return 1
    rows = [(s.category, s.label, s.tokens, _preview(s.text)) for s in res.segments or []]
    width = max((len(r[0]) for r in rows), default=8), max((len(r[1]) for r in rows), default=5)
    for category, label, tokens, text in rows:
        print(f"{category:<{width[0]}}  {label:<{width[1]}}  {tokens:>7}  {text}")
    print(f"{'total':<{width[0]}}  {res.model or '':<{width[1]}}  {res.input_tokens:>7}"
          + ("  (estimated: " + ", ".join(res.estimate_reasons) + ")" if res.estimated else ""))
    return 0


def _preview(text: str | None, limit: int = 60) -> str:
    if text is None:
        return ""
    flat = text.replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
