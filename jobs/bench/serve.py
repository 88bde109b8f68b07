"""``python -m jobs.bench.serve``: ``tokcount serve`` under keep-alive load, against counting in-process.

It starts ``tokcount serve --port 0 --workers N`` as a user would, then drives it with C clients, each
one keep-alive HTTP/1.1 connection with one request in flight (so latency is what a caller waits):
``wrk`` when it is installed (``--load auto``, the default; ``apt-get install wrk``), else an asyncio
load generator in this process (raw asyncio streams). It prints req/s, p50 and p99 for each (workers,
clients) pair, one client opening a new connection per request (asyncio), and the in-process ``count``
of the same 1.5 KB body (one tool) as the baseline. The load generator shares the machine's cores with
the server, so the numbers are a floor for what the server alone could do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import orjson

from tokcount_core import count

ENDPOINT = "/v1/responses/input_tokens"


def sample_body() -> bytes:
    """A Responses request of about 1.5 KB with one function tool, as an agent sends it."""
    tool = {"type": "function", "name": "search_orders", "description": "Find a customer's orders by date or status.",
            "parameters": {"type": "object", "properties": {
                "customer_id": {"type": "string", "description": "the customer's id"},
                "status": {"type": "string", "enum": ["open", "shipped", "returned", "cancelled"]},
                "since": {"type": "string", "description": "ISO date, inclusive"}},
                "required": ["customer_id"]}}
    turns = [{"role": "system", "content": "You are a support agent for an online shop. Be brief and exact. " * 3},
             {"role": "user", "content": "Where is my order? I ordered a blue kettle two weeks ago and the "
                                         "tracking page has said 'label created' ever since. " * 6},
             {"role": "assistant", "content": "Let me look that up for you."},
             {"role": "user", "content": "My customer id is C-20931. Thanks."}]
    return orjson.dumps({"model": "gpt-4o", "input": turns, "tools": [tool]})


class Connection:
    """One keep-alive HTTP/1.1 connection; requests go out in one write (headers and body together)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n" \
               f"Content-Length: {len(body)}\r\n\r\n"
        self.writer.write(head.encode() + body)
        status_line, *lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
        reply = await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return int(status_line.split()[1]), reply

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
            self.reader = self.writer = None


@dataclass
class Load:
    seconds: float
    latencies: list[float]  # per request, seconds
    replies: list[tuple[int, bytes]]  # in request order

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]


async def run_load(host: str, port: int, bodies: Sequence[bytes], clients: int, path: str = ENDPOINT,
                   reconnect: bool = False) -> Load:
    """Send every body once, ``clients`` at a time, each client on its own connection."""
    replies: list[tuple[int, bytes]] = [(0, b"")] * len(bodies)
    latencies: list[float] = []
    todo = iter(range(len(bodies)))

    async def client() -> None:
        connection = Connection(host, port)
        try:
            for i in todo:
                started = time.perf_counter()
                replies[i] = await connection.post(path, bodies[i])
                if reconnect:
                    await connection.close()
                latencies.append(time.perf_counter() - started)
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return Load(time.perf_counter() - started, latencies, replies)


