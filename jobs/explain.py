"""``tokcount explain BODY.json``: which piece of a request costs how many tokens, and the ids of the
rules the count used; with ``--record``, the same for one record of a job's output, found at its input
line, next to the logged count."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import orjson

from jobs.config import ConfigError, JobConfig

MATCHES_LISTED = 5  # records of a duplicated id named in the error


def run_explain(path: str, model: str | None = None) -> int:
    from tokcount_core import count

    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return print_segments(count(raw, default_model=model, explain=True))


def run_explain_record(output: str, record: str) -> int:
    """Find the record's input line (``source_file``, ``source_row``), unwrap and count it as the job
    did (the config is the one in ``_manifest.json``), and show the segments, the logged count and,
    when the recount differs from the stored one, that it does (the line or the rules changed)."""
    from jobs.config import validate_config
    from jobs.reports.dataset import ReportError, open_rows, reading

    con, _ = open_rows(output)
    with reading(output):
        row = find_record(con, output, record)
    try:
        manifest = orjson.loads((Path(output) / "_manifest.json").read_bytes())
    except OSError as exc:
        raise ReportError(f"{output}: cannot read _manifest.json ({exc.strerror}); was the run finished?") from None
    config = validate_config(manifest["config"], source=f"{output}/_manifest.json")
    raw = input_line(row["source_file"], row["source_row"], config.format, row["record_id"])
    print(f"{row['record_id'] or record}: {row['source_file']}:{row['source_row']}")
    return explain_line(raw, row, config)


def find_record(con: Any, output: str, record: str) -> dict[str, Any]:
    """The one row with id ``record``, or at position ``record`` = ``SOURCE_FILE:ROW``. Ids are not
    unique (a log may repeat one): then the matches are listed and the position is asked for."""
    from jobs.reports.dataset import ReportError, fetch_dicts

    columns = "record_id, source_file, source_row, input_tokens, error_code, rules_version"
    found = fetch_dicts(con, f"SELECT {columns} FROM rows WHERE record_id = ? ORDER BY source_file, source_row",
                        [record])
    if not found and (position := re.fullmatch(r"(.+):(\d+)", record)):
        found = fetch_dicts(con, f"SELECT {columns} FROM rows WHERE source_file = ? AND source_row = ?",
                            [position[1], int(position[2])])
    if not found:
        raise ReportError(f"{output}: no record {record!r}")
    if len(found) > 1:
        places = ", ".join(f"{r['source_file']}:{r['source_row']}" for r in found[:MATCHES_LISTED])
        more = f" and {len(found) - MATCHES_LISTED} more" if len(found) > MATCHES_LISTED else ""
        raise ReportError(f"{output}: {len(found)} records have id {record!r} ({places}{more}); "
                          "give one as --record SOURCE_FILE:ROW")
    return found[0]


def explain_line(raw: bytes, row: dict[str, Any], config: JobConfig) -> int:
    """Count the input line as the job did; print its segments, the logged count, and whether the
    recount differs from what the output stored."""
    from jobs.job.counting import core_settings
    from jobs.job.records import Unwrapper
    from tokcount_core import RULES_VERSION, count

    ex, _ = Unwrapper(config).extract(orjson.loads(raw))
    if ex.error:
        print(f"record: {ex.error}", file=sys.stderr)
        report_change(row, None, RULES_VERSION)
        return 1
    registry, limits = core_settings(config)
    res = count(ex.body, ex.model, default_model=config.model, api=ex.api, registry=registry, limits=limits,
                as_of=config.as_of or ex.columns.get("timestamp"), explain=True)
    status = print_segments(res)
    if ex.logged_input_tokens is not None and res.input_tokens is not None:
        delta = ex.logged_input_tokens - res.input_tokens
        print(f"logged input tokens: {ex.logged_input_tokens}  (delta {delta:+d})")
    report_change(row, res.input_tokens, res.rules_version)
    return status


def report_change(row: dict[str, Any], now: int | None, rules_version: str) -> None:
    """Say so when the recount is not what the job stored: the source line was edited since it was
    counted, or (if the rules version differs) the counting rules changed."""
    if now == row["input_tokens"]:
        return
    stored = row["input_tokens"] if row["input_tokens"] is not None else row["error_code"]
    why = ("the source line changed since it was counted" if row["rules_version"] in (None, rules_version)
           else f"counted with rules {row['rules_version']}, now {rules_version}")
    print(f"changed: {why}: stored {stored}, now {now if now is not None else 'an error'}")


def input_line(source_file: str, source_row: int, fmt: str = "auto", record_id: str | None = None) -> bytes:
    """The line at ``source_row``; in a log store, the range's row with the store's id ``record_id`` (a
    range with late shards is split between them by id, which its name does not say)."""
    from jobs.readers import iter_records, shard_of

    shard = shard_of(source_file, fmt)
    by_id = shard.store is not None
    for i, item in enumerate(iter_records(shard)):
        if isinstance(item, bytes) and (orjson.loads(item).get("id") == record_id if by_id else i == source_row):
            return item
    raise ConfigError(f"{source_file} has no row {source_row} (changed since it was counted?)")


def print_segments(res: Any) -> int:
    if res.error_code is not None:
        print(f"{res.error_code}: {res.error_message}", file=sys.stderr)
        return 1
    rows = [(s.category, s.label, s.tokens, _preview(s.text)) for s in res.segments or []]
    width = max((len(r[0]) for r in rows), default=8), max((len(r[1]) for r in rows), default=5)
    for category, label, tokens, text in rows:
        print(f"{category:<{width[0]}}  {label:<{width[1]}}  {tokens:>7}  {text}")
    print(f"{'total':<{width[0]}}  {res.model or '':<{width[1]}}  {res.input_tokens:>7}"
          + ("  (estimated: " + ", ".join(res.estimate_reasons) + ")" if res.estimated else ""))
    print(rules_line(res.rules, res.unverified_rules))
    return 0


def rules_line(rules: list[str], unverified: list[str]) -> str:
    """The rules the count used (tokcount_core/rules.py ids), so a wrong count can be traced to a rule;
    the unverified ones, which flagged it, are marked."""
    flagged = set(unverified)
    names = [f"{r} (unverified)" if r in flagged else r for r in sorted(rules)]
    return "rules: " + (", ".join(names) or "none")


def _preview(text: str | None, limit: int = 60) -> str:
    if text is None:
        return ""
    flat = text.replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
