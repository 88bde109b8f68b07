"""``tokcount serve``: the two hosted counting endpoints, answered offline.

``POST /v1/responses/input_tokens`` returns OpenAI's body and ``POST /v1/count_tokens`` Bifrost's, each
with ``estimated`` and ``estimate_reasons`` added, so an OpenAI client pointed at this ``base_url``
(or a Bifrost caller) needs no change. A request the core cannot count gets OpenAI's error shape
with the core's error code. Standard library only, a thread per connection: for tools, tests and CI
next to a service; logs belong to the batch job.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jobs.config import JobConfig
from jobs.counting import core_settings
from tokcount_core import CountResult, ErrorCode, count

# Path -> the body shape it takes (the core's ``api``).
ROUTES = {"/v1/responses/input_tokens": "responses", "/v1/count_tokens": "bifrost"}
_STATUS = {ErrorCode.TOO_LARGE: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
           ErrorCode.INTERNAL_ERROR: HTTPStatus.INTERNAL_SERVER_ERROR}


class CountingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], config: JobConfig, quiet: bool = True) -> None:
        self.config = config
        self.registry, self.limits = core_settings(config)
        self.quiet = quiet
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: CountingServer
    server_version = "tokcount"
    protocol_version = "HTTP/1.1"  # keep-alive, as the OpenAI client expects
    timeout = 60  # seconds a connection may stall mid-request before its thread gives up

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        api = ROUTES.get(url.path.rstrip("/"))
        refusal = self._refusal(api)
        if refusal is not None:
            self.close_connection = True  # the body is left unread: it must not be taken for a request
            self._error(*refusal)
            return
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        # Bifrost returns token ids and strings when asked: ``?tokens=true``.
        tokens = parse_qs(url.query).get("tokens") == ["true"]
        result = count(raw, api=api, default_model=self.server.config.model, registry=self.server.registry,
                       limits=self.server.limits, return_tokens=tokens)
        self._reply(api, result)

    def _refusal(self, api: str | None) -> tuple[HTTPStatus, str, str] | None:
        length = self.headers.get("Content-Length")
        limit = self.server.limits.max_record_bytes
        if api is None:
            return HTTPStatus.NOT_FOUND, "not_found", f"no endpoint {self.path}; try {', '.join(ROUTES)}"
        if length is None or not length.isdigit():
            return HTTPStatus.LENGTH_REQUIRED, "invalid_request", "Content-Length is required"
        if int(length) > limit:
            return (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(ErrorCode.TOO_LARGE),
                    f"body is {length} bytes, over {limit}")
        return None

    def _reply(self, api: str, result: CountResult) -> None:
        if result.error_code is not None:
            status = _STATUS.get(result.error_code, HTTPStatus.BAD_REQUEST)
            self._error(status, str(result.error_code), result.error_message or "")
        else:
            body = result.openai_response() if api == "responses" else result.bifrost_response()
            body.update(estimated=result.estimated, estimate_reasons=result.estimate_reasons)
            self._send(HTTPStatus.OK, body)

    def _error(self, status: HTTPStatus, code: str, message: str) -> None:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})

    def _send(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


def run_serve(host: str, port: int, config: JobConfig) -> int:
    server = CountingServer((host, port), config, quiet=False)
    print(f"tokcount: serving {', '.join(ROUTES)} on http://{host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
