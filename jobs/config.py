"""The job's configuration: one pydantic model, strict (``extra="forbid"``) so a typo fails loudly.

A YAML file gives the defaults; CLI flags override single fields (see ``jobs.cli``). Everything a
worker needs travels inside this model, so it must stay picklable and small.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from datetime import date
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Format = Literal["auto", "bare", "wrapped", "log", "openai_batch_input", "openai_batch_output", "finetune",
                 "bifrost", "bifrost_logs", "litellm_spend_logs", "otlp_json", "langfuse"]
Api = Literal["chat", "responses", "bifrost", "completions"]
Encoding = Literal["cl100k_base", "o200k_base", "o200k_harmony", "p50k_base", "r50k_base"]


class ConfigError(ValueError):
    """A fatal configuration problem; the CLI prints it as one line and exits non-zero."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fields(_Strict):
    """Dotted paths into a wrapped record (``response.usage``, ``messages.0.content``).

    ``request`` is where the body is; a string there is parsed as JSON (logs often store bodies as
    strings, Parquet often as a JSON string column). Unset paths mean "not present in this log".
    """

    request: str | None = None
    record_id: str | None = None
    model: str | None = Field(None, description="model that overrides the body's model")
    tenant: str | None = None
    timestamp: str | None = None
    usage: str | None = None


# No list price comes near this (USD per 1M tokens); a larger one is a typo (1e30, a price per token
# entered per 1M...), refused rather than turned into absurd costs.
MAX_PRICE_PER_MILLION = 10_000


class Price(_Strict):
    """USD per million tokens."""

    input_per_million: float = Field(ge=0, le=MAX_PRICE_PER_MILLION, allow_inf_nan=False)
    output_per_million: float = Field(0.0, ge=0, le=MAX_PRICE_PER_MILLION, allow_inf_nan=False)


class RegistryOverrides(_Strict):
    """Passed to ``default_registry().with_overrides``: map deployment names to known models."""

    aliases: dict[str, str] = Field(default_factory=dict)
    unknown_model_encoding: Encoding | None = None
    providers: list[str] = Field(default_factory=list)


class Output(_Strict):
    tokens: bool = Field(False, description="add the token ids as list<int32> (large!)")
    context: bool = Field(False, description="add context_window and fits_context")
    rules: bool = Field(False, description="add the ids of the rules each count used as list<string>")
    keep_record: bool = Field(False, description="carry the original line as column 'record'")
    max_input_tokens: int | None = Field(None, ge=1, description="split rows into kept/ and rejected/")
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    partition_by: Literal["day"] | None = Field(
        None, description="'day': write day=YYYY-MM-DD/<shard>.parquet (Hive style) by the record's UTC date")


class Media(_Strict):
    """Remote images: never fetched unless ``allow_fetch`` and the URL's host is allow-listed
    (a fetch from request content is an SSRF risk). ``default_image_size`` prices the rest."""

    allow_fetch: bool = False
    allow_hosts: list[str] = Field(default_factory=list, description="exact host names, e.g. cdn.example.com")
    timeout_seconds: float = Field(5.0, gt=0)
    max_bytes: int = Field(20 * 1024 * 1024, gt=0, description="largest image body read")
    default_image_size: tuple[int, int] | None = Field(None, description="(width, height) for unknown sizes")

    @model_validator(mode="after")
    def _hosts_needed(self) -> Media:
        if self.allow_fetch and not self.allow_hosts:
            raise ValueError("media.allow_fetch needs media.allow_hosts (fetching any host is never allowed)")
        return self


# Where forking a process per core is paid back (measured with ``python -m jobs.bench``, docs/benchmark.md).
SMALL_INPUT_BYTES = 8 * 1000 * 1000


class Execution(_Strict):
    engine: Literal["auto", "ray", "local", "in-process"] = Field(
        "auto", description="auto: Ray on a cluster, else in-process below small_input_bytes, else local")
    small_input_bytes: int = Field(SMALL_INPUT_BYTES, ge=0, description="below this, count in one process")
    force_ray: bool = Field(False, description="the same as engine: ray")
    lines_per_block: int = Field(2000, ge=1, description="lines counted and written to Parquet at a time")
    split_bytes: int = Field(64 * 1024 * 1024, ge=4096,
                             description="larger shards (as stored) are written as parts, counted in parallel")
    # About split_bytes of typical logged chat traffic (6 KB a row), so a store is cut like the same traffic
    # as a JSONL file: at 100,000 a 500 MB store was one range, one worker (python -m jobs.bench.stores).
    range_rows: int = Field(10_000, ge=1, description="a SQLite log store is counted in ranges of this many rowids")
    range_seconds: int = Field(3600, ge=1, description="a PostgreSQL log store is counted in ranges of this much "
                                                       "request time")
    settle_seconds: int = Field(600, ge=0, description="a PostgreSQL log store is read up to this long before now: "
                                                       "rows are written after their request ends")
    actors: int | None = Field(None, ge=1, description="Ray actors; default one per CPU of the cluster")
    address: str | None = None
    verify_inputs: bool = Field(False, description="on resume, re-hash inputs instead of trusting size+mtime")
    replace_changed: bool = Field(False, description="recount an input whose bytes changed other than by growing, "
                                                     "dropping the rows an earlier run wrote for it")
    # Same tokens whichever runs (tests/core/test_backends.py), so not part of the fingerprint.
    backend: Literal["auto", "tiktoken", "fastokens"] = Field(
        "auto", description="BPE implementation; auto = fastokens where installed (by default where it has a "
                            "wheel), else tiktoken")


