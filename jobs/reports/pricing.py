"""Effective-dated price files: which price was in force for a model on a day.

Prices change (gpt-4o launched at $5/$15 and was cut to $2.50/$10), so each entry holds from its
``from`` date (UTC) until the next entry for the same model. A bad entry is reported with its line; so
is a key given twice (``StrictLoader``) and a price over ``MAX_PRICE_PER_MILLION``.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobs.config import MAX_PRICE_PER_MILLION, ConfigError, read_yaml
from tokcount_core import EstimateReason, Registry

PER_TOKEN = pa.decimal128(38, 18)  # USD per token: exact for any price with up to 12 decimals per 1M
_MILLION = Decimal(1_000_000)
_HALF = Decimal("0.5")


# USD per 1M tokens: finite, 0..MAX_PRICE_PER_MILLION, at most 9 decimals.
Rate = Annotated[Decimal, Field(ge=0, le=MAX_PRICE_PER_MILLION, decimal_places=9, allow_inf_nan=False)]


class PriceEntry(BaseModel):
    """One line of a price file: USD per 1M tokens, in force from ``from`` (UTC)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    model: str = Field(min_length=1, description="a model name, or a family as the registry resolves it")
    since: date = Field(alias="from")
    input: Rate
    cached_input: Rate | None = None
    output: Rate
    batch_input: Rate | None = None
    batch_output: Rate | None = None
    # Fine-tuning training, USD per 1M trained tokens (OpenAI's pricing page, "Fine-tuning";
    # /work/shared/facts/finetune_facts.md §3). Used by ``tokcount finetune``.
    training: Rate | None = None

    def rates(self) -> dict[str, Decimal]:
        """Per-token rates with the documented fallbacks: cached at the input price when no cached
        price; batch at half the list price when no batch price; batch cached at the batch input price."""
        batch_input = self.batch_input if self.batch_input is not None else self.input * _HALF
        per_million = {
            "input": self.input,
            "cached_input": self.cached_input if self.cached_input is not None else self.input,
            "output": self.output,
            "batch_input": batch_input,
            "batch_cached_input": batch_input,
            "batch_output": self.batch_output if self.batch_output is not None else self.output * _HALF,
        }
        return {name: value / _MILLION for name, value in per_million.items()}


@dataclass(frozen=True)
class PriceBook:
    entries: tuple[PriceEntry, ...]
    source: str

    @property
    def models(self) -> frozenset[str]:
        return frozenset(e.model for e in self.entries)

    def in_force(self, model: str, day: date, registry: Registry, field: str = "input") -> PriceEntry | None:
        """The entry pricing ``model`` (its name, else its family) on ``day`` that has ``field`` set."""
        key = price_key(model, self.models, registry)
        dated = [e for e in self.entries if e.model == key and e.since <= day and getattr(e, field) is not None]
        return max(dated, key=lambda e: e.since, default=None)

    def table(self) -> pa.Table:
        """One row per entry (model, from, per-token rates), for an as-of join on the record's day."""
        rows = [{"price_model": e.model, "price_from": e.since, **e.rates()} for e in self.entries]
        fields = [pa.field("price_model", pa.string()), pa.field("price_from", pa.date32())]
        fields += [pa.field(name, PER_TOKEN) for name in _RATE_NAMES]
        return pa.Table.from_pylist(rows, schema=pa.schema(fields))


_RATE_NAMES = ("input", "cached_input", "output", "batch_input", "batch_cached_input", "batch_output")


def price_key(model: str | None, priced: Container[str], registry: Registry) -> str | None:
    """The name a model is priced under: its own, else its family's (not for names flagged
    ``unmapped_model``, such as fine-tuned models, which are priced differently from their family)."""
    if not model:
        return None
    if model in priced:
        return model
    try:
        spec, unverified = registry.resolve(model)
    except LookupError:
        return None
    if spec is None or unverified is EstimateReason.UNMAPPED_MODEL:
        return None
    return spec.family if spec.family in priced else None


def load_prices(path: str | Path) -> PriceBook:
    """Read and validate a price file; every problem names the file, line and field."""
    text, data = read_yaml(path, "price file")
    if isinstance(data, dict) and "pricing" in data and "prices" not in data:
        raise ConfigError(f"price file {path}: a flat 'pricing:' table (the job config's) has no dates; write "
                          "it as 'prices:' entries with model, from, input, output (see configs/pricing.yaml)")
    if not isinstance(data, dict) or set(data) != {"prices"} or not isinstance(data["prices"], list):
        raise ConfigError(f"price file {path}: expected one top-level key 'prices' holding a list of entries")
    lines = _item_lines(yaml.compose(text))
    entries: list[PriceEntry] = []
    seen: dict[tuple[str, date], int] = {}
    for i, item in enumerate(data["prices"]):
        where = f"{path}:{lines[i]}: prices[{i}]"
        try:
            entry = PriceEntry.model_validate(item)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {_describe(exc)}") from None
        key = (entry.model, entry.since)
        if key in seen:
            raise ConfigError(f"{where}: {entry.model} from {entry.since} is already priced on line {seen[key]}")
        seen[key] = lines[i]
        entries.append(entry)
    return PriceBook(tuple(entries), str(path))


def _item_lines(root: Any) -> list[int]:
    """1-based line of each item of the top-level ``prices`` list."""
    for key, value in root.value:
        if key.value == "prices":
            return [node.start_mark.line + 1 for node in value.value]
    return []


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "entry"
        parts.append(f"unknown key {where!r}" if err["type"] == "extra_forbidden" else f"{where}: {err['msg']}")
    return "; ".join(parts)
