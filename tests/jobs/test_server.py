"""``tokcount serve`` against the real uvicorn server: the official OpenAI client, raw HTTP, the batch
endpoint, health, metrics, auth, the timeout, the job's counts, and a bounded concurrent load."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import openai
import orjson
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from jobs.bench.serve import run_load
from jobs.cli import main
from jobs.config import JobConfig
from jobs.job.pipeline import run_job
from jobs.server.app import CountingService, ServeOptions, create_app, uvicorn_config
from tests.data.bad.corpus import body, file_part, pdf, user
from tokcount_core import count

from .conftest import read_output

LIMITS = {"max_record_bytes": 100_000}
T = TypeVar("T")


@contextmanager
def serving(options: ServeOptions) -> Iterator[str]:
    """The app under uvicorn in a thread, on a free port; yields the root URL."""
    config = uvicorn_config(create_app(options), "127.0.0.1", 0, options)
    sock = config.bind_socket()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "server did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serving(ServeOptions(JobConfig(limits=LIMITS))) as url:
        yield url


@pytest.fixture(scope="module")
def client(root: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{root}/v1", api_key="unused", max_retries=0)


def _exchange(url: str, body: bytes | None = None, headers: dict[str, str] | None = None
              ) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    status, reply, _ = _exchange(url, body, headers)
    return status, json.loads(reply)


def test_the_openai_client_gets_the_seed_count(client):
    counted = client.responses.input_tokens.count(model="gpt-5", input="Tell me a joke.")
    assert counted.object == "response.input_tokens" and counted.input_tokens == 11
    assert counted.model_extra == {"estimated": False, "estimate_reasons": []}


def test_hidden_context_comes_back_flagged(client):
    counted = client.responses.input_tokens.count(model="gpt-4o", input="hi", previous_response_id="resp_1")
    assert counted.input_tokens == count({"model": "gpt-4o", "input": "hi"}).input_tokens
    assert counted.model_extra == {"estimated": True, "estimate_reasons": ["previous_response_id"]}


def test_errors_arrive_as_openai_errors_naming_the_field(client):
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.input_tokens.count(model="gpt-9000", input="hi")
    assert bad.value.code == "unknown_model" and "gpt-9000" in bad.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.input_tokens.count(model="gpt-4o", input=[{"type": "telepathy_call"}])
    assert bad.value.code == "unsupported_item" and "input.0" in bad.value.message


def test_bifrost_endpoint_returns_bifrost_shape_and_tokens_on_request(root):
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "Tell me a joke."}]}
    status, reply = _post(f"{root}/v1/count_tokens?tokens=true", json.dumps(body).encode())
    expected = count(body, api="bifrost", return_tokens=True)
    assert status == 200 and reply["input_tokens"] == expected.input_tokens == reply["total_tokens"]
    assert reply["tokens"] == expected.tokens and len(reply["token_strings"]) == len(expected.tokens)
    assert sum(reply["input_tokens_details"].values()) == reply["input_tokens"]


def test_oversized_unknown_and_malformed_requests_are_refused(root):
    # refused unread, so the connection closes rather than read the body as the next request
    status, reply, headers = _exchange(f"{root}/v1/responses/input_tokens", b" " * 200_000)
    assert status == 413 and json.loads(reply)["error"]["code"] == "too_large" and headers["connection"] == "close"
    status, reply, headers = _exchange(f"{root}/v1/chat/completions", b"{}")
    assert status == 404 and json.loads(reply)["error"]["code"] == "not_found" and headers["connection"] == "close"
    status, reply = _post(f"{root}/v1/responses/input_tokens", b"{not json")
    assert status == 400 and reply["error"] == {"message": reply["error"]["message"], "type": "invalid_request_error",
                                                "param": None, "code": "invalid_json"}


def _connection(root: str) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(root.removeprefix("http://"), timeout=10)


def _raw(root: str, request: bytes) -> tuple[bytes, dict]:
    """Send bytes as they are; the status line and the JSON body of the reply (the server closes)."""
    with socket.create_connection(("127.0.0.1", int(root.rsplit(":", 1)[1])), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], json.loads(body)


def test_a_chunked_upload_over_the_limit_is_cut_off(root):
    chunk = b"7530\r\n" + b"x" * 30_000 + b"\r\n"  # no Content-Length: the limit is applied while reading
    status, reply = _raw(root, b"POST /v1/count_tokens HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + chunk * 4 + b"0\r\n\r\n")
    assert status == b"HTTP/1.1 413 Request Entity Too Large" and reply["error"]["code"] == "too_large"


def test_keep_alive_serves_many_requests_on_one_connection(root):
    body = b'{"model": "gpt-4o", "input": "hi"}'
    connection, answers = _connection(root), []
    for _ in range(20):
        connection.request("POST", "/v1/responses/input_tokens", body=body)
        reply = connection.getresponse()
        answers.append(json.loads(reply.read())["input_tokens"])
        if len(answers) == 1:
            first_socket = connection.sock
    assert answers == [count(body).input_tokens] * 20 and connection.sock is first_socket  # never reopened


def test_batch_answers_each_body_in_order_with_its_own_error(root):
    bodies = [{"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "Tell me a joke."}]},
              {"model": "gpt-9000", "input": "hi"},
              {"model": "gpt-5", "input": [{"role": "user", "content": "a longer question " * 20}]},
              "not a body"]
    expected = [count(orjson.dumps(b), api="bifrost") for b in bodies]
    for payload in (orjson.dumps(bodies), b"\n".join(orjson.dumps(b) for b in bodies) + b"\n"):
        status, reply = _post(f"{root}/v1/count_tokens/batch", payload)
        assert status == 200 and reply["object"] == "list" and len(reply["data"]) == 4
        ok = [0, 2]
        assert [reply["data"][i]["input_tokens"] for i in ok] == [expected[i].input_tokens for i in ok]
        unknown = reply["data"][1]["error"]
        assert unknown["code"] == "unknown_model" and unknown["message"].startswith("[1] ")
        assert reply["data"][3]["error"]["code"] == expected[3].error_code == "invalid_request"
    status, reply = _post(f"{root}/v1/count_tokens/batch", b"[{")
    assert status == 400 and reply["error"]["code"] == "invalid_json"
    status, reply = _post(f"{root}/v1/count_tokens/batch", b'{"model": "gpt-4o", "input": "hi"}\n{oops}\n')
    assert status == 200 and [d.get("input_tokens") or d["error"]["code"] for d in reply["data"]] == [
        count({"model": "gpt-4o", "input": "hi"}).input_tokens, "invalid_json"]


def test_a_batch_over_the_item_bound_is_refused_before_anything_is_counted(root):
    """1,000 bodies (the default bound) are answered; 1,001 get a 413 and not one of them is counted,
    as a JSON array or as JSON lines."""
    url, missing = f"{root}/v1/count_tokens/batch", ("tokcount_errors_total", (("code", "missing_model"),))
    assert count(b"{}", api="bifrost").error_code == "missing_model"
    for items in (1000, 1001):
        for payload in (b"[" + b",".join([b"{}"] * items) + b"]", b"{}\n" * items):
            before = _samples(f"{root}/metrics").get(missing, 0)
            status, reply = _post(url, payload)
            counted = _samples(f"{root}/metrics").get(missing, 0) - before
            if items == 1000:
                assert status == 200 and len(reply["data"]) == counted == 1000
            else:
                assert status == 413 and reply["error"]["code"] == "too_large" and counted == 0
                assert "more than 1000 bodies" in reply["error"]["message"]


def _peak_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) * 1024


def test_a_huge_batch_is_refused_without_growing_the_server():
    """The issue's ``[{},{},...]`` of 400,000 items (1.2 MB) took a worker from 580 MB to 2.4 GB; now a 413,
    and the worker's peak memory grows by little more than the body."""
    with serving_cli() as (root, process):
        before = _peak_rss(process.pid)
        status, reply = _post(f"{root}/v1/count_tokens/batch", b"[" + b",".join([b"{}"] * 400_000) + b"]")
        assert status == 413 and reply["error"]["code"] == "too_large"
        assert _peak_rss(process.pid) - before < 50_000_000


