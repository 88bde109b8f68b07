"""``tokcount batch``: Batch API input files split by exact input tokens, not by trial and error.

The job counts every record (``run_job``, any input the job takes, ``OUTDIR/_counts``); this module
reads the rows back in input order and writes ``{"custom_id", "method": "POST", "url", "body"}``
lines (/work/shared/facts/batch_api_facts.md §3), one model and one endpoint per file ("each input
file can only include requests to a single model", §2), each file within ``--max-requests`` (50,000),
``--max-bytes`` (200 MB) and ``--max-enqueued-tokens`` (the per-model "Enqueued prompt tokens" of
the organisation's usage tier, §2.2). A record that has an error, or alone exceeds a limit, goes to
``rejected.jsonl`` with the reason.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, BinaryIO

import orjson
import pyarrow.parquet as pq

from jobs.config import ConfigError, JobConfig
from jobs.job.counting import core_settings
from jobs.job.output import OutputDir
from jobs.job.pipeline import Log, log_stderr, run_job
from jobs.job.progress import Progress
from jobs.job.records import Unwrapper
from jobs.reports.pricing import PriceBook, load_prices

# Endpoints whose bodies the core counts (facts §5 lists the Batch endpoints).
ENDPOINT_API = {"/v1/responses": "responses", "/v1/chat/completions": "chat", "/v1/completions": "completions"}
API_ENDPOINT = {api: url for url, api in ENDPOINT_API.items()}
MAX_REQUESTS = 50_000  # "A single batch may include up to 50,000 requests" (facts §2)
MAX_BYTES = 200_000_000  # "a batch input file can be up to 200 MB in size" (facts §2)
COUNTS = "_counts"
MAX_SLUG = 80  # characters of a model name in a plan file name (file systems allow 255 bytes)
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
_COLUMNS = ["record_id", "source_file", "source_row", "model", "api", "input_tokens", "estimated", "error_code",
            "error_message", "record"]


def parse_size(text: str) -> int:
    """``200MB`` (decimal, the safe reading of OpenAI's "200 MB"), ``1GiB``, or plain bytes."""
    found = re.fullmatch(r"\s*(\d+)\s*([KMG]i?B|B)?\s*", text, re.I)
    if not found:
        raise ConfigError(f"cannot read {text!r} as a size (examples: 200MB, 100MiB, 5000000)")
    return int(found.group(1)) * _UNITS[(found.group(2) or "").upper()]


def model_slug(model: str) -> str:
    """The model's part of a plan file name: the name itself when it is a safe one (letters, digits, ``.``,
    ``_``, ``-``, not leading ``.``/``_``, at most ``MAX_SLUG`` characters); else its safe characters, cut
    to ``MAX_SLUG``, then a hash of the whole name, so that a model named with ``/``, NUL or 10,000
    characters still gets a file and two models never share one (``a b`` and ``a_b``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", model).lstrip("._")[:MAX_SLUG]
    if safe == model:
        return model
    return f"{safe}-{hashlib.sha256(model.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


@dataclass(frozen=True)
class BatchOptions:
    model: str
    endpoint: str | None = None
    max_requests: int = MAX_REQUESTS
    max_bytes: int = MAX_BYTES
    max_enqueued_tokens: int | None = None
    pricing: str | None = None


@dataclass
class BatchFile:
    name: str
    model: str
    endpoint: str
    requests: int = 0
    bytes: int = 0
    input_tokens: int = 0
    estimated: int = 0
    estimated_cost_usd: float | None = None
    stream: BinaryIO | None = field(default=None, repr=False)

    def fits(self, size: int, tokens: int, options: BatchOptions) -> bool:
        return (self.requests < options.max_requests and self.bytes + size <= options.max_bytes
                and (options.max_enqueued_tokens is None or self.input_tokens + tokens <= options.max_enqueued_tokens))


class Planner:
    """Assigns records, in input order, to the current file of their (model, endpoint) group."""

    def __init__(self, out: OutputDir, config: JobConfig, options: BatchOptions):
        self.out, self.options = out, options
        self.unwrapper = Unwrapper(config)
        self.files: list[BatchFile] = []
        self.current: dict[tuple[str, str], BatchFile] = {}
        self.ids: set[str] = set()
        self.renamed = 0
        self.rejected: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        if row["error_code"] is not None:
            return self._reject(row, f"{row['error_code']}: {row['error_message']}")
        ex, _ = self.unwrapper.extract(orjson.loads(row["record"]))
        body = orjson.loads(ex.body) if isinstance(ex.body, str) else dict(ex.body)
        endpoint = self.options.endpoint or API_ENDPOINT[row["api"]]
        if ENDPOINT_API[endpoint] != row["api"]:
            return self._reject(row, f"a {row['api']} request cannot be sent to {endpoint}")
        body.setdefault("model", row["model"])
        line = orjson.dumps({"custom_id": self._unique(row["record_id"]), "method": "POST", "url": endpoint,
                             "body": body}) + b"\n"
        tokens, limit = row["input_tokens"], self.options.max_enqueued_tokens
        if len(line) > self.options.max_bytes:
            return self._reject(row, f"the line is {len(line):,} bytes, over --max-bytes {self.options.max_bytes:,}")
        if limit is not None and tokens > limit:
            return self._reject(row, f"{tokens:,} input tokens, over --max-enqueued-tokens {limit:,}")
        target = self._file(body["model"], endpoint, len(line), tokens)
        target.stream.write(line)
        target.requests += 1
        target.bytes += len(line)
        target.input_tokens += tokens
        target.estimated += bool(row["estimated"])

    def _unique(self, custom_id: str) -> str:
        """Batch results are matched by custom_id, so a repeated one gets ``#2``, ``#3``... (counted)."""
        candidate, n = custom_id, 1
        while candidate in self.ids:
            n += 1
            candidate = f"{custom_id}#{n}"
        self.renamed += candidate != custom_id
        self.ids.add(candidate)
        return candidate

    def _file(self, model: str, endpoint: str, size: int, tokens: int) -> BatchFile:
        key = (model, endpoint)
        current = self.current.get(key)
        if current is not None and current.fits(size, tokens, self.options):
            return current
        if current is not None:
            current.stream.close()
        number = sum(1 for f in self.files if (f.model, f.endpoint) == key)
        new = BatchFile(f"{model_slug(model)}.{ENDPOINT_API[endpoint]}.{number:03d}.jsonl", model, endpoint)
        new.stream = self.out.fs.open_output_stream(self.out.join(new.name), compression=None)
        self.files.append(new)
        self.current[key] = new
        return new

    def _reject(self, row: dict[str, Any], reason: str) -> None:
        self.rejected.append({"custom_id": row["record_id"], "source_file": row["source_file"],
                              "source_row": row["source_row"], "reason": reason})

    def close(self) -> None:
        for f in self.current.values():
            f.stream.close()


def run_batch(inputs: list[str], outdir: str, config: JobConfig, options: BatchOptions, *,
              overwrite: bool = False, log: Log = log_stderr, progress: Progress | None = None) -> dict[str, Any]:
    if options.endpoint is not None and options.endpoint not in ENDPOINT_API:
        raise ConfigError(f"--endpoint must be one of {', '.join(ENDPOINT_API)}, got {options.endpoint}")
    if options.max_requests < 1 or options.max_bytes < 1:
        raise ConfigError("--max-requests and --max-bytes must be positive")
    prices = load_prices(options.pricing) if options.pricing else None
    # _counts/ only feeds this plan: an edited input is counted again (the plan is rewritten from it).
    config = config.with_updates(**{"model": options.model, "output.keep_record": True,
                                    "execution.replace_changed": True})
    out = OutputDir(outdir)
    result = run_job(inputs, out.join(COUNTS), config, overwrite=overwrite, log=log, progress=progress)
    _remove_previous_plan(out)
    planner = Planner(out, config, options)
    counts = OutputDir(out.join(COUNTS), out.fs)
    try:
        for shard in result.manifest["inputs"]:
            for rel in shard["outputs"]:
                for batch in pq.ParquetFile(counts.join(rel), filesystem=out.fs).iter_batches(columns=_COLUMNS):
                    for row in batch.to_pylist():
                        planner.add(row)
    finally:
        planner.close()
    with out.fs.open_output_stream(out.join("rejected.jsonl"), compression=None) as f:
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in planner.rejected))
    plan = _plan(planner, options, prices, config)
    out.write_json(plan, "plan.json")
    out.cleanup()
    return plan


