"""Plan, count, write: the whole job, on Ray or in-process, with the same rows either way.

Both engines produce batches of ``RowCounter`` output for the driver's ``Router``, which writes
each shard's Parquet and marker as soon as its last row arrives. Only the source of the batches
differs: Ray Data (custom datasource -> actor pool) or a plain loop for small inputs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from jobs.batch_usage import Usage, load_batch_usage
from jobs.config import JobConfig
from jobs.counting import RowCounter
from jobs.manifest import build_manifest
from jobs.output import OutputDir, Router, ShardWriter
from jobs.sources import Shard, list_shards, make_datasource, read_blocks

Log = Callable[[str], None]

READ_TASK_CPUS = 0.25  # reading is I/O bound; a whole CPU per read task starves the actors on 2 cores


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
             overwrite: bool = False, counter: type[RowCounter] = RowCounter) -> Plan:
    """Every fatal check (inputs exist, output writable) happens here, before any counting."""
    shards = list_shards(inputs, filesystem)
    out = OutputDir(output, filesystem)
    out.prepare(overwrite)
    fingerprint = config.fingerprint("" if counter is RowCounter else counter.__name__)
    todo = [s for s in shards if not out.is_done(s, fingerprint, config.execution.verify_inputs)]
    return Plan(shards, todo, out, fingerprint)


def run_job(inputs: list[str], output: str, config: JobConfig, *, filesystem: pafs.FileSystem | None = None,
            overwrite: bool = False, log: Log = log_stderr, counter: type[RowCounter] = RowCounter) -> JobResult:
    """``counter`` turns lines into rows: ``RowCounter``, or a subclass with more columns (``jobs.datasets``)."""
    started = time.time()
    plan = plan_job(inputs, output, config, filesystem=filesystem, overwrite=overwrite, counter=counter)
    todo_bytes = sum(s.size for s in plan.todo)
    small = todo_bytes < config.execution.small_input_bytes
    use_ray = bool(plan.todo) and (config.execution.force_ray or not small)
    engine = "ray" if use_ray else "in-process"
    skipped = len(plan.shards) - len(plan.todo)
    log(f"tokcount: {len(plan.shards)} shard(s), {len(plan.todo)} to count ({todo_bytes / 1e6:.1f} MB), "
        f"{skipped} already done; engine: {engine}")
    orphans = plan.out.orphans(plan.shards)
    for marker in orphans:
        log(f"tokcount: warning: {marker['input']['uri']} is not among the inputs (deleted or renamed?) but its "
            f"rows are still in OUTPUT ({', '.join(marker['outputs'])}); delete them or rerun with --overwrite")

    schema = counter.schema_for(config)
    markers: dict[str, dict[str, Any]] = {}

    def finished(shard: Shard, marker: dict[str, Any]) -> None:
        markers[shard.uri] = marker
        stats = marker["stats"]
        errors = sum(stats["errors"].values())
        log(f"  [{len(markers)}/{len(plan.todo)}] {shard.uri}: {stats['records']} records, {errors} errors")

    for shard in plan.todo:
        plan.out.discard(shard)
    router = Router(lambda s: ShardWriter(plan.out, s, schema, config, plan.fingerprint), plan.todo, finished)
    usage = load_batch_usage(config.usage_from, filesystem)
    batches = (_ray_batches(plan.todo, config, usage, counter) if use_ray
               else _local_batches(plan.todo, config, usage, counter))
    for batch in batches:
        router.feed(batch)
    router.finish_empty()

    counted = dict(markers)
    for shard in plan.shards:
        markers.setdefault(shard.uri, plan.out.marker(shard))
    wall = time.time() - started
    records = sum(m["stats"]["records"] for m in counted.values())
    nbytes = sum(m["bytes_read"] for m in counted.values())
    run = {
        "engine": engine,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "wall_seconds": round(wall, 3),
        "shards_counted": len(counted),
        "shards_skipped": skipped,
        "records_counted": records,
        "bytes_read": nbytes,
        "records_per_second": round(records / wall, 1) if wall else None,
        "mb_per_second": round(nbytes / 1e6 / wall, 3) if wall else None,
    }
    if use_ray:
        run["ray"] = _ray_info()
    manifest = build_manifest(config, config.format, output, plan.shards, markers, run, orphans)
    plan.out.write_json(manifest, "_manifest.json")
    plan.out.cleanup()
    return JobResult(manifest=manifest, output=output)


def _local_batches(shards: list[Shard], config: JobConfig, usage: dict[str, Usage],
                   counter_cls: type[RowCounter]) -> Iterator[pa.Table]:
    counter = counter_cls(config, usage)
    for shard in shards:
        for block in read_blocks(shard, config.execution.lines_per_block):
            yield counter(block)


def ensure_ray(address: str | None) -> None:
    """Join the cluster at ``address`` / ``RAY_ADDRESS``, or start a local one without dashboard."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(address="local", include_dashboard=False, log_to_driver=False)


def actor_pool_size(total_cpus: float, requested: int | None) -> tuple[int, float]:
    """Actors and CPUs per actor: leave room for the read tasks, never ask for a whole CPU per
    actor on a small machine (the pool would wait forever for CPUs the readers hold)."""
    actors = requested or max(1, int(total_cpus) - 1 if total_cpus > 2 else int(total_cpus))
    per_actor = max(0.25, min(1.0, (total_cpus - 2 * READ_TASK_CPUS) / actors))
    return actors, round(per_actor, 2)


def _ray_batches(shards: list[Shard], config: JobConfig, usage: dict[str, Usage],
                 counter: type[RowCounter]) -> Iterator[pa.Table]:
    import ray

    ensure_ray(config.execution.address)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # a shard's rows reach the writer in order
    actors, per_actor = actor_pool_size(ray.cluster_resources().get("CPU", 1.0), config.execution.actors)
    ds = ray.data.read_datasource(make_datasource(shards, config.execution.lines_per_block),
                                  override_num_blocks=len(shards), num_cpus=READ_TASK_CPUS)
    ds = ds.map_batches(counter, fn_constructor_kwargs={"config": config, "usage": usage}, batch_format="pyarrow",
                        batch_size=config.execution.batch_size, num_cpus=per_actor,
                        compute=ray.data.ActorPoolStrategy(size=actors))
    yield from ds.iter_batches(batch_size=None, batch_format="pyarrow")


def _ray_info() -> dict[str, Any]:
    import ray

    return {"version": ray.__version__, "nodes": sum(1 for n in ray.nodes() if n["Alive"]),
            "cpus": ray.cluster_resources().get("CPU")}
