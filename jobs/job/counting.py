"""Raw lines in, output rows out: the one function both the Ray actors and the in-process path run.

``RowCounter`` is built once per process (a Ray actor, or the driver for small inputs): the
registry, limits and encoders are set up in ``__init__`` so each block of lines only counts. It never raises
for a bad record; anything unexpected becomes an ``internal_error`` row naming the record.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from jobs.config import JobConfig
from jobs.job.batch_usage import Usage
from jobs.job.image_fetch import ImageSizer
from jobs.job.output import output_schema
from jobs.job.records import MISSING, Unwrapper, get_path
from jobs.reports.pricing import price_key
from tokcount_core import RULES_VERSION, ErrorCode, EstimateReason, Limits, Registry, count, default_registry
from tokcount_core.dates import utc_date
from tokcount_core.encoding import prepare, set_backend


class RowCounter:
    """Lines of one shard in, a table in ``output_schema`` out (``count_lines``)."""

    def __init__(self, config: JobConfig, usage: dict[str, Usage] | None = None, *, eager: bool = True):
        self.config = config
        self.usage = usage or {}  # billed usage joined by record id (batch output files)
        self.image_sizer = ImageSizer(config.media)
        self.unwrapper = Unwrapper(config)
        self.registry, self.limits = core_settings(config, eager=eager)
        self.schema = self.schema_for(config)
        self._max_bytes = getattr(self.limits, "max_record_bytes", None)
        self.has_day = "day" in self.schema.names

    @classmethod
    def schema_for(cls, config: JobConfig) -> pa.Schema:
        """The rows' schema; a subclass adding columns (``jobs.datasets``) extends it."""
        return output_schema(config, Unwrapper(config).columns)

    def count_lines(self, source_file: str, first_row: int, raws: list[bytes]) -> pa.Table:
        """Consecutive lines of ``source_file`` from row ``first_row`` on, one output row each."""
        rows = [self.count_line(source_file, first_row + i, raw) for i, raw in enumerate(raws)]
        return pa.Table.from_pylist(rows, schema=self.schema)

    def count_line(self, source_file: str, source_row: int, raw: bytes) -> dict[str, Any]:
        """One output row for one input line, whatever the line holds."""
        where = f"{source_file}:{source_row}"
        row: dict[str, Any] = {"source_file": source_file, "source_row": source_row, "record_id": where,
                               "estimated": False, "estimate_reasons": [], "rules_version": RULES_VERSION}
        if self.config.output.keep_record:
            row["record"] = raw.decode("utf-8", "replace")
        try:
            self._count_into(row, raw, where)
        except Exception as exc:  # a core bug must not stop the job: report it on the record
            _fail(row, ErrorCode.INTERNAL_ERROR, f"{where}: {type(exc).__name__}: {exc}")
        return row

    def _count_into(self, row: dict[str, Any], raw: bytes, where: str) -> None:
        if self._max_bytes is not None and len(raw) > self._max_bytes:
            message = f"{where}: line is {len(raw)} bytes, over {self._max_bytes}"
            return _fail(row, ErrorCode.TOO_LARGE, message)
        if not raw.strip():
            return _fail(row, ErrorCode.INVALID_JSON, f"{where}: empty line")
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:  # nesting past orjson's 1,024 levels is too_large, as in the core
            code = ErrorCode.TOO_LARGE if "depth limit" in str(exc) else ErrorCode.INVALID_JSON
            return _fail(row, code, f"{where}: line is not valid JSON: {exc}")
        ex, layout = self.unwrapper.extract(record)
        row["record_id"] = ex.record_id or where
        row.update(ex.columns)
        if ex.logged_input_tokens is None and ex.output_tokens is None and ex.record_id in self.usage:
            ex.logged_input_tokens, ex.cached_tokens, ex.output_tokens = self.usage[ex.record_id]
        row.update(logged_input_tokens=ex.logged_input_tokens, cached_tokens=ex.cached_tokens,
                   output_tokens=ex.output_tokens, batch=ex.batch, log_loss=ex.log_loss)
        if self.has_day:
            day = utc_date(ex.columns.get("timestamp"))
            row["day"] = day.isoformat() if day else None
        row["model"] = ex.model or _body_model(ex.body) or self.config.model
        if ex.error:
            return _fail(row, ErrorCode.INVALID_REQUEST, f"{where}: {ex.error}")
        if ex.body is None:  # a lossy log without the request (``log_loss`` says why): no count
            return None
        # Rendering eras follow the record's own timestamp unless the config pins a date.
        as_of = self.config.as_of or ex.columns.get("timestamp")
        res = count(ex.body, ex.model, default_model=self.config.model, api=ex.api, as_of=as_of,
                    images=self.image_sizer.hints(ex.body),
                    registry=self.registry, limits=self.limits, return_tokens=self.config.output.tokens)
        row.update(model=res.model or row["model"], encoding=res.encoding, api=res.api,
                   estimated=res.estimated or ex.log_loss is not None,
                   estimate_reasons=[*res.estimate_reasons, *(["log_loss"] if ex.log_loss else [])],
                   rules_version=res.rules_version)
        if res.error_code is not None or res.input_tokens is None:
            field = f"field {layout.request!r}: " if layout and layout.request else ""
            return _fail(row, res.error_code or ErrorCode.INTERNAL_ERROR,
                         f"{where}: {field}{res.error_message or 'no count returned'}")
        row["input_tokens"] = res.input_tokens
        if ex.logged_input_tokens is not None:
            row["delta"] = ex.logged_input_tokens - res.input_tokens
            row["delta_pct"] = 100 * row["delta"] / res.input_tokens if res.input_tokens else None
        details = res.input_tokens_details
        row["input_tokens_details"] = details.model_dump() if details is not None else None
        row["total_tokens"] = res.input_tokens + (ex.output_tokens or 0)
        if self.config.output.tokens:
            row["tokens"] = res.tokens
        if self.config.output.rules:
            row["rules"] = res.rules
        if self.config.output.context:
            window = self._context_window(res.model)
            row["context_window"] = window
            # Fits when the input plus the output the request asks room for is within the window.
            row["fits_context"] = None if window is None else res.input_tokens + _requested_output(ex.body) <= window
        if self.config.pricing:
            row["cost_usd"] = self._cost(res.model, res.input_tokens, ex.output_tokens)

    def _resolved(self, model: str | None) -> tuple[Any, EstimateReason | None]:
        """The model's spec and why it is unverified; ``Registry.resolve`` caches resolved names."""
        if not model:
            return None, None
        try:
            return self.registry.resolve(model)
        except LookupError:
            return None, None

    def _context_window(self, model: str | None) -> int | None:
        spec, _ = self._resolved(model)
        return spec.context_window if spec is not None else None

    def _cost(self, model: str | None, input_tokens: int, output_tokens: int | None) -> float | None:
        key = price_key(model, self.config.pricing, self.registry)
        if key is None:
            return None
        price = self.config.pricing[key]
        dollars = input_tokens * price.input_per_million + (output_tokens or 0) * price.output_per_million
        return dollars / 1e6


def core_settings(config: JobConfig, *, eager: bool = True) -> tuple[Registry, Limits]:
    """The registry and limits a config asks for, with this process's backend selected and, when
    ``eager``, its encoders built (each Ray actor, and the server, does this once); a small input
    builds only the ones its records use, on first use."""
    overrides = config.registry
    registry = default_registry()
    if overrides.aliases or overrides.unknown_model_encoding or overrides.providers:
        registry = registry.with_overrides(aliases=overrides.aliases, providers=overrides.providers,
                                           unknown_model_encoding=overrides.unknown_model_encoding)
    set_backend(config.execution.backend)
    if eager:
        prepare()  # build encoders now, not on the first record
    return registry, Limits(**config.limits)


def _fail(row: dict[str, Any], code: ErrorCode, message: str) -> None:
    row["error_code"] = str(code)
    row["error_message"] = message


def _body_model(body: Any) -> str | None:
    model = get_path(body, "model") if isinstance(body, dict) else MISSING
    return model if isinstance(model, str) else None


def _requested_output(body: Any) -> int:
    if not isinstance(body, dict):
        return 0
    for key in ("max_output_tokens", "max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return 0