@contextmanager
def served(workers: int) -> Iterator[tuple[str, int]]:
    """``tokcount serve --port 0 --workers N`` in a subprocess, healthy; yields (host, port)."""
    process = subprocess.Popen([sys.executable, "-m", "jobs.cli", "serve", "--port", "0", "--workers", str(workers)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().rsplit(" ", 1)[-1].strip()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield host, int(port)
    finally:
        process.terminate()
        process.wait(timeout=30)


_WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("%s", "rb"):read("*a")
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}


def wrk_run(host: str, port: int, body: bytes, clients: int, seconds: float) -> dict:
    """One ``wrk`` run: keep-alive connections, one request in flight on each."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(f"{tmp}/body.json", "wb") as f:
            f.write(body)
        with open(f"{tmp}/post.lua", "w") as f:
            f.write(_WRK_SCRIPT % f"{tmp}/body.json")
        out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--latency", "-s", f"{tmp}/post.lua",
                              f"http://{host}:{port}{ENDPOINT}"], capture_output=True, text=True, check=True).stdout

    def find(pattern: str) -> tuple[str, ...]:
        match = re.search(pattern, out, re.M)
        if match is None:
            raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{out}")
        return match.groups()

    def ms(q: int) -> float:
        value, unit = find(rf"^\s+{q}%\s+([\d.]+)(us|ms|s|m|h)\s*$")
        return float(value) * _UNITS[unit]

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"requests": int(find(r"(\d+) requests in")[0]), "req_per_s": float(find(r"Requests/sec:\s+([\d.]+)")[0]),
            "errors": (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0),
            "p50_ms": ms(50), "p99_ms": ms(99)}


def in_process_seconds(body: bytes, repeat: int) -> float:
    """Median time of ``count`` on the body in this process: the floor a server adds its cost to."""
    from jobs.config import JobConfig
    from jobs.job.counting import core_settings

    registry, limits = core_settings(JobConfig())  # the server's settings: same backend, encoders built
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        count(body, api="responses", registry=registry, limits=limits)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(workers: Sequence[int], clients: Sequence[int], seconds: float, body: bytes, wrk: bool) -> list[dict]:
    expected = count(body).input_tokens
    rows = []
    for n in workers:
        with served(n) as (host, port):
            asyncio.run(run_load(host, port, [body] * 500, 16))  # warm up every worker
            if wrk:
                for c in clients:
                    rows.append({"workers": n, "clients": c, "connection": "keep-alive", "load": "wrk",
                                 **wrk_run(host, port, body, c, seconds)})
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            cases = [(1, True)] if wrk else [(c, False) for c in clients] + [(1, True)]
            for c, reconnect in cases:
                # size each run from a short probe so it lasts about ``seconds``
                probe = asyncio.run(run_load(host, port, [body] * 200, c, reconnect=reconnect))
                total = max(200, int(probe.rate * seconds))
                load = asyncio.run(run_load(host, port, [body] * total, c, reconnect=reconnect))
                wrong = sum(1 for status, reply in load.replies
                            if status != 200 or orjson.loads(reply)["input_tokens"] != expected)
                rows.append({"workers": n, "clients": c, "connection": "new per request" if reconnect else "keep-alive",
                             "load": "asyncio", "requests": total, "errors": wrong, "req_per_s": round(load.rate, 1),
                             "p50_ms": round(load.percentile(50) * 1e3, 3),
                             "p99_ms": round(load.percentile(99) * 1e3, 3)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.bench.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated --workers values (default: 1,2)")
    parser.add_argument("--clients", default="1,16", help="comma-separated keep-alive clients (default: 1,16)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run (default: 5)")
    parser.add_argument("--load", choices=["auto", "wrk", "asyncio"], default="auto",
                        help="load generator (default: wrk if installed, else asyncio)")
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    wrk = args.load == "wrk" or (args.load == "auto" and shutil.which("wrk") is not None)
    body = sample_body()
    baseline = in_process_seconds(body, 2000)
    rows = measure([int(w) for w in args.workers.split(",")], [int(c) for c in args.clients.split(",")],
                   args.seconds, body, wrk)
    print(f"body: {len(body)} bytes, {count(body).input_tokens} tokens; in-process count p50 {baseline * 1e3:.3f} ms")
    print("| workers | clients | connection | load | req/s | p50 ms | p99 ms | p50 / in-process | errors |")
    print("| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['workers']} | {r['clients']} | {r['connection']} | {r['load']} | {r['req_per_s']:,.0f} | "
              f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['p50_ms'] / 1e3 / baseline:.1f} | {r['errors']} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"body_bytes": len(body), "in_process_ms": baseline * 1e3, "rows": rows}, f, indent=1)
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
