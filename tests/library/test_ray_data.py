"""``jobs.ray_data.CountTokens`` on a real local Ray over Parquet: the CLI's rows, row by row."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.arrow import TABLE_LABEL
from jobs.ray_data import CountTokens
from tests.jobs.conftest import MODEL


def test_ray_data_rows_equal_the_cli_rows(ray_session, tmp_path, job_data):
    """The job check data as a Parquet ``request`` column, beside the file and line it came from.

    Only the location differs, necessarily: Ray hands a batch without its place in the dataset, so
    ``source_row`` is the row's index in its batch and ``source_file`` is null, and a record without an id
    (its record_id) and an error message name that place (``table:<row>``) instead of ``file:line``."""
    files, rows, raws = [], [], []
    for source_file, lines in job_data.lines.items():
        files += [source_file] * len(lines)
        rows += range(len(lines))
        raws += lines
    path = tmp_path / "requests.parquet"
    pq.write_table(pa.table({"file": files, "row": rows, "request": pa.array(raws, pa.binary())}), path,
                   row_group_size=64)
    # Half a CPU per actor: two whole-CPU actors would hold both of this Ray's CPUs and starve the reader.
    ds = ray_session.data.read_parquet(str(path), override_num_blocks=4).map_batches(
        CountTokens, fn_constructor_kwargs={"model": MODEL}, concurrency=2, num_cpus=0.5, batch_size=50,
        batch_format="pyarrow")
    out = pa.concat_tables(ray_session.get(ds.to_arrow_refs())).to_pylist()
    assert len(out) == job_data.cli.num_rows
    cli = {(r["source_file"], r["source_row"]): r for r in job_data.cli.to_pylist()}
    batch_rows = set()
    for got in out:
        want = dict(cli[got.pop("file"), got.pop("row")])
        here, there = f"{TABLE_LABEL}:{got['source_row']}", f"{want['source_file']}:{want['source_row']}"
        assert got.pop("source_file") is None
        batch_rows.add(got.pop("source_row"))
        del want["source_file"], want["source_row"]
        if want["record_id"] == there:
            want["record_id"] = here
        if want["error_message"]:
            want["error_message"] = want["error_message"].replace(there, here, 1)
        del got["request"]
        assert got == want
    assert max(batch_rows) < 50  # the index in the batch
