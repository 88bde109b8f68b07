"""Remote images: never fetched by default; fetched from allow-listed hosts only when configured."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from jobs.config import ConfigError, JobConfig, validate_config
from jobs.job.pipeline import run_job
from tokcount_core import count

from .conftest import read_output


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture()
def image_server():
    """A loopback server with one 1024x1024 PNG and a redirect; it records every request."""
    png = _png(1024, 1024)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            if self.path == "/redirect.png":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def _body(url: str) -> dict:
    return {"model": "gpt-4o", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": url}]}]}


def test_remote_images_are_not_fetched_by_default(image_server, tmp_path):
    base, seen = image_server
    (tmp_path / "in.jsonl").write_text(json.dumps(_body(f"{base}/a.png")) + "\n")
    run_job([str(tmp_path / "in.jsonl")], str(tmp_path / "out"), JobConfig(), log=lambda _m: None)
    row = read_output(tmp_path / "out").to_pylist()[0]
    assert seen == []
    assert row["estimated"] and row["estimate_reasons"] == ["image_size_unknown"]


def test_allow_listed_hosts_are_fetched_once_and_priced_exactly(image_server, tmp_path):
    base, seen = image_server
    lines = [_body(f"{base}/a.png"), _body(f"{base}/a.png"), _body(f"{base}/redirect.png"),
             _body("http://other.invalid/b.png")]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(b) + "\n" for b in lines))
    config = JobConfig(media={"allow_fetch": True, "allow_hosts": ["127.0.0.1"]})
    run_job([str(tmp_path / "in.jsonl")], str(tmp_path / "out"), config, log=lambda _m: None)
    rows = read_output(tmp_path / "out").to_pylist()
    assert seen == ["/a.png", "/redirect.png"]  # cached; the redirect is not followed; other hosts untouched
    assert not rows[0]["estimated"] and rows[0]["input_tokens_details"]["image_tokens"] == 765
    assert rows[0]["input_tokens"] == rows[1]["input_tokens"]
    for row in rows[2:]:
        assert row["estimated"] and row["estimate_reasons"] == ["image_size_unknown"]
        assert row["input_tokens"] == count(_body("https://x/y.png")).input_tokens


def test_fetching_needs_an_allow_list():
    with pytest.raises(ConfigError, match="allow_hosts"):
        validate_config({"media": {"allow_fetch": True}}, source="test")
