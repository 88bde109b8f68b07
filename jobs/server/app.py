"""``tokcount serve``: the hosted counting endpoints, answered offline, as an ASGI app under uvicorn.

``POST /v1/responses/input_tokens`` returns OpenAI's body and ``POST /v1/count_tokens`` Bifrost's, each
with ``estimated`` and ``estimate_reasons`` added, so an OpenAI client pointed at this ``base_url`` (or a
Bifrost caller) needs no change; ``POST /v1/count_tokens/batch`` counts many Bifrost bodies in one call.
Everything that goes wrong arrives in OpenAI's error shape with a closed code.

Bodies up to ``INLINE_BYTES`` (a few milliseconds of counting at most) are counted on the event loop,
with no thread hop. Larger ones go to a thread so the loop keeps answering and the request timeout can
fire (Python cannot stop a thread: a single body finishes its count in the background, a batch stops at
its next item).

Slow and idle clients are bounded below the app, in the HTTP protocol (``GuardedProtocol``): a request
head must arrive within ``header_timeout`` and each worker keeps at most ``max_connections`` open.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from itertools import islice
from typing import Any, TypeVar

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from jobs.config import JobConfig
from jobs.job.counting import core_settings
from jobs.server.metrics import MULTIPROC_ENV, Metrics
from tokcount_core import RULES_VERSION, CountResult, ErrorCode, count

# Path -> the body shape it takes (the core's ``api``).
ROUTES = {"/v1/responses/input_tokens": "responses", "/v1/count_tokens": "bifrost"}
BATCH_ROUTE = "/v1/count_tokens/batch"
OPEN_PATHS = frozenset({"/healthz"})  # answered without an API key, for load balancers
INLINE_BYTES = 64 * 1024
OPTIONS_ENV = "TOKCOUNT_SERVE_OPTIONS"  # how ``--workers N`` hands the options to each worker
_STATUS = {ErrorCode.TOO_LARGE: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
           ErrorCode.INTERNAL_ERROR: HTTPStatus.INTERNAL_SERVER_ERROR}
CLIENT_CLOSED = 499  # nginx's "client closed request": the client left before its body arrived, no server error
T = TypeVar("T")


@dataclass(frozen=True)
class ServeOptions:
    config: JobConfig
    api_key: str | None = None  # when set, every path but /healthz needs ``Authorization: Bearer <key>``
    timeout: float = 30.0  # seconds from the end of the request head to the response before a 504
    header_timeout: float = 10.0  # seconds for a request head (line and headers) to arrive
    max_connections: int = 500  # open connections per worker; well under the usual 1,024 file descriptors
    max_batch_items: int = 1000  # bodies in one POST /v1/count_tokens/batch

    def to_json(self) -> str:
        return orjson.dumps({**dataclasses.asdict(self), "config": self.config.model_dump(mode="json")}).decode()

    @classmethod
    def from_json(cls, text: str) -> ServeOptions:
        data = orjson.loads(text)
        return cls(**{**data, "config": JobConfig.model_validate(data["config"])})


class Refused(Exception):
    """A request answered with an error before it could be counted."""

    def __init__(self, status: int, code: str, message: str, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.close = status, code, close


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else "invalid_request_error"  # OpenAI's 401 too
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _json(status: int, body: Any, close: bool = False) -> Response:
    # A refusal before the body was read closes the connection: the unread bytes are not a request.
    headers = {"connection": "close"} if close else None
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


class CountingService:
    """The endpoints, with the config's registry, limits and encoders set up once per process."""

    def __init__(self, options: ServeOptions, metrics: Metrics) -> None:
        self.config = options.config
        self.registry, self.limits = core_settings(options.config)  # encoders built before any traffic
        self.max_batch_items = options.max_batch_items
        self.metrics = metrics

    def count(self, body: bytes | dict[str, Any], api: str, tokens: bool = False) -> CountResult:
        return count(body, api=api, default_model=self.config.model, as_of=self.config.as_of,
                     registry=self.registry, limits=self.limits, return_tokens=tokens)

    def answer(self, api: str, result: CountResult) -> tuple[int, dict[str, Any]]:
        """The status and body one counted request gets (also one item of a batch)."""
        if result.error_code is not None:
            status = _STATUS.get(result.error_code, HTTPStatus.BAD_REQUEST)
            self.metrics.errors.labels(str(result.error_code)).inc()
            return status, error_body(status, str(result.error_code), result.error_message or "")
        self.metrics.tokens.labels(api).inc(result.input_tokens or 0)
        self.metrics.bodies.labels(api).inc()
        body = result.openai_response() if api == "responses" else result.bifrost_response()
        body.update(estimated=result.estimated, estimate_reasons=result.estimate_reasons)
        return HTTPStatus.OK, body

    async def read_body(self, request: Request) -> bytes:
        """The body, refused with 413 before reading it when ``Content-Length`` is over the limit."""
        limit = self.limits.max_record_bytes
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise Refused(HTTPStatus.BAD_REQUEST, "invalid_request", "Content-Length is not a number", True)
            if int(length) > limit:
                raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(ErrorCode.TOO_LARGE),
                              f"body is {length} bytes, over {limit}", True)
            return await request.body()
        chunks, size = [], 0  # chunked upload: count as it arrives
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(ErrorCode.TOO_LARGE),
                              f"body is over {limit} bytes", True)
            chunks.append(chunk)
        return b"".join(chunks)

    async def single(self, request: Request) -> Response:
        api = ROUTES[request.url.path]
        raw = await self.read_body(request)
        # Bifrost returns token ids and strings when asked: ``?tokens=true``.
        tokens = request.query_params.get("tokens") == "true"
        result = await _off_loop_if_large(len(raw), lambda: self.count(raw, api, tokens))
        return _json(*self.answer(api, result))

    async def batch(self, request: Request) -> Response:
        """A JSON array (or JSON lines) of Bifrost bodies in; ``{"object": "list", "data": [...]}`` out,
        one item per body in order: Bifrost's body, or ``{"error": ...}`` for that body alone."""
        raw = await self.read_body(request)
        cancelled = threading.Event()
        try:
            results = await _off_loop_if_large(
                len(raw), lambda: self.count_all(_split_batch(raw, self.max_batch_items), cancelled))
        finally:
            cancelled.set()  # on a 504 the thread, which asyncio cannot stop, stops at its next body
        data = []
        for index, result in enumerate(results):
            _, body = self.answer("bifrost", result)
            if "error" in body:
                body["error"]["message"] = f"[{index}] {body['error']['message']}"
            data.append(body)
        return _json(HTTPStatus.OK, {"object": "list", "data": data})

    def count_all(self, bodies: list[bytes], cancelled: threading.Event) -> list[CountResult]:
        """Each body's count, in order; cut short once nobody waits for the answer, so a timed-out
        batch frees its thread and memory within one body."""
        results = []
        for body in bodies:
            if cancelled.is_set():
                break
            results.append(self.count(body, "bifrost"))
        return results

    async def healthz(self, request: Request) -> Response:
        # Reachable only once this worker's encoders are built: the app is made after core_settings.
        return _json(HTTPStatus.OK, {"status": "ok", "rules_version": RULES_VERSION, "pid": os.getpid()})

    async def metrics_page(self, request: Request) -> Response:
        return Response(self.metrics.render(), headers={"content-type": self.metrics.content_type})


