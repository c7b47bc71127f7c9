"""Prometheus metrics: one `Metrics` object per process, shared by the daemon, the sender and the web app.

Each `Metrics` has a registry of its own (not prometheus-client's global one), so two apps in one test run
never collide and `/metrics` shows exactly this process's figures. The daemon makes one and hands it to
`create_app(settings, metrics=...)` and to the sender; code that was given none may pass `None` and use
`Metrics()` privately.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

#: What `/metrics` answers with: `generate_latest` writes the classic text format, version 0.0.4,
#: which every Prometheus server reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# SMTP transactions take tens of milliseconds on a LAN relay and seconds through a slow provider.
_DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A build of a few hundred releases takes well under a second; thousands take a few.
_BUILD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The service's counters, gauges and histograms, registered in a registry of their own.

    Labels, all with a small fixed set of values:
    ``builds_total{outcome=ok|error}``, ``messages_total{kind=alert|digest|confirmation,
    outcome=sent|transient|permanent}``, ``outbox_depth{status=pending|sending|failed}``,
    ``websub_pings_total{outcome=ok|failed}``, ``http_requests_total{area, status}`` where ``area`` is
    ``static|forms|api|health|metrics``.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.builds = Counter(
            "newsroom_builds", "Planner runs that rebuilt outputs", ["outcome"], registry=registry
        )
        self.build_seconds = Histogram(
            "newsroom_build_seconds",
            "Time to build feeds and pages",
            buckets=_BUILD_BUCKETS,
            registry=registry,
        )
        self.lifts = Counter(
            "newsroom_embargo_lifts",
            "Releases that became visible when their embargo lifted",
            registry=registry,
        )
        self.messages = Counter(
            "newsroom_messages", "SMTP transactions by message kind and outcome", ["kind", "outcome"],
            registry=registry,
        )  # fmt: skip
        self.delivery_seconds = Histogram(
            "newsroom_delivery_seconds", "Time of one SMTP transaction", buckets=_DELIVERY_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.outbox_depth = Gauge(
            "newsroom_outbox_depth", "Outbox rows by status", ["status"], registry=registry
        )
        self.websub_pings = Counter(
            "newsroom_websub_pings", "WebSub publish pings by outcome", ["outcome"], registry=registry
        )
        self.http_requests = Counter(
            "newsroom_http_requests", "HTTP requests answered", ["area", "status"], registry=registry
        )
        self.http_seconds = Histogram(
            "newsroom_http_request_seconds", "Time to answer an HTTP request", ["area"],
            buckets=_HTTP_BUCKETS, registry=registry,
        )  # fmt: skip

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
