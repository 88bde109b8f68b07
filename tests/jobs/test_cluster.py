"""A real two-node Ray cluster on this machine (head + worker, one CPU each) and ``ray job submit``.

The nodes are started with ``ray start --block`` and stopped by killing exactly the processes that
carry this test's marker in their environment (Ray workers start their own sessions, so a process
group is not enough), never by ``ray stop``: the session's local Ray and any other Ray are left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from .conftest import MODEL, REPO, read_output

RAY = str(Path(sys.executable).with_name("ray"))


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def node_ports() -> list[str]:
    """Every port a node listens on, chosen free, so two nodes (and the test session's Ray) coexist."""
    p = free_ports(6)
    return [f"--node-manager-port={p[0]}", f"--object-manager-port={p[1]}",
            f"--dashboard-agent-listen-port={p[2]}", f"--dashboard-agent-grpc-port={p[3]}",
            f"--runtime-env-agent-port={p[4]}", f"--metrics-export-port={p[5]}"]


def start_node(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([RAY, "start", "--block", "--num-cpus=1", *node_ports(), *args], env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_node(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def kill_marked(marker: str) -> None:
    """SIGKILL every process whose environment carries ``marker``: all started by this test."""
    needle = f"TOKCOUNT_TEST_CLUSTER={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(ready, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
        time.sleep(1)


def alive_nodes(gcs: str, env: dict[str, str]) -> int:
    code = f"import ray; ray.init(address={gcs!r}, logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    return int(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 and proc.stdout.strip() else 0


@pytest.mark.slow
def test_job_submit_on_a_two_node_cluster(sample, tmp_path):
    gcs_port, dash_port = free_ports(2)
    gcs = f"127.0.0.1:{gcs_port}"
    marker = uuid.uuid4().hex
    env = {**os.environ, "RAY_AUTH_MODE": "token", "TOKCOUNT_TEST_CLUSTER": marker}
    env.pop("RAY_ADDRESS", None)
    # Own temp dir (short: it holds unix sockets), so no ray_current_cluster file is left in /tmp/ray
    # for a later ray.init() to find.
    temp_dir = tempfile.mkdtemp(prefix="tcray")
    nodes = [start_node(["--head", f"--port={gcs_port}", "--include-dashboard=true", f"--temp-dir={temp_dir}",
                         "--dashboard-host=127.0.0.1", f"--dashboard-port={dash_port}"], env, tmp_path / "head.log")]
    try:
        wait_for(lambda: port_open(dash_port), nodes[0], tmp_path / "head.log")
        nodes.append(start_node([f"--address={gcs}", f"--temp-dir={temp_dir}"], env, tmp_path / "worker.log"))
        wait_for(lambda: alive_nodes(gcs, env) == 2, nodes[1], tmp_path / "worker.log")

        out = tmp_path / "out"
        submit = [RAY, "job", "submit", f"--address=http://127.0.0.1:{dash_port}", f"--working-dir={REPO}",
                  "--runtime-env-json", json.dumps({"excludes": [".git", "notebooks", "tests"]}), "--",
                  sys.executable, "-m", "jobs.count_tokens", str(sample), str(out), "--model", MODEL, "--force-ray"]
        proc = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "succeeded" in proc.stdout and "tokcount: 350 records" in proc.stdout, proc.stdout[-3000:]

        manifest = json.loads((out / "_manifest.json").read_text())
        assert manifest["run"]["engine"] == "ray" and manifest["run"]["ray"]["nodes"] == 2
        # Both nodes counted and wrote shards (each node has one CPU, so one actor).
        assert len(manifest["run"]["shards_by_node"]) == 2, manifest["run"]
        local = tmp_path / "local"
        subprocess.run([sys.executable, "-m", "jobs.count_tokens", str(sample), str(local), "--model", MODEL],
                       cwd=REPO, check=True, capture_output=True)
        assert read_output(out).equals(read_output(local))
        files = sorted(p.name for p in local.glob("*.parquet"))
        assert files == sorted(p.name for p in out.glob("*.parquet")) and len(files) == 4
        for name in files:  # byte for byte
            assert (out / name).read_bytes() == (local / name).read_bytes(), name
    finally:
        for node in reversed(nodes):
            stop_node(node)
        kill_marked(marker)
        shutil.rmtree(temp_dir, ignore_errors=True)
