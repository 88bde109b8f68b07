"""The fast exact backend comes with the install where it has a wheel; elsewhere tiktoken counts, and a
job big enough to use it says so in one line."""

from __future__ import annotations

import sys
from importlib.metadata import requires

from packaging.requirements import Requirement

from jobs.config import JobConfig
from jobs.job.pipeline import FAST_BACKEND_BYTES, make_pool
from tokcount_core import encoding


def test_fastokens_is_a_default_dependency_on_this_platform():
    (fast,) = [Requirement(r) for r in requires("tokcount") if r.startswith("fastokens") and "extra" not in r]
    assert fast.marker is not None and fast.marker.evaluate({"extra": ""}), fast
    assert not fast.marker.evaluate({"sys_platform": "linux", "platform_machine": "aarch64", "extra": ""})


def test_without_fastokens_a_big_job_notes_it_once_and_counts_with_tiktoken(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastokens", None)  # as on a platform without its wheel: import fails
    notes: list[str] = []
    pool = make_pool("in-process", JobConfig(model="gpt-4o-mini"), FAST_BACKEND_BYTES, log=notes.append)
    try:
        assert encoding.resolve_backend("auto") == "tiktoken"
        assert len(notes) == 1 and notes[0].startswith("tokcount: note: the fast exact backend"), notes
    finally:
        pool.close()
    notes.clear()
    make_pool("in-process", JobConfig(model="gpt-4o-mini"), FAST_BACKEND_BYTES - 1, log=notes.append).close()
    assert notes == [], "a small job uses tiktoken anyway: nothing to say"