_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_SCANNER = json.JSONDecoder()


def _split_batch(raw: bytes, max_items: int) -> list[bytes]:
    """Each body as bytes, so an array item and a JSON line are checked alike (a string is no body).

    Bodies are cut out one at a time and the cutting stops at ``max_items + 1``: a 1 MB ``[{},{},...]``
    is refused with 413 after a thousand tiny parses, never turned into 400,000 objects."""
    text = raw.decode("latin-1")  # one character per byte: text offsets are offsets into raw
    start = _JSON_SPACE.match(text).end()
    items = _array_items(raw, text, start + 1) if text.startswith("[", start) else _lines(raw, text, start)
    bodies = list(islice(items, max_items + 1))
    if len(bodies) > max_items:
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(ErrorCode.TOO_LARGE),
                      f"batch has more than {max_items} bodies; send at most {max_items} per request")
    return bodies


def _lines(raw: bytes, text: str, start: int) -> Iterator[bytes]:
    """The non-blank lines, from ``start`` (the first non-blank character)."""
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        yield raw[start:end]
        start = _JSON_SPACE.match(text, end).end()


def _array_items(raw: bytes, text: str, position: int) -> Iterator[bytes]:
    """The items of the JSON array whose ``[`` ends at ``position``, each as its own bytes."""
    position = _JSON_SPACE.match(text, position).end()
    more = not text.startswith("]", position)
    while more:
        try:
            _, end = _SCANNER.raw_decode(text, position)
        except (ValueError, RecursionError) as exc:
            raise _not_json(str(exc)) from None
        yield raw[position:end]
        position = _JSON_SPACE.match(text, end).end()
        more = text.startswith(",", position)
        if more:
            position = _JSON_SPACE.match(text, position + 1).end()
    if not text.startswith("]", position):
        raise _not_json(f"expected ',' or ']' at byte {position}")
    if _JSON_SPACE.match(text, position + 1).end() != len(text):
        raise _not_json(f"data after the array at byte {position + 1}")


