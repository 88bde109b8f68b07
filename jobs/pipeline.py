"""Plan, count, write: the whole job, on Ray or in-process, with the same files either way.

The driver lists the inputs, decides what is left to do and which engine pays, hands the shards to
workers (``engines.schedule``), and writes the manifest from the markers they return. Workers
read, count, write and commit whole shards (or line ranges of big ones) themselves.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from jobs.batch_usage import load_batch_usage
from jobs.config import JobConfig
from jobs.engines import LocalPool, RayPool, ensure_ray, ray_info, schedule
from jobs.manifest import build_manifest
from jobs.output import OutputDir
from jobs.sources import Shard, list_shards
from jobs.work import JobContext

__all__ = ["JobResult", "Plan", "ensure_ray", "plan_job", "run_job"]

Log = Callable[[str], None]

def log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class JobResult:
    manifest: dict[str, Any]
    output: str


@dataclass
class Plan:
    shards: list[Shard]
    todo: list[Shard]
    out: OutputDir
    fingerprint: str


def plan_job(inputs: list[str], output: str, config: JobConfig, *, filesystem: pafs.FileSystem | None = None,
             overwrite: bool = False, shards: list[Shard] | None = None) -> Plan:
    """Every fatal check (inputs exist, output writable) happens here, before any counting."""
    shards = list_shards(inputs, filesystem) if shards is None else shards
    out = OutputDir(output, filesystem)
    out.prepare(overwrite)
    fingerprint = config.fingerprint()
    todo = [s for s in shards if not out.is_done(s, fingerprint, config.execution.verify_inputs)]
    return Plan(shards, todo, out, fingerprint)


def choose_engine(config: JobConfig, todo_bytes: int) -> str:
    """Ray when forced or on a cluster, else when the input is big enough to pay for its start-up."""
    execution = config.execution
    if execution.engine != "auto":
        return execution.engine
    if execution.force_ray or execution.address:
        return "ray"
    return "ray" if todo_bytes >= execution.small_input_bytes else "local"


def run_job(inputs: list[str], output: str, config: JobConfig, *, filesystem: pafs.FileSystem | None = None,
            overwrite: bool = False, log: Log = log_stderr) -> JobResult:
    started = time.time()
    began = time.monotonic()
    pool: LocalPool | RayPool | None = None
    try:
        with ThreadPoolExecutor(1) as planner:
            # Ray's start-up (init, actors building encoders) overlaps with listing and planning.
            listing = planner.submit(list_shards, inputs, filesystem)
            if choose_engine(config, 0) == "ray":
                pool = RayPool(config)
            shards = listing.result()
            planning = planner.submit(plan_job, inputs, output, config, filesystem=filesystem,
                                      overwrite=overwrite, shards=shards)
            if pool is None and choose_engine(config, sum(s.size for s in shards)) == "ray":
                pool = RayPool(config)
            plan = planning.result()
        usage = load_batch_usage(config.usage_from, filesystem)
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    todo_bytes = sum(s.size for s in plan.todo)
    if not plan.todo and pool is not None:
        pool.close()
        pool = None
    pool = pool or LocalPool(config)
    skipped = len(plan.shards) - len(plan.todo)
    log(f"tokcount: {len(plan.shards)} shard(s), {len(plan.todo)} to count ({todo_bytes / 1e6:.1f} MB), "
        f"{skipped} already done; engine: {pool.name}")
    orphans = plan.out.orphans(plan.shards)
    for marker in orphans:
        log(f"tokcount: warning: {marker['input']['uri']} is not among the inputs (deleted or renamed?) but its "
            f"rows are still in OUTPUT ({', '.join(marker['outputs'])}); delete them or rerun with --overwrite")

    markers: dict[str, dict[str, Any]] = {}

    def finished(shard: Shard, marker: dict[str, Any]) -> None:
        markers[shard.uri] = marker
        stats = marker["stats"]
        errors = sum(stats["errors"].values())
        log(f"  [{len(markers)}/{len(plan.todo)}] {shard.uri}: {stats['records']} records, {errors} errors")

    for shard in plan.todo:
        plan.out.discard(shard)
    context = JobContext(output, filesystem, plan.fingerprint, usage)
    try:
        if isinstance(pool, RayPool):
            pool.wait_ready()
        ready = time.monotonic()
        schedule(pool, plan.todo, context, config.execution.split_bytes, plan.out, finished)
        counted_at = time.monotonic()
        info = ray_info() if isinstance(pool, RayPool) else None
    finally:
        pool.close()

    counted = dict(markers)
    for shard in plan.shards:
        markers.setdefault(shard.uri, plan.out.marker(shard))
    wall = time.time() - started
    records = sum(m["stats"]["records"] for m in counted.values())
    nbytes = sum(m["bytes_read"] for m in counted.values())
    steady = counted_at - ready
    run = {
        "engine": pool.name,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "wall_seconds": round(wall, 3),
        # Start-up: listing, planning and the workers building their encoders; steady: counting.
        "startup_seconds": round(ready - began, 3),
        "counting_seconds": round(steady, 3),
        "shards_counted": len(counted),
        "shards_skipped": skipped,
        "records_counted": records,
        "bytes_read": nbytes,
        "records_per_second": round(records / wall, 1) if wall else None,
        "mb_per_second": round(nbytes / 1e6 / wall, 3) if wall else None,
        "steady_mb_per_second": round(nbytes / 1e6 / steady, 3) if steady else None,
    }
    if info:
        run["ray"] = info
    # Which nodes counted this run's shards (a shard split across nodes counts for each).
    run["shards_by_node"] = dict(sorted(Counter(n for m in counted.values() for n in m.get("nodes", [])).items()))
    manifest = build_manifest(config, config.format, output, plan.shards, markers, run, orphans)
    plan.out.write_json(manifest, "_manifest.json")
    plan.out.cleanup()
    return JobResult(manifest=manifest, output=output)
