"""The bad-input corpus through the whole job: exactly one row per line, the documented code on every
bad line, the core's own count on every good one; the same rows on every run, engine and pool size."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from jobs.config import JobConfig
from tests.data.bad.corpus import COUNTED, KINDS, Expected, body, image, user
from tests.jobs.conftest import read_output
from tokcount_core import ErrorCode, count

from .conftest import run

IN_PROCESS = JobConfig(execution={"small_input_bytes": 2**62})  # the corpus is over the 20 MB Ray threshold
README = Path(__file__).resolve().parents[1] / "data" / "bad" / "README.md"


@pytest.fixture(scope="module")
def counted(corpus: tuple[Path, list[Expected]], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The corpus counted in-process with the defaults (no default model: missing_model must show)."""
    out = tmp_path_factory.mktemp("counted")
    return out, run([corpus[0]], out, IN_PROCESS)


def check_row(row: dict[str, Any], exp: Expected) -> None:
    name = exp.kind.name if exp.kind else "good"
    assert (row["error_code"] or COUNTED) == (exp.kind.expected if exp.kind else COUNTED), (name, row["error_message"])
    assert (row["input_tokens"] is None) == (row["error_code"] is not None), name
    if row["error_code"]:
        assert row["error_message"].startswith(f"{row['source_file']}:{row['source_row']}: "), row["error_message"]
    else:
        assert sum(row["input_tokens_details"].values()) == row["input_tokens"], name
    if exp.kind is None or exp.kind.bare:  # a bare body: the job must agree with the core exactly
        res = count(exp.line)
        assert (row["error_code"], row["input_tokens"], row["estimated"], row["estimate_reasons"]) == (
            res.error_code, res.input_tokens, res.estimated, res.estimate_reasons), name
        if res.error_code is None:
            assert (row["model"], row["input_tokens_details"]) == (res.model, res.input_tokens_details.model_dump())


def test_every_line_gives_one_row_with_its_expected_outcome(corpus, counted):
    _, expected = corpus
    out, manifest = counted
    rows = read_output(out).to_pylist()
    assert [(r["source_file"], r["source_row"]) for r in rows] == [(e.source_file, e.source_row) for e in expected]
    for row, exp in zip(rows, expected, strict=True):
        check_row(row, exp)
    codes = Counter(e.kind.expected for e in expected if e.kind and e.kind.expected != COUNTED)
    assert manifest["totals"]["errors"] == dict(sorted(codes.items()))
    assert manifest["totals"]["records"] == len(expected)


def test_an_absurd_image_header_is_priced_like_the_largest_real_image(corpus, counted):
    """100000x100000 in a PNG header is scaled down like any image: bounded cost, no allocation."""
    _, expected = corpus
    rows = read_output(counted[0]).to_pylist()
    row = next(r for r, e in zip(rows, expected, strict=True) if e.kind and e.kind.name == "image_png_absurd_size")
    largest = count(body(input=[user(image(2048, 2048))])).input_tokens_details
    assert row["input_tokens_details"]["image_tokens"] == largest.image_tokens > 0


def test_kinds_cover_the_issue_and_the_readme_lists_each_with_its_code():
    assert len(KINDS) >= 30 and len({k.name for k in KINDS}) == len(KINDS)
    assert {k.expected for k in KINDS} <= {COUNTED, *ErrorCode}
    documented = dict(re.findall(r"^\| `(\w+)` \| `?(\w+)`? \|", README.read_text(), flags=re.M))
    assert documented == {k.name: k.expected for k in KINDS}


def test_a_rerun_writes_byte_identical_files(corpus, counted, tmp_path):
    out, _ = counted
    run([corpus[0]], tmp_path / "again", IN_PROCESS)
    names = sorted(p.name for p in out.glob("*.parquet"))
    assert names and names == sorted(p.name for p in (tmp_path / "again").glob("*.parquet"))
    for name in names:
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


@pytest.mark.slow
@pytest.mark.parametrize("actors", [1, 2])
def test_ray_gives_the_same_rows_with_one_or_two_actors(corpus, counted, ray_session, tmp_path, actors):
    """Small blocks and batches, so rows of one shard cross actors and must come back in order."""
    out, manifest = counted
    config = JobConfig(execution={"force_ray": True, "actors": actors, "lines_per_block": 7})
    on_ray = run([corpus[0]], tmp_path / "ray", config)
    assert on_ray["run"]["engine"] == "ray"
    assert read_output(tmp_path / "ray").equals(read_output(out))
    assert on_ray["totals"] == manifest["totals"] and on_ray["inputs"] == manifest["inputs"]
    for path in out.glob("*.parquet"):
        assert pa.parquet.read_table(tmp_path / "ray" / path.name).equals(pa.parquet.read_table(path))
