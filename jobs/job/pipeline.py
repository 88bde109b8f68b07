"""Plan, count, write: the whole job, on Ray or in-process, with the same files either way.

The driver lists the inputs, decides what is left to do and which engine pays, hands the shards to
workers (``engines.schedule``), and writes the manifest from the markers they return. Workers
read, count, write and commit whole shards (or line ranges of big ones) themselves.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from jobs.config import JobConfig
from jobs.job.batch_usage import load_batch_usage
from jobs.job.counting import RowCounter
from jobs.job.engines import ForkPool, LocalPool, Pool, RayPool, ensure_ray, ray_info, schedule
from jobs.job.manifest import build_manifest
from jobs.job.output import OutputDir, extends
from jobs.job.progress import Progress
from jobs.job.work import JobContext
from jobs.readers import input_roots, list_inputs
from jobs.readers.files import InputError, Shard
from tokcount_core import backends

__all__ = ["JobResult", "Plan", "ensure_ray", "plan_job", "run_job"]

Log = Callable[[str], None]
FAST_BACKEND_BYTES = 32 * 1000 * 1000


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
    # Inputs whose bytes changed since an earlier run counted them, other than by growing: recounting
    # would drop rows that run wrote, so they are left as they are (``execution.replace_changed``).
    changed: list[Shard]
    # Each shard's marker as planning read it (None: never counted), so the run reads none again.
    markers: dict[str, dict[str, Any] | None]


def plan_job(inputs: list[str], output: str, config: JobConfig, *, filesystem: pafs.FileSystem | None = None,
             overwrite: bool = False, shards: list[Shard] | None = None,
             counter: type[RowCounter] = RowCounter) -> Plan:
    """Every fatal check (inputs exist, output writable and not in use) happens here, before any
    counting. The plan holds OUTPUT's lock: ``run_job`` (or the caller) releases it with ``out.release()``."""
    shards = list_inputs(inputs, config, filesystem, output) if shards is None else shards
    out = OutputDir(output, filesystem)
    out.prepare(overwrite)
    try:
        fingerprint = config.fingerprint("" if counter is RowCounter else counter.__name__)
        todo, changed = [], []
        markers = {shard.uri: out.marker(shard) for shard in shards}
        for shard in shards:
            marker = markers[shard.uri]
            if out.is_done(shard, marker, fingerprint, config.execution.verify_inputs):
                continue
            replaces_rows = marker is not None and not config.execution.replace_changed and not extends(shard, marker)
            (changed if replaces_rows else todo).append(shard)
        dropped = [s for s in todo if _late_beside_recount(s, todo, markers)]
        todo, shards = ([s for s in group if s not in dropped] for group in (todo, shards))
    except BaseException:
        out.release()
        raise
    return Plan(shards, todo, out, fingerprint, changed, markers)


def _new_late(shard: Shard, markers: dict[str, dict[str, Any] | None]) -> bool:
    """A store range's late shard no run has counted yet (``stores._with_late``)."""
    return shard.store is not None and shard.store.late > 0 and markers[shard.uri] is None


def _late_beside_recount(shard: Shard, todo: list[Shard], markers: dict[str, dict[str, Any] | None]) -> bool:
    """A new late shard of a store range another shard of which is counted again (a changed config): that
    recount reads the late rows, so counting them here too would count them twice (``stores._with_late``)."""
    rng = shard.store
    if rng is None or not _new_late(shard, markers):
        return False
    return any(o is not shard and o.store and (o.store.uri, o.store.table, o.store.lo) == (rng.uri, rng.table, rng.lo)
               for o in todo)


def choose_engine(config: JobConfig, input_bytes: int) -> str:
    """Ray on a cluster (or when this process already drives one: forking it would be unsafe), one
    process for small inputs, else a process per core of this machine (what pays, docs/benchmark.md)."""
    execution = config.execution
    if execution.engine != "auto":
        return execution.engine
    if execution.force_ray or execution.address or os.environ.get("RAY_ADDRESS"):
        return "ray"
    if input_bytes < execution.small_input_bytes or (os.cpu_count() or 1) < 2:
        return "in-process"
    ray = sys.modules.get("ray")
    return "ray" if ray is not None and ray.is_initialized() else "local"


def make_pool(engine: str, config: JobConfig, input_bytes: int, counter: type[RowCounter] = RowCounter,
              log: Log = log_stderr) -> Pool:
    small = input_bytes < config.execution.small_input_bytes
    if config.execution.backend == "auto" and input_bytes < FAST_BACKEND_BYTES:
        # The same tokens either way (tests/core/test_backends.py), but fastokens takes ~1.6 s more to
        # build, paid back from about here on (32 MB: 3.5-3.9 s either way; docs/benchmark.md).
        config = config.with_updates(**{"execution.backend": "tiktoken"})
    elif config.execution.backend == "auto" and not backends.available("fastokens"):
        log("tokcount: note: the fast exact backend (fastokens) has no wheel for this platform; counting with "
            "tiktoken (the same tokens, about 3x slower)")
    if engine == "ray":
        return RayPool(config, counter, log)
    if engine == "local":
        return ForkPool(config, config.execution.actors or os.cpu_count() or 1, counter, log)
    return LocalPool(config, counter, eager=not small)  # a small input builds only the encoders it uses


