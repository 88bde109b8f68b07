"""Reading shards from and writing output to s3:// (a local moto server), by CLI and on Ray."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pyarrow.fs as pafs
import pytest

from jobs.config import JobConfig
from jobs.job.pipeline import run_job

from .conftest import MODEL, REPO, read_output

moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", allow_bucket_creation=True,
                           access_key="testing", secret_key="testing", region="us-east-1")
    fs.create_dir("logs-in")
    fs.create_dir("counts-out")
    yield fs, env
    server.stop()


def test_s3_in_and_out_by_cli_and_on_ray(s3, sample, ray_session, tmp_path):
    fs, env = s3
    for path in sample.iterdir():
        with fs.open_output_stream(f"logs-in/logs/{path.name}", compression=None) as f:
            f.write(path.read_bytes())
    cmd = [sys.executable, "-m", "jobs.count_tokens", "s3://logs-in/logs/", "s3://counts-out/cli", "--model", MODEL]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "350 records" in proc.stdout

    config = JobConfig(model=MODEL).with_updates(**{"execution.force_ray": True})
    manifest = run_job(["s3://logs-in/logs/"], "s3://counts-out/ray", config, filesystem=fs,
                       log=lambda _m: None).manifest
    assert manifest["run"]["engine"] == "ray"

    by_cli, by_ray = read_output("counts-out/cli", fs), read_output("counts-out/ray", fs)
    assert by_cli.num_rows == 350 and by_cli.equals(by_ray)
    assert by_cli["source_file"][0].as_py() == "s3://logs-in/logs/batch-000.jsonl"
    run_job([str(sample)], str(tmp_path / "local"), JobConfig(model=MODEL), log=lambda _m: None)
    local = read_output(tmp_path / "local")
    assert by_cli["input_tokens"].to_pylist() == local["input_tokens"].to_pylist()

    with fs.open_input_stream("counts-out/cli/_manifest.json") as f:
        assert json.loads(f.read())["totals"]["records"] == 350
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True)
    assert proc.returncode == 0 and "(4 resumed)" in proc.stdout, proc.stdout + proc.stderr[-2000:]


def test_s3_output_under_the_input_prefix_is_not_read_back(s3, sample):
    """``count s3://b/logs/ s3://b/logs/out`` twice: the second run resumes, it reads no Parquet of the first."""
    fs, _ = s3
    for path in sample.iterdir():
        with fs.open_output_stream(f"logs-in/nested/{path.name}", compression=None) as f:
            f.write(path.read_bytes())
    config = JobConfig(model=MODEL).with_updates(**{"execution.engine": "in-process"})
    for _ in range(2):
        manifest = run_job(["s3://logs-in/nested/"], "s3://logs-in/nested/out", config, filesystem=fs,
                           log=lambda _m: None).manifest
    assert (len(manifest["inputs"]), manifest["run"]["shards_skipped"], manifest["totals"]["records"]) == (4, 4, 350)
