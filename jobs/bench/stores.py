"""``python -m jobs.bench.stores``: reading a Bifrost SQLite store against the same traffic as JSONL.

The benchmark corpus (``jobs.bench.corpus``) is written twice: as JSONL ``log`` records and into a
Bifrost ``logs`` table (``jobs.bench.bifrost_store``). Each is counted by the job on the same engine;
the throughput ratio (store over JSONL, target at least 0.7) is reported, and so is the peak memory of
counting a store 4x the size (target at most 1.2x: memory flat in the number of rows). Nothing here
asserts a speed; results go to stdout and ``--out``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from jobs.bench.bifrost_store import INSERT, create, row
from jobs.bench.corpus import iter_records
from jobs.bench.memory import PeakMemory
from jobs.config import JobConfig

TARGETS = {"store_vs_jsonl": 0.7, "memory_4x_vs_1x": 1.2}
_START = datetime(2026, 12, 6, tzinfo=UTC)


def write_traffic(directory: Path, size_mb: float) -> tuple[Path, Path, int]:
    """About ``size_mb`` MB of request bodies as ``logs.jsonl`` and in ``logs.db``; returns both and the count."""
    directory.mkdir(parents=True, exist_ok=True)
    jsonl, db = directory / "logs.jsonl", directory / "logs.db"
    con = create(db)
    written, n, batch = 0, 0, []
    with jsonl.open("wb") as fh:
        for raw in iter_records():
            if written >= size_mb * 1e6:
                break
            body = orjson.loads(raw)
            chat = "messages" in body
            usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
            record_id, when = f"req-{n:09d}", _START + timedelta(milliseconds=n)
            line = orjson.dumps({"id": record_id, "timestamp": when.isoformat().replace("+00:00", "Z"),
                                 "tenant": "vk", "api": "chat" if chat else "responses",
                                 "request": dict(body, model=f"openai/{body['model']}"),
                                 "response": {"usage": usage}}) + b"\n"
            fh.write(line)
            written += len(raw)
            batch.append(row(body, chat, record_id, when, usage, "vk", "team"))
            n += 1
            if len(batch) == 1000:
                con.executemany(INSERT, batch)
                batch = []
    con.executemany(INSERT, batch)
    con.close()
    return jsonl, db, n


def timed(source: str, out: Path, fmt: str, engine: str) -> dict[str, Any]:
    """One job over ``source``: wall seconds, records/s and peak memory."""
    from jobs.job.pipeline import run_job

    config = JobConfig(format=fmt, execution={"engine": engine})
    with PeakMemory() as memory:
        began = time.perf_counter()
        manifest = run_job([source], str(out), config, log=lambda _m: None).manifest
        wall = time.perf_counter() - began
    shutil.rmtree(out, ignore_errors=True)
    records = manifest["totals"]["records"]
    return {"records": records, "wall_s": round(wall, 2), "records_per_s": round(records / wall, 1),
            "memory": memory.report()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.bench.stores", description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=50.0, help="request bytes in the 1x store (default 50)")
    parser.add_argument("--engine", default="local", help="the job's engine for both (default local)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="tokcount-bench-stores-"))
    try:
        jsonl, db, n = write_traffic(root / "x1", args.size_mb)
        from_jsonl = timed(str(jsonl), root / "out-jsonl", "log", args.engine)
        from_store = timed(f"sqlite://{db}", root / "out-store", "bifrost_logs", args.engine)
        _, db4, n4 = write_traffic(root / "x4", args.size_mb * 4)
        from_store4 = timed(f"sqlite://{db4}", root / "out-store4", "bifrost_logs", args.engine)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    peak = max(from_store["memory"].get("actor_max_mb", 0), from_store["memory"].get("driver_mb", 0))
    peak4 = max(from_store4["memory"].get("actor_max_mb", 0), from_store4["memory"].get("driver_mb", 0))
    result = {"engine": args.engine, "rows": n, "rows_4x": n4, "jsonl": from_jsonl, "store": from_store,
              "store_4x": from_store4,
              "store_vs_jsonl": round(from_store["records_per_s"] / from_jsonl["records_per_s"], 3),
              "memory_4x_vs_1x": round(peak4 / peak, 3) if peak else None, "targets": TARGETS}
    print(f"store vs JSONL throughput: {result['store_vs_jsonl']} (target >= {TARGETS['store_vs_jsonl']}); "
          f"peak memory 4x vs 1x: {result['memory_4x_vs_1x']} (target <= {TARGETS['memory_4x_vs_1x']})")
    if args.out:
        Path(args.out).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
