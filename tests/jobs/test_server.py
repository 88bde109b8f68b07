"""``tokcount serve`` through the official OpenAI client, and Bifrost's endpoint over plain HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import openai
import pytest

from jobs.config import JobConfig
from jobs.server import CountingServer
from tokcount_core import count


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = CountingServer(("127.0.0.1", 0), JobConfig(limits={"max_record_bytes": 100_000}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)


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


def _post(url: str, body: bytes) -> tuple[int, dict]:
    status, reply, _ = _exchange(url, body)
    return status, reply


def _exchange(url: str, body: bytes) -> tuple[int, dict, str | None]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers.get("Connection")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("Connection")


def test_bifrost_endpoint_returns_bifrost_shape_and_tokens_on_request(base_url):
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "Tell me a joke."}]}
    status, reply = _post(f"{base_url}/count_tokens?tokens=true", json.dumps(body).encode())
    expected = count(body, api="bifrost", return_tokens=True)
    assert status == 200 and reply["input_tokens"] == expected.input_tokens == reply["total_tokens"]
    assert reply["tokens"] == expected.tokens and len(reply["token_strings"]) == len(expected.tokens)
    assert sum(reply["input_tokens_details"].values()) == reply["input_tokens"]


def test_oversized_and_unknown_requests_are_refused_without_counting(base_url):
    # refused unread, so the connection closes rather than read the body as the next request
    status, reply, connection = _exchange(f"{base_url}/responses/input_tokens", b" " * 200_000)
    assert status == 413 and reply["error"]["code"] == "too_large" and connection == "close"
    status, reply, connection = _exchange(f"{base_url}/chat/completions", b"{}")
    assert status == 404 and reply["error"]["code"] == "not_found" and connection == "close"
    status, reply = _post(f"{base_url}/responses/input_tokens", b"{not json")
    assert status == 400 and reply["error"]["code"] == "invalid_json"


def test_the_cli_serves_until_stopped(tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text("registry:\n  aliases: {prod-chat: gpt-5}\n")
    process = subprocess.Popen([sys.executable, "-m", "jobs.cli", "serve", "--port", "0", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("tokcount: serving"), line + process.stderr.read()
        base_url = line.rsplit(" ", 1)[1].strip() + "/v1"
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        assert client.responses.input_tokens.count(model="prod-chat", input="Tell me a joke.").input_tokens == 11
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
