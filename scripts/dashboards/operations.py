"""The operator dashboards: the data pipeline and the services' health.

Metric names are the ones defined in collector/metrics.py, stream_processor/metrics.py and
gateway/metrics.py; every series carries `myhealth_service` (a static label in compose, a
relabeling in the chart's ServiceMonitors). Sync status and connection states come from
PostgreSQL (`collection_cursors`, `oauth_tokens.status`), which stays true between collector
runs, when the collector's own metrics endpoint is gone."""

from __future__ import annotations

from .grafana import Dashboard, Panel, PromQL, PromVariable, Row, Sql

RATE = "$__rate_interval"
STALE_HOURS = 26


def _quantiles(histogram: str, by: str = "", legend_prefix: str = "") -> list[PromQL]:
    group = f"le, {by}" if by else "le"
    return [
        PromQL(
            f"histogram_quantile({q}, sum by ({group}) (rate({histogram}_bucket[{RATE}])))",
            legend=f"{legend_prefix}p{round(q * 100)}" + (f" {{{{{by}}}}}" if by else ""),
        )
        for q in (0.5, 0.95, 0.99)
    ]


def pipeline() -> Dashboard:
    lag = Panel(
        "Consumer lag per topic and partition",
        [
            PromQL(
                "max by (topic, partition) (processor_consumer_lag)",
                legend="{{topic}} [{{partition}}]",
            )
        ],
        unit="short",
        description="Records in each partition after the last one the processor committed.",
    )
    outcomes = Panel(
        "Records per second by outcome",
        [
            PromQL(f"sum(rate(processor_records_consumed_total[{RATE}]))", legend="consumed"),
            PromQL(f"sum(rate(processor_records_persisted_total[{RATE}]))", legend="persisted"),
            PromQL(f"sum(rate(processor_records_unchanged_total[{RATE}]))", legend="unchanged"),
            PromQL(
                f"sum(rate(processor_records_dead_lettered_total[{RATE}]))",
                legend="dead-lettered",
            ),
            PromQL(f"sum(rate(processor_records_skipped_total[{RATE}]))", legend="skipped"),
        ],
        unit="reqps",
    )
    dlq = Panel(
        "Dead-letter rate by data type and error",
        [
            PromQL(
                f"sum by (data_type, error) (rate(processor_records_dead_lettered_total[{RATE}]))",
                legend="{{data_type}}: {{error}}",
            )
        ],
        unit="reqps",
    )
    quality = Panel(
        "Fields flagged implausible by data type and field",
        [
            PromQL(
                f"sum by (data_type, field) (rate(processor_quality_flags_total[{RATE}]))",
                legend="{{data_type}}: {{field}}",
            )
        ],
        unit="reqps",
        description="Stored documents whose field failed a plausibility rule: the document is "
        "kept, the field is null in the typed columns and out of the trends (README, Data "
        "quality). A new field here, or a rising rate, means Oura's data changed.",
    )
    batch_latency = Panel(
        "Batch latency (start to committed transaction)",
        _quantiles("processor_batch_seconds"),
        unit="s",
    )
    batch_size = Panel(
        "Batch size",
        [
            PromQL(
                f"histogram_quantile({q}, sum by (le) (rate(processor_batch_size_bucket[{RATE}])))",
                legend=f"p{round(q * 100)}",
            )
            for q in (0.5, 0.95)
        ],
        unit="short",
    )
    last_record = Panel(
        "Age of the newest committed record",
        [
            PromQL(
                "time() - max(processor_last_batch_timestamp_seconds)",
                legend="since last batch",
            ),
            PromQL(
                "time() - max(processor_last_record_timestamp_seconds)",
                legend="newest record's Kafka timestamp",
            ),
        ],
        unit="s",
    )
    runs = Panel(
        "Collector runs by outcome",
        [
            PromQL(
                "sum by (command, outcome) (increase(collector_runs_total[1h]))",
                legend="{{command}} {{outcome}}",
            )
        ],
        draw="bars",
        description="Seen while a run serves its metrics; the sync table below is the record.",
    )
    published = Panel(
        "Documents published per data type",
        [
            PromQL(
                f"sum by (data_type) (rate(collector_documents_published_total[{RATE}]))",
                legend="{{data_type}}",
            )
        ],
        unit="reqps",
    )
    quarantine = Panel(
        "Quarantine share per data type",
        [
            PromQL(
                "sum by (data_type) (max_over_time(collector_documents_quarantined_total[2h]))"
                " / (sum by (data_type) (max_over_time(collector_documents_quarantined_total[2h]))"
                " + sum by (data_type) (max_over_time(collector_documents_published_total[2h])))",
                legend="{{data_type}}",
            )
        ],
        unit="percentunit",
        description="Documents Oura sent that the raw schema could not encode, as a share of "
        "those collected by the runs of the last 2 hours; they wait in oura.raw.quarantine. A "
        "rise means Oura changed a field's shape.",
    )
    oura = Panel(
        "Oura API requests by status",
        [
            PromQL(
                f"sum by (status) (rate(collector_oura_requests_total[{RATE}]))",
                legend="{{status}}",
            ),
            PromQL(
                f"sum by (data_type) (rate(collector_window_failures_total[{RATE}]))",
                legend="failed windows {{data_type}}",
            ),
        ],
        unit="reqps",
    )
    refreshes = Panel(
        "Token refreshes and failures",
        [
            PromQL(
                "sum by (outcome) (increase(oura_token_refreshes_total[1h]))",
                legend="refresh {{outcome}}",
            ),
            PromQL(
                "sum by (reason) (increase(oura_token_refresh_failures_total[1h]))",
                legend="failure {{reason}}",
            ),
        ],
        draw="bars",
    )
    connections = Panel(
        "Oura connections by status",
        [
            Sql(
                """
                SELECT s.status AS "Status", count(t.user_id) AS "Connections"
                FROM (VALUES ('active'), ('needs_reauth'), ('revoked')) AS s (status)
                LEFT JOIN oauth_tokens t ON t.status = s.status
                GROUP BY s.status
                ORDER BY s.status
                """,
                "table",
            )
        ],
        kind="bargauge",
        width=8,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True},
            "displayMode": "basic",
        },
        description="needs_reauth: the person must connect Oura again (refresh token rejected).",
    )
    stale = Panel(
        f"Data types without a successful sync in {STALE_HOURS} h",
        [
            Sql(
                f"""
                SELECT count(*) FILTER (
                         WHERE last_success_at IS NULL
                            OR last_success_at < now() - interval '{STALE_HOURS} hours'
                       ) AS "Stale",
                       count(*) FILTER (WHERE status = 'failed') AS "Failing",
                       count(*) AS "Tracked"
                FROM collection_cursors
                WHERE status <> 'not_granted'
                """,
                "table",
            )
        ],
        kind="stat",
        width=8,
        thresholds=[(None, "green"), (1, "red")],
    )
    reauth = Panel(
        "Connections needing re-authorisation",
        [
            Sql(
                """
                SELECT count(*) FILTER (WHERE status = 'needs_reauth') AS "Needs re-auth",
                       count(*) FILTER (WHERE refresh_failures > 0) AS "Refresh failing"
                FROM oauth_tokens
                """,
                "table",
            )
        ],
        kind="stat",
        width=8,
        thresholds=[(None, "green"), (1, "orange")],
    )
    freshness = Panel(
        "Data freshness per user and data type",
        [
            Sql(
                """
                SELECT coalesce(u.username, u.email) AS "User", c.data_type AS "Data type",
                       c.status AS "Status", c.last_success_at AS "Last success",
                       round((extract(epoch from now() - c.last_success_at) / 3600)::numeric, 1)
                         AS "Hours since success",
                       c.cursor_day AS "Cursor day", c.last_attempt_at AS "Last attempt",
                       c.documents_total AS "Documents", c.last_error AS "Last error"
                FROM collection_cursors c
                JOIN users u ON u.id = c.user_id
                ORDER BY c.last_success_at ASC NULLS FIRST, 1, 2
                """,
                "table",
            )
        ],
        kind="table",
        width=24,
        height=12,
        overrides=[
            {
                "matcher": {"id": "byName", "options": "Hours since success"},
                "properties": [
                    {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    {
                        "id": "thresholds",
                        "value": {
                            "mode": "absolute",
                            "steps": [
                                {"value": None, "color": "green"},
                                {"value": STALE_HOURS, "color": "red"},
                            ],
                        },
                    },
                ],
            }
        ],
    )
    attempts = Panel(
        "Latest collection attempt per user and data type, by outcome",
        [
            Sql(
                """
                SELECT $__timeGroupAlias(last_attempt_at, '1h'),
                       count(*) FILTER (WHERE status = 'ok') AS "ok",
                       count(*) FILTER (WHERE status = 'failed') AS "failed",
                       count(*) FILTER (WHERE status = 'not_granted') AS "not granted"
                FROM collection_cursors
                WHERE $__timeFilter(last_attempt_at)
                GROUP BY 1
                ORDER BY 1
                """
            )
        ],
        draw="bars",
        stack=True,
        width=24,
    )
    webhooks = _webhook_panels()
    return Dashboard(
        uid="myhealth-pipeline",
        title="myHealth: pipeline",
        description="Kafka consumption, dead letters, batches, collector runs and quarantine, "
        "Oura tokens and data freshness.",
        time_from="now-6h",
        refresh="1m",
        rows=[
            Row(
                "Stream processor",
                [lag, outcomes, dlq, quality, batch_latency, batch_size, last_record],
            ),
            Row("Collector and Oura", [runs, published, quarantine, oura, refreshes]),
            Row("Webhooks", webhooks),
            Row("Sync status", [connections, stale, reauth, freshness, attempts]),
        ],
    )


def _webhook_panels() -> list[Panel]:
    """Webhook health: what Oura announced against what the scheduled poll found that no
    webhook announced (events Oura dropped or gave up retrying), the fetcher's outcomes, and
    how long the app's subscriptions have left."""
    health = Panel(
        "Webhook health: events received and documents only the poll found (per hour)",
        [
            PromQL(
                "sum(increase(gateway_webhook_events_accepted_total[1h])) or vector(0)",
                legend="events received by the gateway",
            ),
            # Scheduled runs are short-lived processes: each run's highest count, not rate().
            PromQL(
                "sum(max_over_time(collector_documents_unannounced_total[1h])) or vector(0)",
                legend="documents the scheduled run found unannounced",
            ),
        ],
        draw="bars",
        unit="short",
        description="Unannounced documents are what webhooks missed and the scheduled "
        "collection caught (reconciliation). A few are normal (Oura gives up retrying after "
        "about an hour); many against few events means deliveries are not arriving: check the "
        "subscriptions below, the receiver's rejections and the ingress rate limit.",
    )
    fetcher = Panel(
        "Webhook events at the fetcher by outcome",
        [
            PromQL(
                f"sum by (outcome) (rate(collector_webhook_events_total[{RATE}]))",
                legend="{{outcome}}",
            ),
        ],
        unit="reqps",
        description="fetched/deleted: stored; duplicate: already fetched; failed: retried from "
        "the topic; not_connected/not_granted: nothing to fetch for that user.",
    )
    expiry = Panel(
        "Webhook subscriptions: time until expiry",
        [
            PromQL(
                "min by (event_type, data_type) (last_over_time("
                "collector_webhook_subscription_expiration_timestamp_seconds[3d])) - time()",
                legend="{{event_type}} {{data_type}}",
            ),
        ],
        unit="s",
        thresholds=[(None, "red"), (2 * 86400, "orange"), (3 * 86400, "green")],
        description="As the daily subscriptions job (ensure, then renew) last reported them. "
        "Renewal starts COLLECTOR_WEBHOOK_RENEW_WITHIN_DAYS (3) before expiry; below 2 days "
        "MyHealthWebhookSubscriptionExpiring fires.",
    )
    return [health, fetcher, expiry]


SERVICE = PromVariable(
    "service", "Service", 'label_values(up{myhealth_service!=""}, myhealth_service)'
)
SELECTED = 'myhealth_service=~"$service"'


def services() -> Dashboard:
    up = Panel(
        "Targets up",
        [PromQL(f"sum by (myhealth_service) (up{{{SELECTED}}})", legend="{{myhealth_service}}")],
        kind="stat",
        width=6,
        thresholds=[(None, "red"), (1, "green")],
    )
    requests = Panel(
        "Gateway request rate by route",
        [
            PromQL(
                f"sum by (route) (rate(gateway_requests_total[{RATE}]))",
                legend="{{route}}",
            )
        ],
        unit="reqps",
        width=18,
    )
    latency = Panel(
        "Gateway latency",
        _quantiles("gateway_request_duration_seconds"),
        unit="s",
    )
    errors = Panel(
        "Gateway error rate",
        [
            PromQL(
                f'sum(rate(gateway_requests_total{{status=~"5.."}}[{RATE}]))'
                f" / sum(rate(gateway_requests_total[{RATE}]))",
                legend="5xx",
            ),
            PromQL(
                f'sum(rate(gateway_requests_total{{status=~"4.."}}[{RATE}]))'
                f" / sum(rate(gateway_requests_total[{RATE}]))",
                legend="4xx",
            ),
        ],
        unit="percentunit",
    )
    statuses = Panel(
        "Gateway responses by status",
        [
            PromQL(
                f"sum by (status) (rate(gateway_requests_total[{RATE}]))",
                legend="{{status}}",
            )
        ],
        unit="reqps",
        stack=True,
    )
    slow_routes = Panel(
        "Gateway p95 latency by route",
        _quantiles("gateway_request_duration_seconds", by="route")[1:2],
        unit="s",
    )
    restarts = Panel(
        "Restarts (process start time changes)",
        [
            PromQL(
                "sum by (myhealth_service) "
                f"(changes(process_start_time_seconds{{{SELECTED}}}[1h]))",
                legend="{{myhealth_service}}",
            )
        ],
        draw="bars",
        width=8,
    )
    db_latency = Panel(
        "Database query latency p50/p95/p99 by query (gateway)",
        _quantiles("gateway_db_query_duration_seconds", by="query"),
        unit="s",
        description="Time PostgreSQL takes to answer each gateway query (a cursor: its first "
        "rows), named after the function that issues it; the wait for a pooled connection is "
        "not included (see the pool panel).",
    )
    db_queries = Panel(
        "Database queries per second by query (gateway)",
        [
            PromQL(
                f"sum by (query) (rate(gateway_db_query_duration_seconds_count[{RATE}]))",
                legend="{{query}}",
            )
        ],
        unit="reqps",
        stack=True,
    )
    pool = Panel(
        "Database pools",
        [
            PromQL("sum(gateway_db_pool_connections_in_use)", legend="gateway in use"),
            PromQL("sum(gateway_db_pool_connections)", legend="gateway open"),
            PromQL("sum(gateway_db_pool_connections_max)", legend="gateway limit"),
            PromQL("sum(processor_db_pool_connections_in_use)", legend="processor in use"),
            PromQL("sum(processor_db_pool_connections_max)", legend="processor limit"),
        ],
        unit="short",
        description="Gateway in use at its limit means requests queue for a connection. A "
        "processor worker uses at most two at once (two batches in flight).",
    )
    db_health = Panel(
        "Processor database batches: latency and retries",
        [
            *_quantiles("processor_batch_seconds")[1:],
            PromQL(
                f"sum by (error) (rate(processor_batch_retries_total[{RATE}]))",
                legend="retries {{error}}",
            ),
        ],
    )
    cpu = Panel(
        "CPU",
        [
            PromQL(
                "sum by (myhealth_service) "
                f"(rate(process_cpu_seconds_total{{{SELECTED}}}[{RATE}]))",
                legend="{{myhealth_service}}",
            )
        ],
        unit="percentunit",
        width=8,
    )
    memory = Panel(
        "Resident memory",
        [
            PromQL(
                f"sum by (myhealth_service) (process_resident_memory_bytes{{{SELECTED}}})",
                legend="{{myhealth_service}}",
            )
        ],
        unit="bytes",
        width=8,
    )
    return Dashboard(
        uid="myhealth-services",
        title="myHealth: service health",
        description="Availability, request rate, latency, errors, database queries and pools, "
        "restarts.",
        time_from="now-6h",
        refresh="30s",
        variables=[SERVICE],
        rows=[
            Row("Availability", [up, requests]),
            Row("Gateway", [latency, errors, statuses, slow_routes]),
            Row("Database", [db_latency, db_queries, pool, db_health]),
            Row("Processes", [restarts, cpu, memory]),
        ],
    )