def _not_json(reason: str) -> Refused:
    return Refused(HTTPStatus.BAD_REQUEST, str(ErrorCode.INVALID_JSON), f"batch is not valid JSON: {reason}")


async def _off_loop_if_large(size: int, work: Callable[[], T]) -> T:
    return work() if size <= INLINE_BYTES else await asyncio.to_thread(work)


class Guard:
    """Outermost layer: API key, request timeout, and the metrics every request feeds."""

    def __init__(self, app: ASGIApp, api_key: str | None, timeout: float, metrics: Metrics) -> None:
        self.app, self.metrics, self.timeout = app, metrics, timeout
        self.api_key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        path = scope["path"]
        status: int | None = None  # until the response starts

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.api_key and path not in OPEN_PATHS and not self._authorized(scope):
                await self._refuse(scope, observed, Refused(HTTPStatus.UNAUTHORIZED, "invalid_api_key",
                                                            "missing or incorrect API key (Authorization: Bearer ...)",
                                                            True))
                return
            try:
                async with asyncio.timeout(self.timeout):
                    await self.app(scope, receive, observed)
            except TimeoutError:
                if status is None:
                    await self._refuse(scope, observed, Refused(HTTPStatus.GATEWAY_TIMEOUT, "timeout",
                                                                f"no answer within {self.timeout:g} s", True))
        finally:
            endpoint = path if path in ROUTES or path in (BATCH_ROUTE, *OPEN_PATHS, "/metrics") else "other"
            self.metrics.observe(endpoint, status or HTTPStatus.INTERNAL_SERVER_ERROR, time.perf_counter() - started)

    def _authorized(self, scope: Scope) -> bool:
        """``Bearer KEY``, the scheme in any case (RFC 7235: it is case-insensitive)."""
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, key = given.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(key.lstrip(b" "), self.api_key or b"")

    async def _refuse(self, scope: Scope, send: Send, refusal: Refused) -> None:
        self.metrics.errors.labels(refusal.code).inc()
        response = _json(refusal.status, error_body(refusal.status, refusal.code, str(refusal)), refusal.close)
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def create_app(options: ServeOptions) -> Guard:
    metrics = Metrics()
    service = CountingService(options, metrics)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        metrics.errors.labels(exc.code).inc()
        return _json(exc.status, error_body(exc.status, exc.code, str(exc)), exc.close)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = "not_found" if exc.status_code == 404 else HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
        message = f"no endpoint {request.method} {request.url.path}; try POST {', '.join([*ROUTES, BATCH_ROUTE])}"
        metrics.errors.labels(code).inc()
        return _json(exc.status_code, error_body(exc.status_code, code, message), True)

    async def client_gone(request: Request, exc: Exception) -> Response:
        # Nobody reads this answer; its status is what /metrics records for the request.
        return Response(status_code=CLIENT_CLOSED)

    routes = [Route(path, service.single, methods=["POST"]) for path in ROUTES]
    routes += [Route(BATCH_ROUTE, service.batch, methods=["POST"]),
               Route("/healthz", service.healthz, methods=["GET"]),
               Route("/metrics", service.metrics_page, methods=["GET"])]
    app = Starlette(routes=routes, exception_handlers={Refused: refused, HTTPException: http_error,
                                                         ClientDisconnect: client_gone})
    return Guard(app, options.api_key, options.timeout, metrics)


