"""Where pieces run: in this process, in forked processes on this machine, or on Ray actors.

``in-process`` builds the encoders once and counts on one core. ``local`` builds them once too,
then forks one process per CPU, which inherit them (nothing to start but the fork): the cheapest way
to use every core of one machine. ``ray`` runs one actor per CPU of a cluster, each building its
own encoders while the driver plans.

The driver only plans and hands out pieces (``schedule``): each worker reads, counts, writes and
commits its own, so rows never pass through the driver. Whole shards go biggest first, so the
last one to finish is a small one; a split plain JSONL or Parquet shard's ranges wait for its
index (one fast pass), a split compressed shard's runs of parts need none (``jobs.job.pieces``).
A killed worker is replaced (a new fork, a restarted actor) and its pieces run again; a piece that
keeps killing its worker is given up (``jobs.job.retries``).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

from jobs.config import JobConfig
from jobs.job.counting import RowCounter
from jobs.job.forks import IN_FLIGHT, ForkPool
from jobs.job.output import ShardStats, add_stats, commit_shard
from jobs.job.pieces import indexed, splits, units
from jobs.job.retries import Task, WorkerKilled
from jobs.job.work import JobContext, PartResult, ShardWorker
from jobs.readers.files import Digest, Shard

OnMarker = Callable[[Shard, dict[str, Any]], None]
OnProgress = Callable[[float, ShardStats], None]


class LocalPool:
    """One worker, this process: pieces run when submitted."""

    name = "in-process"

    def __init__(self, config: JobConfig, counter: type[RowCounter] = RowCounter, *, eager: bool = True):
        self.worker = ShardWorker(config, counter, eager=eager)
        self.slots = self.workers = 1

    def submit(self, method: str, *args: Any) -> Future:
        future: Future = Future()
        future.set_result(getattr(self.worker, method)(*args))
        return future

    def wait(self, futures: Iterable[Future]) -> set[Future]:
        return wait(futures, return_when=FIRST_COMPLETED).done

    def close(self) -> None:
        pass


@dataclass
class _Actor:
    """An actor and its pieces: ``sent`` in the order sent, each with the actor's deaths seen by
    then (it runs them in that order, so the oldest unanswered one is the one it is counting);
    ``held`` wait for it to answer ``ping`` after a death (restarted)."""

    handle: Any
    sent: deque[tuple[Task, Any, int]] = field(default_factory=deque)
    held: list[Task] = field(default_factory=list)
    ping: Any = None  # an ObjectRef while it restarts
    deaths: int = 0

    @property
    def load(self) -> int:
        return len(self.sent) + len(self.held)


class RayPool:
    """``actors`` long-lived actors of one CPU each; each builds its encoders once, while the driver
    is still planning.

    A killed actor is restarted by Ray (``max_restarts=-1``), but its pieces are sent again from
    here (``max_task_retries=0``), so a piece that kills it every time is given up after
    ``MAX_KILLS`` (``jobs.job.retries``) instead of being retried forever. Ray fails every piece the
    dead actor had, in no particular order, and may fail those sent while it restarts: pieces are
    read back in the order sent, only a piece sent since the last death seen has one counted, and
    nothing is sent to the actor until it answers a ping again. Its pieces then go back to it (a
    piece Ray could not reach may still be running there; not elsewhere at the same time)."""

    name = "ray"

    def __init__(self, config: JobConfig, counter: type[RowCounter] = RowCounter,
                 log: Callable[[str], None] = lambda _m: None):
        import ray

        ensure_ray(config.execution.address)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        size = config.execution.actors or max(1, cpus)
        remote = ray.remote(ShardWorker).options(num_cpus=1 if size <= cpus else cpus / size,
                                                 max_restarts=-1, max_task_retries=0)
        self.actors = [_Actor(remote.remote(config, counter)) for _ in range(size)]
        self.workers, self.slots = size, IN_FLIGHT * size
        self.log = log
        self.restarts = 0  # actors that died counting and were restarted (the manifest's run.worker_restarts)
        self._context: tuple[JobContext, Any] | None = None

    def wait_ready(self) -> None:
        import ray

        ray.get([a.handle.ready.remote() for a in self.actors])

    def submit(self, method: str, context: JobContext, *args: Any) -> Future:
        import ray

        if self._context is None or self._context[0] is not context:
            self._context = (context, ray.put(context))
        task = Task(method, args)
        self._send(min(self.actors, key=lambda a: a.load), task)
        return task.future

    def wait(self, futures: Iterable[Future]) -> set[Future]:
        """Reads answers until one of ``futures`` is done; sends the pieces of actors that died again."""
        import ray

        futures = list(futures)
        while not (done := {f for f in futures if f.done()}):
            # Only an actor's oldest piece can be read (or its ping): what comes after waits for it.
            refs = [r for a in self.actors for r in (a.ping, a.sent[0][1] if a.sent else None) if r is not None]
            ray.wait(refs, num_returns=1)
            for actor in self.actors:
                self._read(actor)
        return done

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor.handle)

    def _send(self, actor: _Actor, task: Task) -> None:
        assert self._context is not None
        if actor.ping is not None:
            actor.held.append(task)
        else:
            ref = getattr(actor.handle, task.method).remote(self._context[1], *task.args)
            actor.sent.append((task, ref, actor.deaths))

    def _read(self, actor: _Actor) -> None:
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError

        if actor.ping is not None and _ready(actor.ping):
            try:
                ray.get(actor.ping)
            except ActorUnavailableError:  # still restarting
                actor.ping = actor.handle.ready.remote()
            except Exception as exc:  # gone for good (its constructor failed): so are its pieces
                for task in actor.held:
                    task.future.set_exception(exc)
                actor.ping, actor.held = None, []
            else:
                held, actor.ping, actor.held = actor.held, None, []
                for task in held:
                    self._send(actor, task)
        while actor.sent and _ready(actor.sent[0][1]):
            task, ref, deaths = actor.sent.popleft()
            try:
                task.future.set_result(ray.get(ref))
            except RayActorError as exc:
                if deaths == actor.deaths:  # sent since the last death seen: it was counting this piece
                    actor.deaths += 1
                    self.restarts += 1
                    actor.ping = actor.handle.ready.remote()
                    if not task.killed(f"Ray {type(exc).__name__}", self.log):
                        continue
                self._send(actor, task)
            except Exception as exc:
                task.future.set_exception(exc)


def _ready(ref: Any) -> bool:
    import ray

    return bool(ray.wait([ref], timeout=0)[0])


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
        self.share = shard.size / pieces  # stored bytes a piece stands for, for progress
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
             out: Any, on_marker: OnMarker, on_progress: OnProgress | None = None) -> float | None:
    """Run every shard to its commit; returns when the first piece started counting (monotonic).
    ``on_progress`` hears of every finished piece: the stored bytes it stands for and its stats.

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
                if on_progress:
                    on_progress(shard.size, ShardStats(**result["stats"]))
            elif method == "index":
                pieces, digest = result
                pending[shard.uri] = _Split(shard, digest, len(pieces))
                queue.extendleft(("count_range", (p,)) for p in reversed(pieces))
            else:
                if on_progress:
                    on_progress(pending[shard.uri].share, result.stats)
                if (marker := pending[shard.uri].add(result, context, out)) is not None:
                    on_marker(shard, marker)
    if failed:
        error = next(iter(failed.values()))
        raise WorkerKilled(error.uri, error.cause, [uri for uri in failed if uri != error.uri])
    return first


def _shard(args: tuple[Any, ...]) -> Shard:
    """The shard a piece's arguments are about (a Shard, or a Piece of one)."""
    return getattr(args[0], "shard", args[0])
