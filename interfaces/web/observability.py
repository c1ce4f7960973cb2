"""Request ids, one access-log line per request, and `/metrics` for Prometheus.

Tokens never reach a log: only the method, the route, the status and the duration are logged.
Under gunicorn with several workers, metrics are shared through prometheus-client's
multiprocess mode, in the settings' `metrics_dir` (`PROMETHEUS_MULTIPROC_DIR`, set by
`supportdesk serve`).

`/metrics` tells how busy the desk is and where it lags, which is no one else's business. With
a `metrics_token` (`SUPPORTDESK_METRICS_TOKEN`) it answers only `Authorization: Bearer <token>`;
without one, only clients on this machine (loopback addresses, as the trusted proxies name the
client). Anyone else gets 403 with a problem document: a scraper that was refused then says so,
where a 404 would send its operator looking for a wrong path.
"""

from __future__ import annotations

import hmac
import ipaddress
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
from interfaces.web.problems import Problem

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


def _on_this_machine(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def _may_scrape(token: str) -> bool:
    """Whether this request may read `/metrics`: with the token if one is set, else locally."""
    if not token:
        return _on_this_machine(request.remote_addr)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # compare_digest: the comparison takes no longer for a closer guess
    same = hmac.compare_digest(given.strip().encode(), token.encode())
    return scheme.lower() == "bearer" and same


def install(
    app: Flask, gauges: GaugeReader, access_log: bool, metrics_dir: str, metrics_token: str
) -> None:
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
        if not _may_scrape(metrics_token):
            raise Problem(403, "Forbidden", "Metrics are for the desk's own monitoring.")
        registry = CollectorRegistry()
        if metrics_dir:
            MultiProcessCollector(registry, path=metrics_dir)
        else:
            registry.register(REQUESTS)
            registry.register(LATENCY)
        registry.register(_DatabaseGauges(gauges))
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
