"""Fixtures for the library entry points (``jobs.arrow``, ``jobs.ray_data``, ``jobs.hf``, ``jobs.duckdb_udf``):
the job check data (the bad-input corpus and the sample) and what ``tokcount count`` makes of it."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import pyarrow as pa
import pytest

from jobs.cli import main
from jobs.readers.files import Digest, iter_records, list_shards
from tests.data.bad.corpus import write_corpus
from tests.jobs.conftest import MODEL, SAMPLE, ray_session, read_output  # noqa: F401 - one Ray per session

# Hugging Face datasets reads these when imported (after this conftest): the tests never reach the hub.
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"


@dataclass(frozen=True)
class JobData:
    """Input files (as ``tokcount count`` names them in source_file) with their lines, and its output."""

    lines: dict[str, list[bytes]]
    cli: pa.Table  # sorted by source_file, source_row

    def cli_rows(self, source_file: str) -> list[dict]:
        return [r for r in self.cli.to_pylist() if r["source_file"] == source_file]


@pytest.fixture(scope="session")
def job_data(tmp_path_factory: pytest.TempPathFactory) -> JobData:
    """The bad-input corpus (its small kinds) and the sample in one directory, counted by the CLI."""
    root = tmp_path_factory.mktemp("library")
    data = root / "data"
    write_corpus(data, big=False)
    for path in SAMPLE.glob("*.jsonl*"):
        shutil.copy(path, data / path.name)
    assert main(["count", str(data), str(root / "out"), "--model", MODEL, "--quiet"]) == 0
    # The lines as the job's reader hands them to the counter (BOM and CR already stripped).
    lines = {s.uri: [r for r in iter_records(s) if not isinstance(r, Digest)] for s in list_shards([str(data)])}
    return JobData(lines, read_output(root / "out"))


def as_table(raws: list[bytes], column: str = "request") -> pa.Table:
    """Lines as a binary column: the corpus holds invalid UTF-8, which a string column cannot."""
    return pa.table({column: pa.array(raws, pa.binary())})
