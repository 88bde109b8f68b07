"""Smoke test of ``python -m jobs.bench --quick``: it runs end to end and writes every key.

No speed is asserted (a shared CI machine is too noisy); the numbers are for humans.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.jobs.conftest import REPO


def test_quick_benchmark_writes_every_key(tmp_path):
    out = tmp_path / "benchmark.json"
    proc = subprocess.run([sys.executable, "-m", "jobs.bench", "--quick", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert {"machine", "corpus", "single_thread", "litellm", "jobs", "engines", "crossover_mb",
            "marginal_vs_in_process", "memory_growth", "sample_seconds", "targets"} <= result.keys()
    single = result["single_thread"]
    assert {"tiktoken_raw", "core_tiktoken"} <= single.keys()
    assert {"records_per_s", "mb_per_s", "text_mb_per_s"} <= single["tiktoken_raw"].keys()
    assert "ratio_to_tiktoken" in single["core_tiktoken"]
    jobs = result["jobs"]
    assert {(j["scale"], j["engine"]) for j in jobs} >= {(s, e) for s in (1, 2) for e in ("in-process", "local", "ray")}
    assert set(result["engines"]) == {"in-process", "local", "ray"} and result["sample_seconds"] > 0
    assert any(j.get("cli") for j in jobs)
    for job in jobs:
        assert job["errors"] == 0 and job["records"] > 0
        assert {"mb_per_s", "ratio_to_tiktoken", "startup_s", "steady_mb_per_s", "memory"} <= job.keys()
        if not job.get("cli"):  # a fresh CLI process is timed, not watched
            assert {"driver_mb", "actor_max_mb", "actor_max_private_mb"} <= job["memory"].keys()
    assert set(result["targets"]) == {"core_vs_tiktoken", "job_vs_tiktoken", "vs_litellm", "ray_marginal_vs_in_process",
                                      "memory_4x_vs_1x", "sample_seconds"}
    assert "benchmark.json" in proc.stdout or str(out) in proc.stdout
