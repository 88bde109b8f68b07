"""Fixtures for the reliability tests: the session's one local Ray, the bad-input corpus, quiet runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs.config import JobConfig
from jobs.job.pipeline import run_job
from tests.data.bad.corpus import Expected, write_corpus
from tests.jobs.conftest import ray_session, sample  # noqa: F401 - one ray.init per session; a sample copy


def run(inputs: list[Path], out: Path, config: JobConfig | None = None, **kw: Any) -> dict[str, Any]:
    """``run_job`` without progress lines; the manifest."""
    return run_job([str(i) for i in inputs], str(out), config or JobConfig(), log=lambda _m: None, **kw).manifest


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Expected]]:
    """Every bad-input kind (big ones included) mixed with good records, written once per session."""
    directory = tmp_path_factory.mktemp("bad")
    return directory, write_corpus(directory)