def _plan(planner: Planner, options: BatchOptions, prices: PriceBook | None, config: JobConfig) -> dict[str, Any]:
    registry, _ = core_settings(config) if prices else (None, None)
    today = datetime.now(UTC).date()
    for f in planner.files:
        entry = prices.in_force(f.model, today, registry) if prices else None
        if entry is not None:  # batch input price, else half the list price (pricing.py)
            f.estimated_cost_usd = float(round(entry.rates()["batch_input"] * f.input_tokens, 6))
    files = [{"name": f.name, "model": f.model, "endpoint": f.endpoint, "requests": f.requests, "bytes": f.bytes,
              "input_tokens": f.input_tokens, "estimated": f.estimated, "estimated_cost_usd": f.estimated_cost_usd}
             for f in planner.files]
    costs = [f["estimated_cost_usd"] for f in files]
    return {
        "limits": {"max_requests": options.max_requests, "max_bytes": options.max_bytes,
                   "max_enqueued_tokens": options.max_enqueued_tokens},
        "files": files,
        "totals": {"files": len(files), "requests": sum(f["requests"] for f in files),
                   "bytes": sum(f["bytes"] for f in files), "input_tokens": sum(f["input_tokens"] for f in files),
                   "estimated": sum(f["estimated"] for f in files),
                   "estimated_cost_usd": (float(round(sum(map(Decimal, map(str, costs))), 6))
                                          if costs and None not in costs else None)},
        "rejected": len(planner.rejected),
        "renamed_custom_ids": planner.renamed,
    }


def _remove_previous_plan(out: OutputDir) -> None:
    """A rerun replaces the earlier plan's files, whatever their number."""
    old = out.read_json("plan.json")
    for name in [f["name"] for f in (old or {}).get("files", [])] + ["plan.json", "rejected.jsonl"]:
        path = out.join(name)
        if out.fs.get_file_info(path).type.name == "File":
            out.fs.delete_file(path)


def plan_table(plan: dict[str, Any]) -> str:
    rows = [(f["name"], f"{f['requests']:,}", f"{f['bytes']:,}", f"{f['input_tokens']:,}",
             "-" if f["estimated_cost_usd"] is None else f"{f['estimated_cost_usd']:,.4f}") for f in plan["files"]]
    t = plan["totals"]
    cost = "-" if t["estimated_cost_usd"] is None else f"{t['estimated_cost_usd']:,.4f}"
    rows.append(("total", f"{t['requests']:,}", f"{t['bytes']:,}", f"{t['input_tokens']:,}", cost))
    header = ("file", "requests", "bytes", "input tokens", "cost USD")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [header, *rows]]
    return "\n".join([*lines, f"rejected: {plan['rejected']} (rejected.jsonl)"]) + "\n"
