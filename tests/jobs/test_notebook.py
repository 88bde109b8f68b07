"""The audit notebook runs top to bottom against a real job output."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc

from jobs.config import JobConfig
from jobs.job.pipeline import run_job

from .conftest import read_output

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "audit.ipynb"


def test_audit_notebook_runs_on_the_sample(sample, tmp_path):
    run_job([str(sample)], str(tmp_path / "out"), JobConfig(model="gpt-4o-mini"), log=lambda _m: None)
    namespace = {"OUTPUT": str(tmp_path / "out"), "PRICING": str(NOTEBOOK.parents[1] / "configs" / "pricing.yaml"),
                 "SAMPLE": str(sample)}
    for cell in json.loads(NOTEBOOK.read_text())["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), str(NOTEBOOK), "exec"), namespace)
    assert namespace["table"].num_rows == 350
    assert namespace["audited"].num_rows > 0
    assert set(namespace["examples"]) >= {"invalid_json", "unknown_model"}
    assert sum(g["compared"] for g in namespace["audit"].groups) == namespace["audited"].num_rows
    report = namespace["report"]
    assert report.total["records"] == 350 and report.total["cost_usd"] == sum(
        r["cost_usd"] for r in report.rows if r["cost_usd"] is not None)
    # the library cell: the fine-tuning shard's 80 examples, counted as `tokcount count --format finetune` does
    finetune = read_output(tmp_path / "out").filter(pc.match_substring(pc.field("source_file"), "finetune"))
    assert namespace["counted_examples"]["input_tokens"].to_pylist() == finetune["input_tokens"].to_pylist()


def test_audit_notebook_points_at_a_log_store(tmp_path):
    """The same notebook over a Bifrost store's output: the lossy rows are listed by their ``log_loss`` code."""
    from tests.jobs.bifrost_store import INSERT, comparable_cases, create, row_of

    db = tmp_path / "logs.db"
    con = create(db)
    cases = comparable_cases(6)
    con.executemany(INSERT, [row_of(c, i, input_history=None) if i < 2 else row_of(c, i) for i, c in enumerate(cases)])
    con.close()
    run_job([f"sqlite://{db}"], str(tmp_path / "out"), JobConfig(format="bifrost_logs"), log=lambda _m: None)
    namespace = {"OUTPUT": str(tmp_path / "out"), "PRICING": str(NOTEBOOK.parents[1] / "configs" / "pricing.yaml"),
                 "SAMPLE": str(NOTEBOOK.parents[1] / "data" / "sample")}
    for cell in json.loads(NOTEBOOK.read_text())["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), str(NOTEBOOK), "exec"), namespace)
    assert namespace["table"].num_rows == 6 and namespace["losses"] == {"content_not_logged": 2}
    assert sum(g["compared"] for g in namespace["audit"].groups) == 4
