"""The dashboard's one query. It reads several tables (daily summaries, trends, connection and
cursors), so it lives here rather than in any one table's module.

PostgreSQL renders the whole answer as JSON text: one round trip, index range scans over at most
60 days per score, nothing parsed or re-serialized in Python."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from schemas.db import Queries, labelled

# (metric name, table, column) of the scores the dashboard summarizes.
SCORES: tuple[tuple[str, str, str], ...] = (
    ("sleep_score", "daily_sleep", "score"),
    ("readiness_score", "daily_readiness", "score"),
    ("activity_score", "daily_activity", "score"),
    ("steps", "daily_activity", "steps"),
)


def _r(expr: str) -> str:
    return f"round(({expr})::numeric, 2)::float8"


def _score_summary(table: str, column: str) -> str:
    # A day still in progress when it was fetched (steps by mid-morning) is shown as the
    # latest value "so far", and left out of the averages it would drag down.
    window = (
        f"SELECT day, {column}::float8 AS v, in_progress AS p FROM {table} WHERE user_id = $1 "
        f"AND day > $2::date - 60 AND day <= $2::date AND {column} IS NOT NULL"
    )
    label = (
        "CASE WHEN NOT latest_partial THEN NULL WHEN latest_day = $2::date "
        "THEN 'so far today' ELSE 'so far' END"
    )
    return f"""(SELECT json_build_object(
        'latest', latest, 'latest_day', latest_day, 'latest_label', {label},
        'avg_7d', {_r("a7")}, 'avg_prev_7d', {_r("p7")}, 'change_7d', {_r("a7 - p7")},
        'avg_30d', {_r("a30")}, 'avg_prev_30d', {_r("p30")}, 'change_30d', {_r("a30 - p30")})
      FROM (SELECT (array_agg(v ORDER BY day DESC))[1] AS latest, max(day) AS latest_day,
                   coalesce((array_agg(p ORDER BY day DESC))[1], false) AS latest_partial,
                   avg(v) FILTER (WHERE NOT p AND day > $2::date - 7) AS a7,
                   avg(v) FILTER (WHERE NOT p AND day <= $2::date - 7 AND day > $2::date - 14)
                       AS p7,
                   avg(v) FILTER (WHERE NOT p AND day > $2::date - 30) AS a30,
                   avg(v) FILTER (WHERE NOT p AND day <= $2::date - 30) AS p30
            FROM ({window}) w) agg)"""


def _dashboard_sql() -> str:
    scores = ",\n".join(
        f"'{metric}', {_score_summary(table, column)}" for metric, table, column in SCORES
    )
    return f"""
SELECT json_build_object(
  'as_of', $2::date,
  'scores', json_build_object({scores}),
  'flags', (SELECT coalesce(json_agg(json_build_object(
                'metric', metric, 'day', day, 'value', value, 'deviation', deviation,
                'direction', direction) ORDER BY day DESC, metric), '[]'::json)
            FROM daily_trends WHERE user_id = $1 AND flag AND day > $2::date - 7),
  'sync', json_build_object(
      'status', (SELECT status FROM oauth_tokens WHERE user_id = $1),
      'last_success_at', (SELECT max(last_success_at) FROM collection_cursors
                          WHERE user_id = $1),
      'failing_types', (SELECT coalesce(json_agg(data_type ORDER BY data_type), '[]'::json)
                        FROM collection_cursors WHERE user_id = $1 AND status = 'failed'))
)::text
"""


DASHBOARD_SQL = _dashboard_sql()


async def render_dashboard(conn: Queries, *, user_id: UUID, as_of: date) -> str:
    """The dashboard as JSON text (see gateway.models.Dashboard)."""
    conn = labelled(conn, "render_dashboard")
    return str(await conn.fetchval(DASHBOARD_SQL, user_id, as_of))