def app_from_env() -> Guard:
    """The app of one ``--workers N`` worker process (uvicorn's factory), from the parent's options."""
    return create_app(ServeOptions.from_json(os.environ[OPTIONS_ENV]))


class ServeConfig(uvicorn.Config):
    """uvicorn's config with the limits ``GuardedProtocol`` reads (a module-level class: it is pickled
    to each ``--workers N`` process)."""

    def __init__(self, app: Any, *, header_timeout: float, max_connections: int, **kwargs: Any) -> None:
        super().__init__(app, http=GuardedProtocol, **kwargs)
        self.header_timeout, self.max_connections = header_timeout, max_connections


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the two guards against slow and idle clients (slowloris) it
    lacks: a request head must be complete within ``header_timeout`` seconds of the connection opening
    (or, on a kept-alive connection, of the next request's first byte), else the connection is closed;
    and a connection past ``max_connections`` gets a 503 and is closed at once, so idle sockets cannot
    take the worker's file descriptors. ``--timeout`` takes over once the head is in."""

    def __init__(self, config: ServeConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.header_timeout, self.max_connections = config.header_timeout, config.max_connections
        self.head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.write(BUSY_RESPONSE)
            transport.close()
            return
        self._start_head_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_deadline is None:
            self._start_head_deadline()

    def on_headers_complete(self) -> None:
        self._stop_head_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_deadline()
        super().connection_lost(exc)

    def _start_head_deadline(self) -> None:
        self.head_deadline = self.loop.call_later(self.header_timeout, self.transport.close)

    def _stop_head_deadline(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None


def _busy_response() -> bytes:
    body = orjson.dumps(error_body(HTTPStatus.SERVICE_UNAVAILABLE, "overloaded",
                                   "too many open connections to this worker; retry"))
    return (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body))


BUSY_RESPONSE = _busy_response()


def uvicorn_config(app: Any, host: str, port: int, options: ServeOptions, workers: int = 1,
                   log_level: str = "warning") -> ServeConfig:
    # A long keep-alive: SDK clients hold pooled connections between bursts.
    return ServeConfig(app, host=host, port=port, workers=workers, factory=isinstance(app, str),
                       access_log=False, log_level=log_level, timeout_keep_alive=75, timeout_graceful_shutdown=5,
                       header_timeout=options.header_timeout, max_connections=options.max_connections)


def run_serve(host: str, port: int, options: ServeOptions, workers: int = 1) -> int:
    """Bind, print the bound address (``--port 0`` picks one), then serve until SIGINT/SIGTERM."""
    metrics_dir = None
    if workers > 1:
        # Each worker writes its metrics here and any of them sums the lot for /metrics.
        metrics_dir = tempfile.mkdtemp(prefix="tokcount-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
        os.environ[OPTIONS_ENV] = options.to_json()
        config = uvicorn_config("jobs.server.app:app_from_env", host, port, options, workers)
    else:
        config = uvicorn_config(create_app(options), host, port, options)
    sock = config.bind_socket()  # TCP: asyncio sets TCP_NODELAY on every connection, so no Nagle stalls
    print(f"tokcount: serving {', '.join([*ROUTES, BATCH_ROUTE])}, /healthz, /metrics with {workers} worker(s) on "
          f"http://{host}:{sock.getsockname()[1]}", flush=True)
    try:
        if workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    sys.stdout.flush()
    return 0
