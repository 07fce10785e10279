"""Prometheus metrics of the homepage service, on a registry of its own (one per app).

Two freshness figures, because event time and wall time differ in a replay:

- ``homefeed_ranking_freshness_seconds``: now − ``source_event_ts``, the time from
  the user's action to the homepage reaching this service. Meaningful for live
  traffic; a MovieLens replay carries 1990s event times, so there it shows the
  age of the data, not the speed of the pipeline.
- ``homefeed_ranking_delivery_seconds``: now − ``generated_at``, the time from
  the ranker publishing a homepage to this service holding it. Meaningful in
  both cases (ranker and service clocks must agree).

Both are observed only after the service has caught up, so the backlog read at
start-up does not count as slowness.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
FRESHNESS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass
class HomepageMetrics:
    """Every metric the service exports."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.request_seconds = Histogram(
            "homefeed_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # By model_version: the dashboard shows a model rollout as the shift between versions.
        self.rankings_consumed = Counter(
            "homefeed_rankings_consumed_total",
            "Rankings read from the rankings topic, by the model version that produced them.",
            ["model_version"],
            registry=r,
        )
        self.rankings_forgotten = Counter(
            "homefeed_rankings_forgotten_total",
            "Users dropped by a tombstone on the rankings topic.",
            registry=r,
        )
        self.invalid_messages = Counter(
            "homefeed_invalid_messages_total",
            "Messages the service could not decode, by topic.",
            ["topic"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "homefeed_consumer_lag_messages",
            "Messages behind the end of each topic the service reads.",
            ["topic"],
            registry=r,
        )
        self.freshness = Histogram(
            "homefeed_ranking_freshness_seconds",
            "now - source_event_ts of each ranking received (event time; see docs).",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.delivery = Histogram(
            "homefeed_ranking_delivery_seconds",
            "now - generated_at of each ranking received (ranker to service).",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.served_users = Gauge(
            "homefeed_served_users", "Users whose latest ranking is held.", registry=r
        )
        self.catalog_items = Gauge(
            "homefeed_catalog_items", "Items with a known title.", registry=r
        )
        self.homepages = Counter(
            "homefeed_homepages_served_total",
            "Homepages served, by source (ranking or trending).",
            ["source"],
            registry=r,
        )
        self.events_produced = Counter(
            "homefeed_events_produced_total",
            "Events accepted and produced, by type.",
            ["type"],
            registry=r,
        )
        self.events_rejected = Counter(
            "homefeed_events_rejected_total", "Events refused with a 4xx.", registry=r
        )
        self.live_clients = Gauge(
            "homefeed_live_clients", "Open live-update (SSE) connections.", registry=r
        )
        # From the online-metrics topic over the last hour, per experiment variant.
        self.online_judged = Gauge(
            "homefeed_online_homepages_judged",
            "Homepages of the last hour whose user's next event is known, by variant.",
            ["variant"],
            registry=r,
        )
        self.online_clicked = Gauge(
            "homefeed_online_homepages_clicked",
            "Homepages of the last hour whose next event was a click on them, by variant.",
            ["variant"],
            registry=r,
        )
        self.online_ctr = Gauge(
            "homefeed_online_ctr",
            "Clicked / judged homepages of the last hour, by variant.",
            ["variant"],
            registry=r,
        )
        self.ready = Gauge(
            "homefeed_ready", "1 once the service has caught up with its topics.", registry=r
        )
