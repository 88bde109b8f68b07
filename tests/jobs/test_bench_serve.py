"""``python -m jobs.bench.serve`` runs end to end on a tiny load (it measures; no test asserts a speed)."""

from __future__ import annotations

import json

from jobs.bench import serve


def test_the_serve_benchmark_runs_and_every_answer_is_right(tmp_path, capsys):
    out = tmp_path / "serve.json"
    assert serve.main(["--workers", "1", "--clients", "1,4", "--seconds", "0.2", "--load", "asyncio",
                       "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["clients"], r["connection"]) for r in rows] == [(1, "keep-alive"), (4, "keep-alive"),
                                                               (1, "new per request")]
    assert all(r["errors"] == 0 and r["requests"] >= 200 and r["p99_ms"] >= r["p50_ms"] > 0 for r in rows)
    table = capsys.readouterr().out
    assert "| 1 | 4 | keep-alive | asyncio |" in table and "in-process count p50" in table
