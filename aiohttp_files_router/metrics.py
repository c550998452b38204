"""Prometheus metrics (prometheus-client), and what ``upstream.exchange`` reports to them.

With several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared
by the workers before they start (``--workers N`` does it itself): every worker's ``/metrics``
then reports the sum over all of them, through prometheus-client's multiprocess mode.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Protocol, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector

from .context import Called, RequestInfo

__all__ = [
    "BYTES",
    "IN_FLIGHT",
    "REQUESTS",
    "REQUEST_SECONDS",
    "UPSTREAM_REQUESTS",
    "UPSTREAM_SECONDS",
    "child",
    "exposition",
    "in_flight",
    "request_children",
    "upstream_done",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Gigabyte uploads take minutes: the buckets reach well past the default 10 seconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)

REQUESTS = Counter(
    "files_router_requests",
    "Requests answered by the router.",
    ("method", "route", "model", "status"),
)
REQUEST_SECONDS = Histogram(
    "files_router_request_duration_seconds",
    "Time from a request's arrival to the end of its answer.",
    ("method", "route"),
    buckets=_BUCKETS,
)
UPSTREAM_REQUESTS = Counter(
    "files_router_upstream_requests",
    "Requests the router made to provider accounts.",
    ("account", "operation", "status"),
)
UPSTREAM_SECONDS = Histogram(
    "files_router_upstream_duration_seconds",
    "Time from sending an upstream request to receiving its answer's headers.",
    ("account", "operation"),
    buckets=_BUCKETS,
)
BYTES = Counter(
    "files_router_bytes",
    "Body bytes received from clients (upload) and sent to them (download), by account.",
    ("direction", "account"),
)
IN_FLIGHT = Gauge(
    "files_router_in_flight_requests",
    "Requests being served now.",
    multiprocess_mode="livesum",
)

# prometheus-client picks its value class from the environment at import: MutexValue in one
# process, values in files the workers share in multiprocess mode.
MULTIPROCESS = values.ValueClass is not values.MutexValue
_in_flight = [0]  # in one process: this process's requests, read when /metrics is scraped
if not MULTIPROCESS:
    IN_FLIGHT.set_function(lambda: _in_flight[0])


def in_flight(delta: int) -> None:
    """A request starts (1) or ends (-1). In one process the gauge reads a plain count when
    scraped, instead of taking its lock twice per request; a worker's count must be in the
    shared files."""
    if MULTIPROCESS:
        IN_FLIGHT.inc(delta)
    else:
        _in_flight[0] += delta


M = TypeVar("M", bound=MetricWrapperBase)
_children: dict[tuple[MetricWrapperBase, tuple[str, ...]], MetricWrapperBase] = {}
_request_children: dict[tuple[str, str, str, str], tuple[Counter, Histogram]] = {}
_upstream_children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}


def request_children(method: str, route: str, model: str, status: str) -> tuple[Counter, Histogram]:
    """``REQUESTS`` and ``REQUEST_SECONDS`` children of one answer, found with one lookup."""
    key = (method, route, model, status)
    found = _request_children.get(key)
    if found is None:
        found = _request_children[key] = (
            child(REQUESTS, method, route, model, status),
            child(REQUEST_SECONDS, method, route),
        )
    return found


def child(metric: M, *values: str) -> M:
    """``metric.labels(*values)``, remembered: labels() costs microseconds on every request
    (a lock and tuple work); the label sets here are few and bounded."""
    key = (metric, values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*values)
    return found  # type: ignore[return-value]


def exposition() -> tuple[bytes, str]:
    """The text exposition and its content type: every worker's, in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class Answered(Protocol):
    """An upstream answer's status and headers (aiohttp's response, or a small call's)."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


def upstream_done(
    info: RequestInfo | None, called: Called, started: float, response: Answered | None
) -> None:
    """One upstream request to ``called`` is over (its answer's headers read, or it failed:
    ``None``).

    Called inline by ``upstream.py`` for every attempt (cheaper than a TraceConfig, see
    benchmarks/README.md): metrics, and the request's upstream fields.
    """
    if info is None:
        return
    seconds = time.perf_counter() - started
    account = called.route
    info.account = account
    info.model = called.model
    status = "error" if response is None else str(response.status)
    key = (account, info.operation, status)
    children = _upstream_children.get(key)
    if children is None:
        children = _upstream_children[key] = (
            child(UPSTREAM_REQUESTS, *key),
            child(UPSTREAM_SECONDS, account, info.operation),
        )
    children[0].inc()
    children[1].observe(seconds)
    info.upstream_seconds += seconds
    if response is not None:
        info.upstream_status = response.status
        for name in called.upstream_id_headers:
            upstream_id = response.headers.get(name)
            if upstream_id:
                info.upstream_request_id = upstream_id[:128]
                break
