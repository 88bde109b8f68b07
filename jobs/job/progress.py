"""Progress of a running job, fed by the driver as pieces finish on any engine or node.

On a terminal: one live tqdm bar (MB counted of the MB to count, MB/s, ETA from the bytes left) with
records, records/s, errors and estimates so far in its postfix. Without one (cron, CI, a pipe): a plain
line at most every ``interval`` seconds, so a run over thousands of shards writes a few lines, not one per
shard. The ETA counts from the first piece started, so start-up does not skew it.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from jobs.job.output import ShardStats


class Progress:
    def __init__(self, stream: IO[str] | None = None, interval: float = 30.0, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.interval = interval
        self.live = self.stream.isatty() if live is None else live
        self.bar: Any = None
        self.total = self.done = 0.0
        self.records = self.errors = self.estimated = 0
        self.started = self.printed = 0.0

    def start(self, total_bytes: int) -> None:
        self.total, self.started = float(total_bytes), time.monotonic()
        self.printed = self.started
        if self.live:
            from tqdm import tqdm

            self.bar = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1000, file=self.stream,
                            desc="tokcount", dynamic_ncols=True, smoothing=0.1, mininterval=0.5)

    def log(self, message: str) -> None:
        """A message above the bar while it is shown (a plain line otherwise)."""
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def advance(self, nbytes: float, stats: ShardStats) -> None:
        self.done += nbytes
        self.records += stats.records
        self.errors += sum(stats.errors.values())
        self.estimated += stats.estimated
        elapsed = max(time.monotonic() - self.started, 1e-9)
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.records:,} records, {self.records / elapsed:,.0f}/s, errors "
                                     f"{self.errors:,}, estimated {self.estimated:,}", refresh=False)
            self.bar.update(nbytes)
        elif time.monotonic() - self.printed >= self.interval:
            self.printed = time.monotonic()
            print(self.line(elapsed), file=self.stream, flush=True)

    def line(self, elapsed: float) -> str:
        share = self.done / self.total if self.total else 1.0
        eta = elapsed * (self.total - self.done) / self.done if self.done else float("nan")
        return (f"tokcount: {share:.1%} | {self.records:,} records, {self.done / 1e6:,.1f} of {self.total / 1e6:,.1f} "
                f"MB | {self.records / elapsed:,.0f} records/s, {self.done / 1e6 / elapsed:,.2f} MB/s | errors "
                f"{self.errors:,}, estimated {self.estimated:,} | ETA {_clock(eta)}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _clock(seconds: float) -> str:
    if seconds != seconds:  # nan: nothing finished yet
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
