"""Where pieces run: in this process, in forked processes on this machine, or on Ray actors.

``in-process`` builds the encoders once and counts on one core. ``local`` builds them once too,
then forks one process per CPU, which inherit them (nothing to start but the fork): the cheapest way
to use every core of one machine. ``ray`` runs one actor per CPU of a cluster, each building its
own encoders while the driver plans.

The driver only plans and hands out pieces (``schedule``): each worker reads, counts, writes and
commits its own, so rows never pass through the driver. Whole shards go biggest first, so the
last one to finish is a small one; a split plain JSONL or Parquet shard's ranges wait for its
index (one fast pass), a split compressed shard's runs of parts need none (``jobs.pieces``).
A killed worker's piece is run again, by Ray (actor restarts) or by ``ForkPool``.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from jobs.config import JobConfig
from jobs.counting import RowCounter
from jobs.forks import IN_FLIGHT, ForkPool, WorkerKilled
from jobs.output import ShardStats, add_stats, commit_shard
from jobs.pieces import indexed, splits, units
from jobs.sources import Digest, Shard
from jobs.work import JobContext, PartResult, ShardWorker

OnMarker = Callable[[Shard, dict[str, Any]], None]


class _FuturePool:
    def wait(self, futures: Iterable[Future]) -> set[Future]:
        return wait(futures, return_when=FIRST_COMPLETED).done


class LocalPool(_FuturePool):
    """One worker, this process: pieces run when submitted."""

    name = "in-process"

    def __init__(self, config: JobConfig, counter: type[RowCounter] = RowCounter, *, eager: bool = True):
        self.worker = ShardWorker(config, counter, eager=eager)
        self.slots = self.workers = 1

    def submit(self, method: str, *args: Any) -> Future:
        future: Future = Future()
        future.set_result(getattr(self.worker, method)(*args))
        return future

    def close(self) -> None:
        pass


class RayPool(_FuturePool):
    """``actors`` long-lived actors of one CPU each; each builds its encoders once, while the driver
    is still planning. A killed actor is restarted and its piece run again (it rewrites the same
    temp files), so the output does not change."""

    name = "ray"

    def __init__(self, config: JobConfig, counter: type[RowCounter] = RowCounter):
        import ray

        ensure_ray(config.execution.address)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        size = config.execution.actors or max(1, cpus)
        remote = ray.remote(ShardWorker).options(num_cpus=1 if size <= cpus else cpus / size,
                                                 max_restarts=-1, max_task_retries=-1)
        self.actors = [remote.remote(config, counter) for _ in range(size)]
        self.workers, self.slots = size, IN_FLIGHT * size
        self.load = [0] * size
        self._context: tuple[JobContext, Any] | None = None

    def wait_ready(self) -> None:
        import ray

        ray.get([a.ready.remote() for a in self.actors])

    def submit(self, method: str, context: JobContext, *args: Any) -> Future:
        import ray

        if self._context is None or self._context[0] is not context:
            self._context = (context, ray.put(context))
        i = self.load.index(min(self.load))
        self.load[i] += 1
        future = getattr(self.actors[i], method).remote(self._context[1], *args).future()
        future.add_done_callback(lambda _f, i=i: self._done(i))
        return future

    def _done(self, i: int) -> None:
        self.load[i] -= 1

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)


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


def ray_info() -> dict[str, Any]:
    import ray

    return {"version": ray.__version__, "nodes": sum(1 for n in ray.nodes() if n["Alive"]),
            "cpus": ray.cluster_resources().get("CPU")}


class _Split:
    """A split shard's pieces as they finish; commits it (a few renames and the marker) at the last.
    The digest comes from its index, or from the piece that read the whole shard."""

    def __init__(self, shard: Shard, digest: Digest | None, pieces: int):
        self.shard, self.digest, self.left = shard, digest, pieces
        self.results: list[PartResult] = []

    def add(self, result: PartResult, context: JobContext, out: Any) -> dict[str, Any] | None:
        self.results.append(result)
        self.digest = self.digest or result.digest
        self.left -= 1
        if self.left:
            return None
        assert self.digest is not None
        stats = ShardStats()
        outputs: list[str] = []
        for part in sorted(self.results, key=lambda r: r.piece.part or 0):
            add_stats(stats, part.stats)
            outputs += part.outputs
        return commit_shard(out, self.shard, outputs, self.digest, stats, context.fingerprint,
                            [r.node for r in self.results])


Pool = LocalPool | ForkPool | RayPool


def schedule(pool: Pool, shards: list[Shard], context: JobContext, split_bytes: int,
             out: Any, on_marker: OnMarker) -> float | None:
    """Run every shard to its commit; returns when the first piece started counting (monotonic).

    A shard whose worker was killed too often (``WorkerKilled``) is given up, the others are
    finished, then the first such error is raised: a rerun resumes with only those shards left."""
    queue: deque[tuple[str, Any]] = deque()
    pending: dict[str, _Split] = {}
    total = sum(s.size for s in shards)
    for shard in sorted(shards, key=lambda s: -s.size):
        if not splits(shard, split_bytes):
            queue.append(("count_shard", (shard,)))
        elif indexed(shard):
            queue.appendleft(("index", (shard, split_bytes)))  # unblocks its ranges: first
        else:
            pieces = units(shard, shard.size / total, pool.workers, split_bytes)
            pending[shard.uri] = _Split(shard, None, len(pieces))
            queue.extendleft(("count_parts", (p,)) for p in reversed(pieces))
    running: dict[Future, tuple[str, Any]] = {}
    failed: dict[str, WorkerKilled] = {}
    first = None
    while queue or running:
        while queue and len(running) < pool.slots:
            method, args = queue.popleft()
            first = first or time.monotonic()
            running[pool.submit(method, context, *args)] = (method, args)
        for future in pool.wait(running):
            method, args = running.pop(future)
            shard = _shard(args)
            try:
                result = future.result()
            except WorkerKilled as exc:
                failed.setdefault(shard.uri, exc)
                queue = deque(item for item in queue if _shard(item[1]).uri != shard.uri)
                continue
            if shard.uri in failed:
                continue
            if method == "count_shard":
                on_marker(shard, result)
            elif method == "index":
                pieces, digest = result
                pending[shard.uri] = _Split(shard, digest, len(pieces))
                queue.extendleft(("count_range", (p,)) for p in reversed(pieces))
            elif (marker := pending[shard.uri].add(result, context, out)) is not None:
                on_marker(shard, marker)
    if failed:
        error = next(iter(failed.values()))
        raise WorkerKilled(error.uri, error.cause, [uri for uri in failed if uri != error.uri])
    return first


def _shard(args: tuple[Any, ...]) -> Shard:
    """The shard a piece's arguments are about (a Shard, or a Piece of one)."""
    return getattr(args[0], "shard", args[0])