def _batches_counting() -> list[list]:
    """The ``results`` so far of each thread of this process inside ``CountingService.count_all``."""
    found = []
    for frame in sys._current_frames().values():
        while frame is not None and frame.f_code is not CountingService.count_all.__code__:
            frame = frame.f_back
        if frame is not None and "results" in frame.f_locals:
            found.append(frame.f_locals["results"])
    return found


def _wait_for(condition: Callable[[], T], seconds: float = 30) -> T:
    """The condition's first truthy value, polled until ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)
    return value


def test_a_timed_out_batch_stops_counting_at_its_next_body():
    """asyncio cannot stop the count thread; after the 504 it finishes the body it is on and stops, rather
    than count the other slow bodies (each a 400-page PDF, 50 ms) for nobody while holding the batch."""
    bodies = [body(input=[user(file_part(pdf(pages=400, content=b"BT /F1 12 Tf 72 712 Td (Page %d) Tj ET" % i)))])
              for i in range(200)]
    with serving(ServeOptions(JobConfig(), timeout=1.0)) as root, ThreadPoolExecutor(1) as pool:
        answer = pool.submit(_post, f"{root}/v1/count_tokens/batch", b"[" + b",".join(bodies) + b"]")
        results = _wait_for(_batches_counting)[0]
        status, reply = answer.result()
        counted_at_504 = len(results)
        assert status == 504 and reply["error"]["code"] == "timeout"
        _wait_for(lambda: not _batches_counting())
        assert len(results) <= counted_at_504 + 1 and len(results) < len(bodies)


def _samples(url: str) -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_healthz_and_metrics_after_traffic(root, client):
    status, reply, _ = _exchange(f"{root}/healthz")
    assert status == 200 and json.loads(reply)["status"] == "ok"
    before = _samples(f"{root}/metrics")
    for text in ("one", "two two", "three three three"):
        client.responses.input_tokens.count(model="gpt-4o", input=text)
    with pytest.raises(openai.BadRequestError):
        client.responses.input_tokens.count(model="gpt-9000", input="hi")
    after = _samples(f"{root}/metrics")

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    endpoint = "/v1/responses/input_tokens"
    assert grew("tokcount_requests_total", endpoint=endpoint, status="200") == 3
    assert grew("tokcount_requests_total", endpoint=endpoint, status="400") == 1
    assert grew("tokcount_errors_total", code="unknown_model") == 1
    expected = sum(count({"model": "gpt-4o", "input": t}).input_tokens for t in ("one", "two two", "three three three"))
    assert grew("tokcount_tokens_counted_total", endpoint="responses") == expected
    assert grew("tokcount_request_duration_seconds_count", endpoint=endpoint) == 4


def test_auth_on_requires_the_key_except_for_healthz():
    with serving(ServeOptions(JobConfig(), api_key="sk-local")) as root:
        good = openai.OpenAI(base_url=f"{root}/v1", api_key="sk-local", max_retries=0)
        assert good.responses.input_tokens.count(model="gpt-5", input="Tell me a joke.").input_tokens == 11
        bad = openai.OpenAI(base_url=f"{root}/v1", api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as refused:
            bad.responses.input_tokens.count(model="gpt-5", input="Tell me a joke.")
        assert refused.value.code == "invalid_api_key"
        status, reply = _post(f"{root}/v1/count_tokens", b'{"model": "gpt-4o", "input": "hi"}')
        assert status == 401 and reply["error"]["type"] == "invalid_request_error"
        assert _exchange(f"{root}/metrics")[0] == 401
        assert _exchange(f"{root}/metrics", headers={"Authorization": "Bearer sk-local"})[0] == 200
        assert _exchange(f"{root}/healthz")[0] == 200
        # RFC 7235: the scheme is case-insensitive; the key is not
        assert _exchange(f"{root}/metrics", headers={"Authorization": "bearer sk-local"})[0] == 200
        assert _exchange(f"{root}/metrics", headers={"Authorization": "BEARER sk-local"})[0] == 200
        assert _exchange(f"{root}/metrics", headers={"Authorization": "Bearer SK-LOCAL"})[0] == 401
        assert _exchange(f"{root}/metrics", headers={"Authorization": "Basic sk-local"})[0] == 401


def test_a_stalled_request_times_out_with_504():
    with serving(ServeOptions(JobConfig(), timeout=0.3)) as root:
        # a third of the body, then nothing
        status, reply = _raw(root, b"POST /v1/count_tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n{\"model\"")
        assert status == b"HTTP/1.1 504 Gateway Timeout" and reply["error"]["code"] == "timeout"


def test_the_server_and_the_job_give_identical_counts(tmp_path):
    config = JobConfig(model="gpt-4.1", as_of="2025-06-01", limits=LIMITS,
                       registry={"aliases": {"prod-chat": "gpt-5"}})
    bodies = [{"model": "prod-chat", "input": "Tell me a joke."},
              {"input": [{"role": "user", "content": "no model: the default applies"}]},
              {"model": "gpt-4o", "input": "hi", "tools": [{"type": "function", "name": "f", "description": "d",
                                                            "parameters": {"type": "object", "properties": {
                                                                "x": {"type": "string", "enum": ["a", "b"]}}}}]},
              {"model": "gpt-9000", "input": "hi"}]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bodies.jsonl").write_bytes(b"".join(orjson.dumps(b) + b"\n" for b in bodies))
    run_job([str(tmp_path / "in")], str(tmp_path / "out"), config, log=lambda _: None)
    job = read_output(tmp_path / "out").select(["input_tokens", "error_code"]).to_pylist()
    with serving(ServeOptions(config)) as root:
        served = [_post(f"{root}/v1/responses/input_tokens", orjson.dumps(b)) for b in bodies]
    assert [(r.get("input_tokens"), r.get("error", {}).get("code")) for _, r in served] == [
        (row["input_tokens"], row["error_code"]) for row in job]
    assert job[0]["input_tokens"] == 11 and job[3]["error_code"] == "unknown_model"


@contextmanager
def serving_cli(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """``tokcount serve --port 0 ARGS`` as a user starts it; yields its root URL and process (read its
    stderr after the block), and stops it with SIGINT."""
    process = subprocess.Popen([sys.executable, "-m", "jobs.cli", "serve", "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    workers = args[args.index("--workers") + 1] if "--workers" in args else "1"
    try:
        line = process.stdout.readline()
        assert line.startswith("tokcount: serving") and f"{workers} worker(s)" in line, line + process.stderr.read()
        root = line.rsplit(" ", 1)[1].strip()
        _wait_healthy(root)
        yield root, process
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory) -> Iterator[str]:
    config = tmp_path_factory.mktemp("serve") / "job.yaml"
    config.write_text("registry:\n  aliases: {prod-chat: gpt-5}\n")
    with serving_cli("--workers", "2", "--config", str(config)) as (root, _):
        yield root


def _wait_healthy(root: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if urllib.request.urlopen(f"{root}/healthz", timeout=5).status == 200:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_the_cli_serves_with_its_config(two_workers):
    client = openai.OpenAI(base_url=f"{two_workers}/v1", api_key="unused", max_retries=0)
    assert client.responses.input_tokens.count(model="prod-chat", input="Tell me a joke.").input_tokens == 11


def test_concurrent_load_loses_nothing_and_metrics_add_up_across_workers(two_workers):
    requests, clients = 2000, 32
    endpoint = "/v1/responses/input_tokens"
    bodies = [orjson.dumps({"model": "gpt-4o", "input": f"request {i}: " + "word " * (i % 50)})
              for i in range(requests)]
    expected = [count(b).input_tokens for b in bodies]
    before = _samples(f"{two_workers}/metrics")
    host, port = two_workers.removeprefix("http://").rsplit(":", 1)
    load = asyncio.run(asyncio.wait_for(run_load(host, int(port), bodies, clients, endpoint), 120))
    assert [status for status, _ in load.replies] == [200] * requests
    assert [json.loads(reply)["input_tokens"] for _, reply in load.replies] == expected
    after = _samples(f"{two_workers}/metrics")
    key = ("tokcount_requests_total", (("endpoint", endpoint), ("status", "200")))
    assert after[key] - before.get(key, 0) == requests  # summed over both workers


def _socket(root: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", int(root.rsplit(":", 1)[1])), timeout=10)


def _healthz_on(sock: socket.socket) -> None:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")


def test_a_connection_that_sends_nothing_is_closed():
    with serving(ServeOptions(JobConfig(), header_timeout=0.5)) as root, _socket(root) as sock:
        assert sock.recv(1) == b""  # closed by the server, not our 10 s socket timeout


def _closed_while_dribbling(sock: socket.socket, data: bytes) -> bool:
    """Send ``data`` a byte at a time, about 20 a second; whether the server closed the connection first."""
    sock.settimeout(0.05)
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(1) == b"":
                return True
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


@pytest.mark.parametrize("kept_alive", [False, True], ids=["new-connection", "after-a-request"])
def test_a_connection_dribbling_its_headers_is_closed(kept_alive):
    """Slowloris: a request head that never completes (400 bytes at 20 a second) is cut off, on a new
    connection and on a kept-alive one (whose keep-alive timer the first byte stops)."""
    head = b"POST /v1/count_tokens HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 400
    with serving(ServeOptions(JobConfig(), header_timeout=0.5)) as root, _socket(root) as sock:
        if kept_alive:
            _healthz_on(sock)
        assert _closed_while_dribbling(sock, head)


def test_connections_past_the_cap_get_a_503_and_are_closed():
    with serving(ServeOptions(JobConfig(), max_connections=2)) as root:
        with _socket(root) as first, _socket(root) as second:
            _healthz_on(first)  # both open and the server's
            _healthz_on(second)
            status, reply = _raw(root, b"")
            assert status == b"HTTP/1.1 503 Service Unavailable" and reply["error"]["code"] == "overloaded"
        _wait_healthy(root)  # served again once they close


def test_a_client_leaving_mid_upload_is_a_499_not_a_server_error():
    """Anyone could raise the 5xx rate alerts watch: a disconnect was an ASGI traceback and a 500."""
    with serving_cli() as (root, process):
        with _socket(root) as sock:
            sock.sendall(b"POST /v1/count_tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                         + b'{"model": "gpt-4o", "input": "' + b"a" * 1000)

        def statuses() -> list[str]:
            return [dict(labels)["status"] for (name, labels), _ in _samples(f"{root}/metrics").items()
                    if name == "tokcount_requests_total" and dict(labels)["endpoint"] == "/v1/count_tokens"]

        assert _wait_for(statuses) == ["499"]
    log = process.stderr.read()
    assert "Traceback" not in log and "Exception" not in log, log


@pytest.mark.parametrize("args, named", [
    (["--timeout", "nan"], "--timeout"), (["--timeout", "inf"], "--timeout"), (["--timeout", "0"], "--timeout"),
    (["--header-timeout", "-1"], "--header-timeout"), (["--port", "99999"], "--port"), (["--port", "-1"], "--port"),
    (["--workers", "0"], "--workers"), (["--workers", "-2"], "--workers"),
    (["--max-batch-items", "0"], "--max-batch-items"), (["--max-connections", "0"], "--max-connections"),
    (["--api-key", ""], "--api-key"), (["--api-key", "  "], "--api-key"), (["--api-key", "key\n"], "--api-key"),
])
def test_bad_serve_options_are_refused_naming_them(args, named, capsys):
    assert main(["serve", *args]) == 2  # before anything binds
    err = capsys.readouterr().err
    assert err.startswith("tokcount: error: ") and named in err and err.count("\n") == 1, err


def test_an_empty_api_key_variable_stops_the_server_in_one_line():
    """An empty TOKCOUNT_API_KEY is a secret that failed to load: it was 'no auth'; only an unset one is."""
    proc = subprocess.run([sys.executable, "-m", "jobs.cli", "serve", "--port", "0"], capture_output=True, text=True,
                          env={**os.environ, "TOKCOUNT_API_KEY": ""}, timeout=20)
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout + proc.stderr
    assert proc.stderr.startswith("tokcount: error: ") and proc.stderr.count("\n") == 1
    assert "TOKCOUNT_API_KEY" in proc.stderr
