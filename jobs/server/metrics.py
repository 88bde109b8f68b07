"""What ``GET /metrics`` reports, in Prometheus text format.

One worker keeps its metrics in memory. With ``--workers N`` every worker writes its values to files
in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode, set up by ``tokcount serve``
before the workers start), and whichever worker answers a scrape sums all of them: the numbers are the
server's, not one process's.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Counting takes well under a millisecond for most bodies and seconds for the largest.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        # A registry per app (not the global one), so several servers can live in one process.
        self.registry = CollectorRegistry()
        self.requests = Counter("tokcount_requests", "HTTP requests by endpoint and status",
                                ["endpoint", "status"], registry=self.registry)
        self.errors = Counter("tokcount_errors", "Bodies refused, by error code (each batch item counts)",
                              ["code"], registry=self.registry)
        self.latency = Histogram("tokcount_request_duration_seconds", "Time from request to response, by endpoint",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.tokens = Counter("tokcount_tokens_counted", "Input tokens counted, by endpoint", ["endpoint"],
                              registry=self.registry)
        self.bodies = Counter("tokcount_bodies_counted", "Bodies counted without error, by endpoint", ["endpoint"],
                              registry=self.registry)

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self) -> bytes:
        if os.environ.get(MULTIPROC_ENV):
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)
