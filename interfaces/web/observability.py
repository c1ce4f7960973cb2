"""Request ids, one access-log line per request, and `/metrics` for Prometheus.

Tokens never reach a log: only the method, the route, the status and the duration are logged.
Under gunicorn with several workers, metrics are shared through prometheus-client's
multiprocess mode, in the settings' `metrics_dir` (`PROMETHEUS_MULTIPROC_DIR`, set by
`supportdesk serve`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from application.runtime.health import Gauges
from interfaces.logs import request_id

log = logging.getLogger("supportdesk.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

REQUESTS = Counter(
    "supportdesk_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "supportdesk_http_request_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

GaugeReader = Callable[[], Gauges]
"""Reads gauge name → {label value → value} from the database, at scrape time."""


class _DatabaseGauges(Collector):
    """Projection lag, relay backlog, mail failures: facts of the database, not of a process."""

    def __init__(self, gauges: GaugeReader) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, values in self.gauges().items():
            family = GaugeMetricFamily(
                f"supportdesk_{name}", name.replace("_", " "), labels=["name"]
            )
            for label, value in values.items():
                family.add_metric([label], value)
            yield family


def install(app: Flask, gauges: GaugeReader, access_log: bool, metrics_dir: str) -> None:
    """Add request ids, the access log and `/metrics` to the app.

    With a `metrics_dir`, `/metrics` counts the requests of every worker sharing that folder.
    """

    @app.before_request
    def start() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.request_id_token = request_id.set(g.request_id)
        g.started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        LATENCY.labels(request.method, route).observe(elapsed)
        response.headers["X-Request-Id"] = g.get("request_id", "-")
        if access_log:
            log.info(
                "%s %s %s %.1fms",
                request.method,
                route,
                response.status_code,
                elapsed * 1000,
                extra={"method": request.method, "route": route, "status": response.status_code},
            )
        return response

    @app.teardown_request
    def forget(_: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id.reset(token)

    @app.get("/metrics")
    def metrics() -> Response:
        registry = CollectorRegistry()
        if metrics_dir:
            MultiProcessCollector(registry, path=metrics_dir)
        else:
            registry.register(REQUESTS)
            registry.register(LATENCY)
        registry.register(_DatabaseGauges(gauges))
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
