"""The job's progress: a live bar on a terminal, a few plain lines elsewhere, never a line per shard."""

from __future__ import annotations

import io

from jobs.job.output import ShardStats
from jobs.job.progress import Progress

PIECE = ShardStats(records=1000, errors={"invalid_json": 2}, estimated=3)


def test_without_a_terminal_lines_come_at_most_every_interval():
    stream = io.StringIO()
    progress = Progress(stream, interval=3600, live=False)
    progress.start(10_000_000)
    for _ in range(10):
        progress.advance(1_000_000, PIECE)
    progress.close()
    assert stream.getvalue() == "", "a 1 TB run must not print a line per piece"
    progress = Progress(stream, interval=1e-9, live=False)
    progress.start(4_000_000)
    progress.advance(1_000_000, PIECE)
    line = stream.getvalue().strip()
    assert line.startswith("tokcount: 25.0% | 1,000 records, 1.0 of 4.0 MB |"), line
    assert "errors 2, estimated 3 | ETA " in line


def test_on_a_terminal_one_bar_with_records_errors_and_estimates():
    stream = io.StringIO()
    progress = Progress(stream, live=True)
    progress.start(2_000_000)
    progress.log("tokcount: warning: above the bar")
    progress.advance(1_000_000, PIECE)
    progress.advance(1_000_000, PIECE)
    progress.close()
    shown = stream.getvalue()
    assert "tokcount: warning: above the bar\n" in shown
    assert "100%" in shown and "2.00M/2.00M " in shown, shown
    assert "2,000 records" in shown and "errors 4, estimated 6" in shown, shown
