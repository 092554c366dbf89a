"""Prometheus metrics of the stream processor, served on PROCESSOR_METRICS_PORT."""

from __future__ import annotations

import asyncpg
from prometheus_client import Counter, Gauge, Histogram, start_http_server

CONSUMED = Counter(
    "processor_records_consumed_total", "Raw records taken from Kafka, by data type", ["data_type"]
)
PERSISTED = Counter(
    "processor_records_persisted_total",
    "Records that inserted or changed a row, by data type",
    ["data_type"],
)
UNCHANGED = Counter(
    "processor_records_unchanged_total",
    "Valid records that changed nothing (duplicate, identical or older), by data type",
    ["data_type"],
)
DEAD_LETTERED = Counter(
    "processor_records_dead_lettered_total",
    "Records sent to the dead-letter topic, by data type ('unknown' if undecodable) and error",
    ["data_type", "error"],
)
QUALITY_FLAGS = Counter(
    "processor_quality_flags_total",
    "Document fields stored but flagged implausible (left out of typed columns and trends), by"
    " data type and field",
    ["data_type", "field"],
)
DELETED = Counter(
    "processor_documents_deleted_total",
    "Document rows removed by a tombstone on their raw topic (Oura deleted the document)",
    ["data_type"],
)
ERASED_LATE = Counter(
    "processor_erased_records_tombstoned_total",
    "Records of an erased account that arrived after the erasure, tombstoned instead of kept",
)
SKIPPED = Counter(
    "processor_records_skipped_total",
    "Valid records not written, by data type and reason (e.g. the user's account is gone)",
    ["data_type", "reason"],
)
TRENDS_PUBLISHED = Counter(
    "processor_trends_published_total", "Trend records published to oura.trends.daily"
)
BATCH_RETRIES = Counter(
    "processor_batch_retries_total",
    "Batch attempts that failed and were retried, by error",
    ["error"],
)
BATCH_SIZE = Histogram(
    "processor_batch_size",
    "Records per batch",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000),
)
BATCH_SECONDS = Histogram(
    "processor_batch_seconds",
    "Time from batch start to committed transaction",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CONSUMER_LAG = Gauge(
    "processor_consumer_lag",
    "Records in the partition after the last one processed",
    ["topic", "partition"],
)
LAST_RECORD_TIMESTAMP = Gauge(
    "processor_last_record_timestamp_seconds",
    "Kafka timestamp of the newest record whose batch committed",
)
LAST_BATCH_TIMESTAMP = Gauge(
    "processor_last_batch_timestamp_seconds", "Unix time the last batch committed"
)


REBALANCES = Counter(
    "processor_rebalances_total",
    "Times this worker's partitions were taken away for a rebalance of the group",
)
DB_POOL_IN_USE = Gauge(
    "processor_db_pool_connections_in_use", "asyncpg pool connections checked out"
)
DB_POOL_SIZE = Gauge("processor_db_pool_connections", "asyncpg pool connections open")
DB_POOL_MAX = Gauge("processor_db_pool_connections_max", "asyncpg pool size limit")


def track_pool(pool: asyncpg.Pool) -> None:
    """Point the pool gauges at a live pool (read when scraped)."""
    DB_POOL_IN_USE.set_function(lambda: pool.get_size() - pool.get_idle_size())
    DB_POOL_SIZE.set_function(lambda: pool.get_size())
    DB_POOL_MAX.set_function(lambda: pool.get_max_size())


def serve_metrics(port: int) -> None:
    """Expose /metrics on `port` in a background thread (0 disables it)."""
    if port:
        start_http_server(port)
