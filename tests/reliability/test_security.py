"""Counting never reaches outside the record: no URL is fetched unless allow-listed, no path or
file:// URL in a record is opened, no host is resolved. Watched with a loopback server that logs
requests and a ``sys.addaudithook`` hook that sees every open, connect and name lookup."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jobs.config import JobConfig
from jobs.job.counting import RowCounter
from tests.data.bad.corpus import PASSWD, body, user
from tests.jobs.conftest import read_output
from tokcount_core import count

from .conftest import run

_EVENTS = ("open", "socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request",
           "subprocess.Popen", "os.system")
_watch: tuple[int, list[tuple[str, tuple[Any, ...]]]] | None = None  # (thread, events)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    watch = _watch
    if watch is not None and event in _EVENTS and threading.get_ident() == watch[0]:
        watch[1].append((event, args))


sys.addaudithook(_hook)  # cannot be removed; records only inside audited(), only the test's own thread


@contextmanager
def audited() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """Events of this thread (counting runs in it; other threads, e.g. Ray's, are not ours to judge)."""
    global _watch
    events: list[tuple[str, tuple[Any, ...]]] = []
    _watch = (threading.get_ident(), events)
    try:
        yield events
    finally:
        _watch = None


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that answers every GET with a PNG header and logs the path."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x04\x00\x00\x00\x04\x00\x08\x02\x00\x00\x00")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def references(base: str) -> list[bytes]:
    """Records that point outside themselves in every place a request can: images, files, audio."""
    local = [PASSWD, "/etc/passwd", "file://localhost/etc/passwd", "../../etc/passwd"]
    remote = [f"{base}/img.png", f"{base}/doc.pdf", "http://169.254.169.254/latest/meta-data", "https://example.invalid/x"]
    out = []
    for url in local + remote:
        out += [body(input=[user({"type": "input_image", "image_url": url})]),
                body(input=[user({"type": "input_file", "file_url": url})]),
                body(input=[user({"type": "input_file", "file_id": url, "filename": url})]),
                body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                            {"type": "file", "file": {"file_id": url,
                                                                                      "filename": url}}]}])]
    return out


def outside(events: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[str, tuple[Any, ...]]]:
    """Network activity of any kind, and any open of a path the records name."""
    return [(e, a) for e, a in events if e != "open" or "passwd" in str(a[0])]


@pytest.mark.parametrize("media", [{}, {"default_image_size": (1024, 1024)}], ids=["defaults", "default-size"])
def test_counting_reaches_nothing_a_record_points_to(server, tmp_path, media):
    base, hits = server
    lines = references(base)
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    config = JobConfig(media=media)
    counter = RowCounter(config)
    with audited() as events:
        results = [count(line) for line in lines]
        rows = [counter.count_line("in.jsonl", i, line) for i, line in enumerate(lines)]
        run([tmp_path / "in.jsonl"], tmp_path / "out", config)
    assert hits == [] and outside(events) == []
    with audited() as control, open("/etc/passwd"):  # the hook does see such an open
        assert outside(control)
    assert all(r.error_code is None and r.estimated for r in results)
    assert all("error_code" not in r for r in rows)
    assert read_output(tmp_path / "out").column("error_code").null_count == len(lines)


def test_fetching_touches_only_allow_listed_hosts_and_never_files(server):
    """With fetching on for 127.0.0.1 only, look-alike and redirected hosts and local files stay untouched."""
    base, hits = server
    port = base.rsplit(":", 1)[1]
    urls = [f"{base}/ok.png", f"http://127.0.0.1@evil.invalid:{port}/a.png", f"http://127.0.0.1.evil.invalid:{port}/b",
            f"http://evil.invalid:{port}#@127.0.0.1/c", f"ftp://127.0.0.1:{port}/d.png", PASSWD, "file:///ok.png",
            f"http://[::1]:{port}/e.png"]
    counter = RowCounter(JobConfig(media={"allow_fetch": True, "allow_hosts": ["127.0.0.1"]}))
    line = body(input=[user(*[{"type": "input_image", "image_url": u} for u in urls])])
    with audited() as events:
        row = counter.count_line("in.jsonl", 0, line)
    assert hits == ["/ok.png"] and row.get("error_code") is None
    connects = [a[1] for e, a in outside(events) if e == "socket.connect"]
    assert connects and all(address[0] == "127.0.0.1" and str(address[1]) == port for address in connects)
    assert not [a for e, a in outside(events) if e.startswith("socket.get") and "invalid" in str(a)]
    assert not [a for e, a in outside(events) if e == "open"]
