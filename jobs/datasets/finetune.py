"""``tokcount finetune``: check and count a fine-tuning dataset at job scale, then size the training run.

The job (``run_job`` with ``ExampleCounter``) writes ``kept/`` (valid, within the training-example
limit) and ``rejected/`` with resume and manifest as ``tokcount count`` does; this module resolves
the limit, and reads the rows back for ``_reports/finetune/summary.json`` and ``summary.md``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs.config import ConfigError, JobConfig
from jobs.datasets.examples import NO_LIMIT, ExampleCounter
from jobs.job.counting import core_settings
from jobs.job.output import OutputDir
from jobs.job.pipeline import Log, log_stderr, run_job
from jobs.job.progress import Progress
from jobs.reports.pricing import load_prices

# The cookbook's defaults, verbatim (finetune_facts.md §1.4): target 3 epochs, clamped so that
# examples x epochs stays within 100..25,000, epochs within 1..25.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
# "To fine-tune a model, you are required to provide at least 10 examples." (facts §2)
MIN_EXAMPLES = 10
REPORT_DIR = ("_reports", "finetune")
_COLUMNS = ["input_tokens", "trained_tokens", "over_limit", "estimated", "error_code", "format_error"]


@dataclass(frozen=True)
class FinetuneOptions:
    model: str
    epochs: int | None = None
    max_example_tokens: int | None = None
    pricing: str | None = None


def default_epochs(n_examples: int) -> int:
    """The cookbook's ``n_epochs`` for a dataset of ``n_examples`` (facts §1.4)."""
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def example_limit(config: JobConfig, options: FinetuneOptions) -> int | None:
    """``--max-example-tokens``, else the registry's training-example limit for the model."""
    if options.max_example_tokens is not None:
        return options.max_example_tokens
    registry, _ = core_settings(config)
    try:
        spec, _ = registry.resolve(options.model)
    except LookupError as exc:
        raise ConfigError(f"--model {options.model}: {exc}") from None
    return spec.training_example_limit


def run_finetune(inputs: list[str], output: str, config: JobConfig, options: FinetuneOptions, *,
                 overwrite: bool = False, log: Log = log_stderr, progress: Progress | None = None) -> dict[str, Any]:
    if options.epochs is not None and not 1 <= options.epochs <= MAX_DEFAULT_EPOCHS:
        raise ConfigError(f"--epochs must be 1..{MAX_DEFAULT_EPOCHS}, got {options.epochs}")
    prices = load_prices(options.pricing) if options.pricing else None  # a bad price file fails first
    limit = example_limit(config, options)
    # An edited dataset is counted again: its earlier rows describe examples that are gone.
    config = config.with_updates(**{"format": "finetune", "model": options.model, "output.keep_record": True,
                                    "output.max_input_tokens": NO_LIMIT if limit is None else limit,
                                    "execution.replace_changed": True})
    result = run_job(inputs, output, config, overwrite=overwrite, log=log, counter=ExampleCounter, progress=progress)
    out = OutputDir(output)
    rows = pa.concat_tables(pq.read_table(out.join(rel), columns=_COLUMNS, filesystem=out.fs)
                            for shard in result.manifest["inputs"] for rel in shard["outputs"])
    summary = summarize(rows, limit, options)
    if prices is not None:
        registry, _ = core_settings(config)
        entry = prices.in_force(options.model, datetime.now(UTC).date(), registry, "training")
        if entry is not None:
            cost = entry.training * summary["billed_tokens"] / Decimal(1_000_000)
            summary["estimated_cost_usd"] = float(round(cost, 6))
            summary["training_price_per_million"] = float(entry.training)
        else:
            summary["warnings"].append(f"no training price for {options.model} in {options.pricing}")
    out.write_json(summary, *REPORT_DIR, "summary.json")
    with out.fs.open_output_stream(out.join(*REPORT_DIR, "summary.md"), compression=None) as f:
        f.write(summary_markdown(summary).encode())
    out.cleanup()
    return summary


