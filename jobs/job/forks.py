"""The ``local`` engine: forks of this process, one per core, that inherit the worker (and its
encoders) built here once, and survive one of them being killed.

Each fork gets its pieces over its own pipe and answers them in order, so the driver always knows
which piece a fork was counting when it died: the oldest it has not answered. The fork is replaced
and its pieces are sent again (``jobs.job.retries``: a piece that kills its worker ``MAX_KILLS`` times
is given up); the other forks keep counting meanwhile.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from jobs.config import JobConfig
from jobs.job.counting import RowCounter
from jobs.job.retries import Task
from jobs.job.work import JobContext, ShardWorker

IN_FLIGHT = 2  # pieces per worker: the next one is already there when one finishes


@dataclass
class _Fork:
    process: Any  # multiprocessing's fork Process
    conn: Connection
    tasks: deque[Task] = field(default_factory=deque)  # sent and not answered; the first is running


def _serve(worker: ShardWorker, context: JobContext, conn: Connection, inherited: list[Connection]) -> None:
    """A fork's loop: run each piece it is sent, answer ``(ok, result or exception)``. Ctrl-C reaches
    the forks too (one process group); only the driver acts on it (it stops the forks), so a fork
    does not print a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for other in inherited:  # the driver's ends: else a fork would keep another's pipe open
        other.close()
    while True:
        try:
            method, args = conn.recv()
        except EOFError:  # the driver closed the pipe (or died): nothing more to do
            return
        try:
            reply: tuple[bool, Any] = (True, getattr(worker, method)(context, *args))
        except Exception as exc:
            reply = (False, exc)
        try:
            conn.send(reply)
        except Exception as exc:  # an exception that does not pickle
            conn.send((False, RuntimeError(f"{type(reply[1]).__name__}: {reply[1]} ({exc})")))


def _cause(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


class ForkPool:
    """``processes`` forks of this process; a fork that dies is replaced and its pieces sent again."""

    name = "local"

    def __init__(self, config: JobConfig, processes: int, counter: type[RowCounter] = RowCounter,
                 log: Callable[[str], None] = lambda _m: None):
        self.worker = ShardWorker(config, counter)
        self.workers = processes
        self.slots = IN_FLIGHT * processes
        self.log = log
        self.forks: list[_Fork] = []
        self.context: JobContext | None = None
        self.restarts = 0  # forks that died and were replaced (the manifest's run.worker_restarts)

    def submit(self, method: str, context: JobContext, *args: Any) -> Future:
        if not self.forks:  # forked at the first piece, so the forks inherit the context too
            self.context = context
            self.forks = [self._fork() for _ in range(self.workers)]
        assert context is self.context, "one pool per run"
        task = Task(method, args)
        self._send(task)
        return task.future

    def wait(self, futures: Iterable[Future]) -> set[Future]:
        """Reads answers until one of ``futures`` is done; replaces the forks that died meanwhile."""
        futures = list(futures)
        while not (done := {f for f in futures if f.done()}):
            ready = set(wait([f.conn for f in self.forks] + [f.process.sentinel for f in self.forks]))
            for fork in list(self.forks):
                if fork.conn in ready or fork.process.sentinel in ready:
                    self._read(fork)
        return done

    def close(self) -> None:
        for fork in self.forks:
            fork.conn.close()  # an idle fork sees EOF and exits
            if fork.tasks:  # a failed run: stop the pieces still counting
                fork.process.terminate()
        for fork in self.forks:
            fork.process.join()
        self.forks = []

    def _fork(self) -> _Fork:
        ours, theirs = multiprocessing.Pipe()
        inherited = [f.conn for f in self.forks] + [ours]
        process = multiprocessing.get_context("fork").Process(
            target=_serve, args=(self.worker, self.context, theirs, inherited), daemon=True)
        process.start()
        theirs.close()
        return _Fork(process, ours)

    def _send(self, task: Task) -> None:
        fork = min(self.forks, key=lambda f: len(f.tasks))
        fork.tasks.append(task)
        with contextlib.suppress(OSError):  # it died: ``wait`` sees its sentinel and sends its pieces again
            fork.conn.send((task.method, task.args))

    def _read(self, fork: _Fork) -> None:
        try:
            while fork.conn.poll():
                ok, value = fork.conn.recv()
                task = fork.tasks.popleft()
                if ok:
                    task.future.set_result(value)
                else:
                    task.future.set_exception(value)
        except (EOFError, OSError):  # every answer it sent is read: it is gone
            fork.process.join()
            self._replace(fork)

    def _replace(self, fork: _Fork) -> None:
        self.forks.remove(fork)
        fork.conn.close()
        self.forks.append(self._fork())
        self.restarts += 1
        cause = _cause(fork.process.exitcode)
        for i, task in enumerate(fork.tasks):
            if i == 0 and not task.killed(cause, self.log):  # the piece it was counting
                continue
            self._send(task)