class Store(_Strict):
    """Reading a log store (``sqlite:///...``, ``postgresql://...``): which of its columns is the tenant."""

    tenant: str | None = Field(None, description="the column written as 'tenant' (default: Bifrost "
                                                 "virtual_key_name, LiteLLM team_id)")


class JobConfig(_Strict):
    format: Format = "auto"
    fields: Fields = Field(default_factory=Fields)
    passthrough: dict[str, str] = Field(default_factory=dict, description="column name -> dotted path")
    model: str | None = Field(None, description="default model for records that have none (--model)")
    api: Api | None = None
    as_of: date | None = None
    limits: dict[str, Any] = Field(default_factory=dict, description="tokcount_core.Limits fields")
    registry: RegistryOverrides = Field(default_factory=RegistryOverrides)
    pricing: dict[str, Price] = Field(default_factory=dict, description="model -> price; adds cost_usd")
    media: Media = Field(default_factory=Media)
    usage_from: list[str] = Field(default_factory=list,
                                  description="OpenAI batch output files whose usage is joined by custom_id")
    output: Output = Field(default_factory=Output)
    execution: Execution = Field(default_factory=Execution)
    store: Store = Field(default_factory=Store)
    # Which rows of a log store a run reads (UTC days, inclusive): not part of a row, so not of the fingerprint.
    since: date | None = None
    until: date | None = None

    @model_validator(mode="after")
    def _check(self) -> JobConfig:
        reserved = set(_RESERVED_COLUMNS) & set(self.passthrough)
        if reserved:
            raise ValueError(f"passthrough column(s) {sorted(reserved)} clash with output columns")
        if self.output.partition_by == "day" and not (self.fields.timestamp or self.format in _TIMESTAMPED):
            raise ValueError(f"output.partition_by: day needs a timestamp: set fields.timestamp or use format "
                             f"{', '.join(_TIMESTAMPED)}")
        if self.format == "finetune" and not self.model:
            raise ValueError("format finetune needs a default model (--model or model:)")
        if self.limits:
            from tokcount_core import Limits

            Limits(**self.limits)
        return self

    def fingerprint(self, rows: str = "") -> str:
        """Hash of everything that changes output rows (not execution knobs): a changed config
        invalidates finished shards on resume. ``rows`` names another kind of row (``tokcount
        finetune``'s), so a shard counted by one command is not taken as done by another."""
        data = self.model_dump(mode="json", exclude={"execution", "since", "until"})
        if data["store"] == Store().model_dump(mode="json"):
            del data["store"]  # outputs counted before log stores existed keep their fingerprint
        if rows:
            data["rows"] = rows
        return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]

    def with_updates(self, **updates: Any) -> JobConfig:
        """A copy with dotted-key updates (``output.tokens=True``), validated again."""
        data = self.model_dump()
        for key, value in updates.items():
            if value is None:
                continue
            node = data
            *parents, leaf = key.split(".")
            for part in parents:
                node = node[part]
            node[leaf] = value
        return validate_config(data, source="command line")


_TIMESTAMPED = ("auto", "log", "bifrost", "bifrost_logs", "litellm_spend_logs", "otlp_json",
                "langfuse")  # presets that carry a timestamp path

_RESERVED_COLUMNS = (
    "record_id", "source_file", "source_row", "model", "encoding", "api", "input_tokens",
    "input_tokens_details", "logged_input_tokens", "cached_tokens", "output_tokens", "delta", "delta_pct",
    "batch", "day", "total_tokens", "estimated",
    "estimate_reasons", "error_code", "error_message", "rules_version", "tenant", "timestamp", "tokens", "rules",
    "context_window", "fits_context", "record", "cost_usd", "log_loss",
)


def validate_config(data: Any, source: str) -> JobConfig:
    try:
        return JobConfig.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_one_line(exc)}") from None
    except (TypeError, ValueError) as exc:  # Limits(**...) from the core
        raise ConfigError(f"{source}: {exc}".splitlines()[0]) from None


class StrictLoader(yaml.SafeLoader):
    """``yaml.safe_load`` minus its silent surprises: a key given twice in a mapping (where the last one
    would win, e.g. ``{input: 5, input: 0}``) is an error naming its line, and a date that does not exist
    (``2024-13-45``) stays a string for the schema to refuse by field name, instead of a ``ValueError``."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<' merges may repeat, and keys given here override merged ones
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # SafeLoader's own error says so
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {first[key]})", key_node.start_mark)
            first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", StrictLoader.construct_yaml_timestamp)


def read_yaml(path: str | Path, what: str) -> tuple[str, Any]:
    """The text of a YAML file and its data, read with ``StrictLoader``; any problem is a one-line
    ``ConfigError`` naming ``what`` (``config``, ``price file``), the file and the line."""
    try:
        text = Path(path).read_text()
        return text, yaml.load(text, Loader=StrictLoader)  # a SafeLoader: no arbitrary objects
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{what} {path}{line} is not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {str(exc).splitlines()[0]}") from None


def load_config(path: str | Path | None) -> JobConfig:
    """Read and validate a YAML job config; ``None`` gives the defaults."""
    if path is None:
        return JobConfig()
    _, data = read_yaml(path, "config")
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config {path}: top level must be a mapping")
    return validate_config(data, source=f"config {path}")


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key {where!r}")
        else:
            parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
