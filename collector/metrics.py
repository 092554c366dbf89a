"""Prometheus metrics of the collector (token refreshes are oura_connection.metrics).

The CronJob is short-lived: `serve_metrics` exposes them on COLLECTOR_METRICS_PORT for the
length of a run so Prometheus (or a pod-level scraper) can read them."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RUNS = Counter(
    "collector_runs_total", "Collector runs by command and outcome", ["command", "outcome"]
)
DOCUMENTS_PUBLISHED = Counter(
    "collector_documents_published_total",
    "Documents published to raw topics and acknowledged by the broker",
    ["data_type"],
)
DOCUMENTS_QUARANTINED = Counter(
    "collector_documents_quarantined_total",
    "Documents the raw schema refused, published to the quarantine topic and acknowledged",
    ["data_type"],
)
OURA_REQUESTS = Counter(
    "collector_oura_requests_total",
    "HTTP requests to Oura's data API by data type and status (status 'error' = no response)",
    ["data_type", "status"],
)
OURA_REQUEST_SECONDS = Histogram(
    "collector_oura_request_seconds", "Latency of Oura data API requests", ["data_type"]
)
WINDOW_FAILURES = Counter(
    "collector_window_failures_total", "Windows that failed and left their cursor", ["data_type"]
)
LAST_SUCCESS = Gauge(
    "collector_last_success_timestamp_seconds",
    "Unix time of the last successful collection per data type (never per user: metrics carry no"
    " user ids; who is behind is in collection_cursors)",
    ["data_type"],
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "collector_rate_limit_wait_seconds_total",
    "Seconds spent waiting for the client-side limiter or Oura's Retry-After",
)

WEBHOOK_EVENTS = Counter(
    "collector_webhook_events_total",
    "Webhook events the fetcher handled, by event type and outcome (fetched, deleted,"
    " duplicate, not_found, unknown_data_type, not_granted, not_connected, failed, undecodable)",
    ["event_type", "outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "collector_webhook_event_seconds",
    "From the gateway accepting a webhook event to its document (or tombstone) acknowledged on"
    " the raw topic",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
DOCUMENTS_UNANNOUNCED = Counter(
    "collector_documents_unannounced_total",
    "Documents a scheduled run found for the first time that no webhook had announced (counted"
    " for users whose webhooks deliver): events Oura dropped or has not sent yet",
    ["data_type"],
)
OURA_IDS_FILLED = Counter(
    "collector_oura_user_ids_filled_total",
    "Connections whose Oura user id (what webhooks name) the collector looked up and stored",
)


def serve_metrics(port: int) -> None:
    """Expose /metrics on `port` in a background thread (0 disables it)."""
    if port:
        start_http_server(port)
