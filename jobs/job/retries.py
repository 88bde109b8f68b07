"""A piece whose worker died, on either engine that survives it (``forks.ForkPool``, ``engines.RayPool``).

A worker runs its pieces one at a time in the order it got them, so when it dies (SIGKILL, the
OOM killer) the oldest piece it has not answered is the one it was counting: only that one has a
kill counted; the pieces queued behind it are sent again as they are. A piece rewrites the same
temp files and commits are atomic, so running it again does not change the output.

A piece whose worker dies ``MAX_KILLS`` times fails with ``WorkerKilled`` naming its shard: by
then the input is the likely cause (a record that exhausts memory), and retrying it forever would
hide that. ``engines.schedule`` finishes the other shards first, so a rerun resumes with only the
failed ones left.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

MAX_KILLS = 3


class WorkerKilled(ChildProcessError):
    """A piece of ``uri`` killed the process counting it ``MAX_KILLS`` times."""

    def __init__(self, uri: str, cause: str, others: list[str] | None = None):
        also = f" (so did {len(others)} other input(s): {', '.join(others)})" if others else ""
        super().__init__(
            f"input {uri}: the worker counting it died {MAX_KILLS} times (last: {cause}){also}, most likely from "
            f"the input itself (SIGKILL is what the kernel's OOM killer sends); the other shards were counted. "
            f"Give the job more memory or fewer workers (execution.actors), or move the input aside, then "
            f"rerun to resume")
        self.uri, self.cause = uri, cause


@dataclass
class Task:
    """A piece handed to a worker: ``future`` is what the scheduler holds, resolved once the piece
    is answered or given up, however often it is sent meanwhile."""

    method: str
    args: tuple[Any, ...]
    future: Future = field(default_factory=Future)
    kills: int = 0

    @property
    def uri(self) -> str:
        first = self.args[0]  # a Shard, or a Piece of one
        return getattr(first, "shard", first).uri

    def killed(self, cause: str, log: Callable[[str], None]) -> bool:
        """Counts the death of the worker that was counting this piece: whether to send it again
        (else it is given up, and its future holds ``WorkerKilled``)."""
        self.kills += 1
        if self.kills >= MAX_KILLS:
            self.future.set_exception(WorkerKilled(self.uri, cause))
            return False
        log(f"tokcount: warning: a worker died ({cause}) while counting {self.uri}; counting it again "
            f"(attempt {self.kills + 1} of {MAX_KILLS})")
        return True
