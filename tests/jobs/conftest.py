"""Shared fixtures for the job tests: one local Ray for the session, a private copy of the sample."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
MODEL = "gpt-4o-mini"  # default model for the fine-tuning shard


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for every test that needs it (starting Ray costs seconds)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A private copy of data/sample (tests may edit or delete shards)."""
    dst = tmp_path / "sample"
    shutil.copytree(SAMPLE, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dst


def stem(name: str) -> str:
    """An output file's name without its shard key (``big.<key>.part-00001.parquet`` -> ``big.part-00001.parquet``)."""
    return re.sub(r"\.[0-9a-f]{16}(?=\.part-\d+\.parquet$|\.parquet$)", "", name)


def shard_file(directory: Path, name: str) -> Path:
    """The one output file whose name without the key is ``name``."""
    (found,) = [p for p in directory.glob("*.parquet") if stem(p.name) == name]
    return found


def read_output(path: Path | str, filesystem=None) -> pa.Table:
    """All output rows, in input order (source_file, source_row)."""
    table = pads.dataset(str(path), format="parquet", filesystem=filesystem).to_table()
    return table.sort_by([("source_file", "ascending"), ("source_row", "ascending")])


def sample_lines(directory: Path) -> dict[str, list[bytes]]:
    """Each sample shard's lines as the job must see them: split on \\n only."""
    import gzip

    out = {}
    for path in sorted(directory.glob("*.jsonl*")):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        out[path.name] = data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")
    return out
