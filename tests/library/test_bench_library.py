"""Smoke test of ``python -m jobs.bench.library`` at a tiny size: both sides run and count the same.

No speed is asserted (a shared machine is too noisy); the ratio is for humans.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.jobs.conftest import REPO


@pytest.mark.slow
def test_tiny_run_reports_the_ratio_with_the_same_counts(tmp_path):
    out = tmp_path / "library.json"
    proc = subprocess.run([sys.executable, "-m", "jobs.bench.library", "--size-mb", "0.3", "--shards", "1",
                           "--actors", "1", "--repeat", "1", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["same_counts"] is True and set(result["seconds"]) == {"cli", "ray_data", "ray_data_running"}
    assert 0 < result["seconds"]["ray_data_running"] < result["seconds"]["ray_data"]
    assert result["ray_data_vs_cli"] > result["ray_data_vs_cli_end_to_end"] > 0
    assert "the pipeline on a running Ray" in proc.stdout