def summarize(rows: pa.Table, limit: int | None, options: FinetuneOptions) -> dict[str, Any]:
    valid = rows.filter(pc.is_null(rows.column("error_code")))
    tokens = valid.column("input_tokens")
    codes = [f or e for f, e in zip(rows.column("format_error").to_pylist(), rows.column("error_code").to_pylist(),
                                    strict=True) if e is not None]
    n_valid = valid.num_rows
    n_epochs = options.epochs or (default_epochs(n_valid) if n_valid else None)
    capped = pc.sum(pc.min_element_wise(tokens, limit)).as_py() if limit is not None else pc.sum(tokens).as_py()
    over = pc.sum(valid.column("over_limit").cast(pa.int64())).as_py() or 0
    summary: dict[str, Any] = {
        "model": options.model,
        "examples": rows.num_rows,
        "valid": n_valid,
        "format_errors": dict(sorted(Counter(codes).items())),
        "tokens": _distribution(tokens),
        "trained_tokens": pc.sum(valid.column("trained_tokens")).as_py() or 0,
        "estimated": pc.sum(valid.column("estimated").cast(pa.int64())).as_py() or 0,
        "over_limit": over,
        "example_limit": limit,
        "kept": n_valid - over,
        "rejected": rows.num_rows - n_valid + over,
        "n_epochs": n_epochs,
        "epochs_from": "--epochs" if options.epochs else "default",
        # billed_tokens = n_epochs * sum(min(limit, input_tokens)) over valid examples (facts §1.4:
        # the cookbook's n_billing_tokens_in_dataset; §2: "tokens in the input file x epochs")
        "billed_tokens": (n_epochs or 0) * (capped or 0),
        "warnings": [],
    }
    if n_valid < MIN_EXAMPLES:
        summary["warnings"].append(f"{n_valid} valid example(s): the API refuses fewer than {MIN_EXAMPLES}")
    if over:
        summary["warnings"].append(f"{over} example(s) over the {limit:,}-token limit would be truncated (rejected/)")
    if limit is None:
        summary["warnings"].append(f"no training-example limit is known for {options.model}; "
                                   "pass --max-example-tokens")
    return summary


def _distribution(tokens: pa.ChunkedArray) -> dict[str, float | int | None]:
    if len(tokens) == 0:
        return {"min": None, "max": None, "mean": None, "p50": None, "p95": None}
    p50, p95 = (round(q, 1) for q in pc.quantile(tokens, q=[0.5, 0.95], interpolation="linear").to_pylist())
    return {"min": pc.min(tokens).as_py(), "max": pc.max(tokens).as_py(), "mean": round(pc.mean(tokens).as_py(), 1),
            "p50": p50, "p95": p95}


def summary_markdown(summary: dict[str, Any]) -> str:
    t = summary["tokens"]
    lines = [
        f"# Fine-tuning data: {summary['model']}",
        "",
        "| | |",
        "| --- | ---: |",
        f"| examples | {summary['examples']:,} |",
        f"| valid | {summary['valid']:,} |",
        *(f"| format error `{code}` | {n:,} |" for code, n in summary["format_errors"].items()),
        f"| input tokens min / p50 / p95 / max | {t['min']} / {t['p50']} / {t['p95']} / {t['max']} |",
        f"| input tokens mean | {t['mean']} |",
        f"| trained tokens (weight 1) | {summary['trained_tokens']:,} |",
        f"| estimated counts | {summary['estimated']:,} |",
        f"| example limit | {summary['example_limit'] if summary['example_limit'] is not None else 'unknown'} |",
        f"| over the limit | {summary['over_limit']:,} |",
        f"| epochs ({summary['epochs_from']}) | {summary['n_epochs']} |",
        f"| billed tokens | {summary['billed_tokens']:,} |",
    ]
    if "estimated_cost_usd" in summary:
        lines.append(f"| estimated cost (USD) | {summary['estimated_cost_usd']:,.2f} |")
    lines += ["", *(f"- warning: {w}" for w in summary["warnings"])]
    return "\n".join(lines).rstrip() + "\n"


def print_summary(summary: dict[str, Any], output: str) -> None:
    print(summary_markdown(summary), end="")
    print(f"\nwritten: {Path(output) / 'kept'}, {Path(output) / 'rejected'}, "
          f"{Path(output, *REPORT_DIR) / 'summary.json'}")