def run_job(inputs: list[str], output: str, config: JobConfig, *, filesystem: pafs.FileSystem | None = None,
            overwrite: bool = False, log: Log = log_stderr, counter: type[RowCounter] = RowCounter,
            progress: Progress | None = None) -> JobResult:
    """``counter`` turns lines into rows: ``RowCounter``, or a subclass with more columns (``jobs.datasets``).
    With ``progress``, finished pieces feed it (a bar or periodic lines) instead of a line per shard."""
    started = time.time()
    began = time.monotonic()
    pool: Pool | None = None
    planning = None
    try:
        with ThreadPoolExecutor(1) as planner:
            # Start-up (Ray's init, the encoders) overlaps with listing and planning.
            listing = planner.submit(list_inputs, inputs, config, filesystem, output)
            if choose_engine(config, 0) == "ray":
                pool = RayPool(config, counter, log)
            shards = listing.result()
            planning = planner.submit(plan_job, inputs, output, config, filesystem=filesystem,
                                      overwrite=overwrite, shards=shards, counter=counter)
            listed = sum(s.size for s in shards)
            pool = pool or make_pool(choose_engine(config, listed), config, listed, counter, log)
            plan = planning.result()
    except BaseException:
        if pool is not None:
            pool.close()
        if planning is not None and planning.done() and planning.exception() is None:
            planning.result().out.release()
        raise
    try:
        return _run(plan, pool, inputs, output, config, filesystem, log, started, began, progress)
    finally:
        plan.out.release()


def _run(plan: Plan, pool: Pool, inputs: list[str], output: str, config: JobConfig,
         filesystem: pafs.FileSystem | None, log: Log, started: float, began: float,
         progress: Progress | None) -> JobResult:
    try:
        usage = load_batch_usage(config.usage_from, filesystem)
    except BaseException:
        pool.close()
        raise
    todo_bytes = sum(s.size for s in plan.todo)
    skipped = len(plan.shards) - len(plan.todo)
    log(f"tokcount: {len(plan.shards)} shard(s), {len(plan.todo)} to count ({todo_bytes / 1e6:.1f} MB), "
        f"{skipped} already done; engine: {pool.name}")
    orphans, earlier = plan.out.orphans(plan.shards, input_roots(inputs, filesystem))
    for marker in orphans:
        log(f"tokcount: warning: {marker['input']['uri']} is not among the inputs (deleted or renamed?) but its "
            f"rows are still in OUTPUT ({', '.join(marker['outputs'])}); delete them or rerun with --overwrite")
    for shard in plan.todo:
        if _new_late(shard, plan.markers):
            log(f"tokcount: {shard.uri}: rows reached this range after it was counted; counting them")
    for shard in plan.changed:
        log(f"tokcount: warning: {shard.uri} changed since it was counted, and not by growing: its earlier rows "
            f"are kept and it is not counted again (--replace-changed recounts it and drops them)")

    markers: dict[str, dict[str, Any]] = {}

    def finished(shard: Shard, marker: dict[str, Any]) -> None:
        markers[shard.uri] = marker
        stats = marker["stats"]
        errors = sum(stats["errors"].values())
        if progress is None:
            log(f"  [{len(markers)}/{len(plan.todo)}] {shard.uri}: {stats['records']} records, {errors} errors")

    for shard in plan.todo:
        plan.out.discard(shard, plan.markers[shard.uri])
    context = JobContext(output, filesystem, plan.fingerprint, usage)
    try:
        if isinstance(pool, RayPool) and plan.todo:
            pool.wait_ready()  # for the start-up time in the manifest: actors are ready to count
        ready = time.monotonic()
        if progress is not None:
            progress.start(todo_bytes)
        schedule(pool, plan.todo, context, config.execution.split_bytes, plan.out, finished,
                 progress.advance if progress is not None else None)
        counted_at = time.monotonic()
        info = ray_info() if isinstance(pool, RayPool) else None
    finally:
        if progress is not None:
            progress.close()
        pool.close()

    counted = dict(markers)
    for shard in plan.shards:
        markers.setdefault(shard.uri, plan.markers[shard.uri])
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
    if isinstance(pool, ForkPool | RayPool):
        run["worker_restarts"] = pool.restarts  # forks or actors that died (killed) and were replaced
    # Which nodes counted this run's shards (a shard split across nodes counts for each).
    run["shards_by_node"] = dict(sorted(Counter(n for m in counted.values() for n in m.get("nodes", [])).items()))
    manifest = build_manifest(config, config.format, output, plan.shards, markers, run, orphans)
    manifest["earlier_results"] = earlier
    manifest["changed_inputs_kept"] = [s.uri for s in plan.changed]
    plan.out.write_json(manifest, "_manifest.json")
    plan.out.cleanup()
    if plan.changed:
        raise InputError(f"{len(plan.changed)} input(s) changed since an earlier run counted them, other than by "
                         f"growing ({plan.changed[0].uri}{', ...' if len(plan.changed) > 1 else ''}): their earlier "
                         f"rows are kept, not recounted; the other inputs are counted. Give the new content a new "
                         f"name, or rerun with --replace-changed to recount them and drop the earlier rows")
    return JobResult(manifest=manifest, output=output)
