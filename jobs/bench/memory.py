"""Peak memory of the driver and of every Ray process it started, for ``jobs.bench``.

Linux only (``/proc``); elsewhere it reports the driver's ``ru_maxrss`` alone. A local Ray's raylet
is a child of the driver and its workers are the raylet's children, so walking the driver's
descendants finds exactly this run's actors and workers, never another user's Ray. Each process's
``VmHWM`` (kernel-kept peak RSS) is polled, so a peak between two polls is not missed; writing 5 to
``/proc/PID/clear_refs`` resets it, which lets one process measure several jobs in a row.

RSS includes the pages of Ray's shared-memory object store a process has touched: they grow with the
data that flowed through, up to the store's fixed capacity. Private memory (``RssAnon``, sampled) is
what a leak or an unbounded buffer would grow, so both are reported.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from pathlib import Path
from typing import Any

_PROC = Path("/proc")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _status(pid: int) -> tuple[str, int, int] | None:
    """(process name, peak RSS, current private RSS) in bytes, or None when it is gone."""
    try:
        name = (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        fields = dict(line.split(":", 1) for line in (_PROC / str(pid) / "status").read_text().splitlines())
        return name, int(fields["VmHWM"].split()[0]) * 1024, int(fields["RssAnon"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def role(name: str, driver: str) -> str:
    """Group processes: the counting workers (Ray actors, or forks of the driver: the same command
    line), other Ray workers, Ray's own daemons."""
    if "ShardWorker" in name or name == driver:
        return "actor"
    if name.startswith("ray::"):
        return "worker"
    return "ray_daemon"


class PeakMemory:
    """Polls peaks while a job runs: ``with PeakMemory() as mem: run(); mem.report()``."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.linux = _PROC.joinpath("self", "status").exists()
        self.peaks: dict[int, tuple[str, int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> PeakMemory:
        if self.linux:
            for pid in [os.getpid(), *descendants(os.getpid())]:
                with contextlib.suppress(OSError):  # 5 = reset the peak RSS to the current RSS
                    (_PROC / str(pid) / "clear_refs").write_text("5")
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._sample()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        if not self.linux:
            return
        for pid in [os.getpid(), *descendants(os.getpid())]:
            status = _status(pid)
            if status is not None:
                _, peak, private = self.peaks.get(pid, ("", 0, 0))
                self.peaks[pid] = (status[0], max(peak, status[1]), max(private, status[2]))

    def report(self) -> dict[str, Any]:
        """Peaks in MB for the driver, the largest actor and the largest other worker: RSS
        (``*_mb``) and private memory (``*_private_mb``)."""
        if not self.linux:
            return {"driver_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1)}
        me = os.getpid()
        driver = self.peaks.get(me, ("",))[0]
        groups: dict[str, list[tuple[int, int]]] = {"driver": [], "actor": [], "worker": [], "ray_daemon": []}
        for pid, (name, peak, private) in self.peaks.items():
            groups["driver" if pid == me else role(name, driver)].append((peak, private))
        out: dict[str, Any] = {}
        for group, key in (("driver", "driver"), ("actor", "actor_max"), ("worker", "worker_max"),
                           ("ray_daemon", "ray_daemons_max")):
            values = groups[group]
            out[f"{key}_mb"] = round(max((p for p, _ in values), default=0) / 1e6, 1)
            out[f"{key}_private_mb"] = round(max((a for _, a in values), default=0) / 1e6, 1)
        out["actors"] = len(groups["actor"])
        return out
