"""The person-facing dashboards: health overview, sleep, activity and readiness.

Every query reads the typed columns of one data table (or `daily_trends`) for the user picked in
the `$user` variable, as the read-only `grafana_reader` role. Days are local calendar days, so
they are charted at midnight UTC (`day::timestamp`) and never shifted by a time zone."""

from __future__ import annotations

from .grafana import Dashboard, Panel, Row, Sql, SqlAnnotation, SqlVariable

USER = SqlVariable(
    "user",
    "User",
    """
    SELECT id::text AS __value, coalesce(username, email) AS __text
    FROM users
    ORDER BY created_at, id
    """,
)

# Sleep periods that count: Oura marks naps it rejected as 'rest' and removed ones as 'deleted'.
COUNTED_SLEEP = "coalesce(sleep_type, '') NOT IN ('deleted', 'rest')"
# Local clock time of a timestamp in an Oura document (which keeps the wearer's UTC offset).
_LOCAL_HOURS = "extract(epoch from (document->>'{field}')::timestamp::time) / 3600.0"
# Hours from local midnight, -12..12: 23:30 is -0.5, 00:30 is 0.5.
BEDTIME_HOURS = f"(({_LOCAL_HOURS.format(field='bedtime_start')} + 12)::numeric % 24 - 12)"
WAKE_HOURS = _LOCAL_HOURS.format(field="bedtime_end")
# The night's main sleep: the longest counted period of the day.
MAIN_SLEEP = f"""
    SELECT DISTINCT ON (day) *
    FROM sleep
    WHERE user_id = '$user' AND $__timeFilter(day) AND {COUNTED_SLEEP}
    ORDER BY day, time_in_bed DESC NULLS LAST, id
"""

SCORE_COLORS: list[tuple[float | None, str]] = [
    (None, "red"),
    (60, "orange"),
    (70, "yellow"),
    (85, "green"),
]


def _score_windows(table: str, title: str) -> Panel:
    return Panel(
        title,
        [
            Sql(
                f"""
                SELECT
                  round(avg(score) FILTER (WHERE day > current_date - 7), 1) AS "7 days",
                  round(avg(score) FILTER (WHERE day > current_date - 30), 1) AS "30 days",
                  round(avg(score) FILTER (WHERE day > current_date - 90), 1) AS "90 days"
                FROM {table}
                WHERE user_id = '$user' AND day > current_date - 90
                """,
                "table",
            )
        ],
        kind="stat",
        width=8,
        height=5,
        min=0,
        max=100,
        thresholds=SCORE_COLORS,
        description=f"Average {title.lower()} of the last 7, 30 and 90 days (not the time picker).",
    )


def _daily(table: str, columns: str, *, where: str = "", group: bool = False) -> Sql:
    """One row per day of `table` for the selected user in the time range."""
    extra = f" AND {where}" if where else ""
    grouping = " GROUP BY day" if group else ""
    return Sql(
        f"""
        SELECT day::timestamp AS "time", {columns}
        FROM {table}
        WHERE user_id = '$user' AND $__timeFilter(day){extra}{grouping}
        ORDER BY 1
        """
    )


def _contributors(names: tuple[str, ...]) -> str:
    """Score contributors (0-100) from the document's `contributors` object, one column each."""
    return ", ".join(
        # ::jsonb: some tables keep their document as text (DataType.document_as_text).
        f"(document::jsonb->'contributors'->>'{n}')::int AS \"{n.replace('_', ' ')}\""
        for n in names
    )


def _trend(metric: str, label: str) -> Sql:
    return Sql(
        f"""
        SELECT day::timestamp AS "time", mean_7d AS "{label} (7-day mean)",
               baseline AS "{label} (baseline)"
        FROM daily_trends
        WHERE user_id = '$user' AND metric = '{metric}' AND $__timeFilter(day)
        ORDER BY 1
        """
    )


TREND_FLAGS = SqlAnnotation(
    "Trend flags",
    """
    SELECT day::timestamp AS "time",
           metric || ' ' || coalesce(direction, '') || ': ' || round(value::numeric, 1)
             || ' (baseline ' || round(baseline::numeric, 1) || ', z '
             || round(deviation::numeric, 1) || ')' AS text,
           split_part(metric, '.', 1) AS tags
    FROM daily_trends
    WHERE user_id = '$user' AND flag AND $__timeFilter(day)
    ORDER BY 1
    """,
)


def overview() -> Dashboard:
    scores = Panel(
        "Daily scores",
        [
            _daily("daily_sleep", 'score AS "Sleep"'),
            _daily("daily_readiness", 'score AS "Readiness"'),
            _daily("daily_activity", 'score AS "Activity"'),
        ],
        width=24,
        unit="none",
        min=0,
        max=100,
        description="Oura's daily scores. Orange markers: trend flags (days far from baseline).",
    )
    score_means = Panel(
        "Scores, 7-day mean against the 60-day baseline",
        [
            _trend("daily_sleep.score", "Sleep"),
            _trend("daily_readiness.score", "Readiness"),
            _trend("daily_activity.score", "Activity"),
        ],
        width=24,
        min=0,
        max=100,
    )
    hrv = Panel(
        "Heart rate variability (main sleep)",
        [
            Sql(f'SELECT day::timestamp AS "time", average_hrv AS "HRV" FROM ({MAIN_SLEEP}) s'),
            _trend("sleep.average_hrv", "HRV"),
        ],
        unit="ms",
    )
    resting = Panel(
        "Resting heart rate",
        [
            _daily(
                "sleep",
                'min(lowest_heart_rate) AS "Lowest", round(avg(average_heart_rate)::numeric, 1) '
                'AS "Average in sleep"',
                where=COUNTED_SLEEP,
                group=True,
            ),
            _trend("sleep.lowest_heart_rate", "Lowest"),
        ],
        unit="bpm",
    )
    steps = Panel(
        "Steps",
        [_daily("daily_activity", 'steps AS "Steps"'), _trend("daily_activity.steps", "Steps")],
        draw="bars",
        unit="none",
    )
    calories = Panel(
        "Calories",
        [_daily("daily_activity", 'active_calories AS "Active", total_calories AS "Total"')],
        unit="kcal",
    )
    temperature = Panel(
        "Body temperature deviation",
        [
            _daily(
                "daily_readiness",
                'temperature_deviation AS "Deviation", '
                'temperature_trend_deviation AS "Trend deviation"',
            )
        ],
        unit="celsius",
        decimals=2,
    )
    flags = Panel(
        "Trend flags",
        [
            Sql(
                """
                SELECT day AS "Day", metric AS "Metric", round(value::numeric, 1) AS "Value",
                       round(baseline::numeric, 1) AS "Baseline",
                       round(deviation::numeric, 1) AS "Deviation (z)", direction AS "Direction"
                FROM daily_trends
                WHERE user_id = '$user' AND flag AND $__timeFilter(day)
                ORDER BY day DESC, metric
                LIMIT 100
                """,
                "table",
            )
        ],
        kind="table",
        description="Days whose value is at least 2.5 robust standard deviations from the "
        "person's 60-day baseline.",
    )
    return Dashboard(
        uid="myhealth-overview",
        title="myHealth: health overview",
        description="Sleep, readiness and activity at a glance for one person.",
        variables=[USER],
        annotations=[TREND_FLAGS],
        rows=[
            Row(
                "Scores",
                [
                    _score_windows("daily_sleep", "Sleep score"),
                    _score_windows("daily_readiness", "Readiness score"),
                    _score_windows("daily_activity", "Activity score"),
                    scores,
                    score_means,
                ],
            ),
            Row("Heart", [hrv, resting]),
            Row("Activity", [steps, calories]),
            Row("Body and trends", [temperature, flags]),
        ],
    )


def sleep() -> Dashboard:
    stages = Panel(
        "Sleep stages",
        [
            _daily(
                "sleep",
                'sum(deep_sleep_duration) / 3600.0 AS "Deep", '
                'sum(rem_sleep_duration) / 3600.0 AS "REM", '
                'sum(light_sleep_duration) / 3600.0 AS "Light", '
                'sum(awake_time) / 3600.0 AS "Awake"',
                where=COUNTED_SLEEP,
                group=True,
            )
        ],
        draw="bars",
        stack=True,
        unit="h",
        decimals=1,
        width=24,
    )
    duration = Panel(
        "Total sleep and time in bed",
        [
            _daily(
                "sleep",
                'sum(total_sleep_duration) / 3600.0 AS "Total sleep", '
                'sum(time_in_bed) / 3600.0 AS "Time in bed"',
                where=COUNTED_SLEEP,
                group=True,
            ),
        ],
        unit="h",
        decimals=1,
    )
    efficiency = Panel(
        "Efficiency",
        [Sql(f'SELECT day::timestamp AS "time", efficiency AS "Efficiency" FROM ({MAIN_SLEEP}) s')],
        unit="percent",
        max=100,
    )
    latency = Panel(
        "Time to fall asleep",
        [
            Sql(
                f'SELECT day::timestamp AS "time", latency / 60.0 AS "Latency" '
                f"FROM ({MAIN_SLEEP}) s"
            )
        ],
        unit="m",
        decimals=0,
    )
    timing = Panel(
        "Bedtime and wake-up (local time, hours from midnight)",
        [
            Sql(
                f"""
                SELECT day::timestamp AS "time", round({BEDTIME_HOURS}, 2) AS "Bedtime",
                       round(({WAKE_HOURS})::numeric, 2) AS "Wake-up"
                FROM ({MAIN_SLEEP}) s
                """
            )
        ],
        draw="points",
        decimals=1,
        description="Bedtime -1.5 is 22:30, 0.5 is 00:30; wake-up 7.25 is 07:15.",
    )
    regularity = Panel(
        "Timing regularity (standard deviation)",
        [
            Sql(
                f"""
                SELECT round(stddev_samp({BEDTIME_HOURS}) * 60, 0) AS "Bedtime (min)",
                       round(stddev_samp(({WAKE_HOURS})::numeric) * 60, 0) AS "Wake-up (min)"
                FROM ({MAIN_SLEEP}) s
                """,
                "table",
            )
        ],
        kind="stat",
        height=8,
        thresholds=[(None, "green"), (45, "yellow"), (90, "red")],
        description="How much bedtime and wake-up vary over the time range; lower is steadier.",
    )
    contributors = Panel(
        "Sleep score contributors",
        [
            _daily(
                "daily_sleep",
                _contributors(
                    (
                        "total_sleep",
                        "efficiency",
                        "restfulness",
                        "rem_sleep",
                        "deep_sleep",
                        "latency",
                        "timing",
                    )
                ),
            )
        ],
        width=24,
        min=0,
        max=100,
    )
    breathing = Panel(
        "Breathing and blood oxygen",
        [
            Sql(
                f"""
                SELECT day::timestamp AS "time", average_breath AS "Breaths per minute"
                FROM ({MAIN_SLEEP}) s
                """
            ),
            _daily("daily_spo2", 'spo2_average AS "SpO2 %"'),
        ],
    )
    return Dashboard(
        uid="myhealth-sleep",
        title="myHealth: sleep",
        description="Sleep stages, efficiency, latency and timing regularity.",
        time_from="now-30d",
        variables=[USER],
        annotations=[TREND_FLAGS],
        rows=[
            Row("Stages and duration", [stages, duration, efficiency]),
            Row("Timing", [latency, timing, regularity]),
            Row("Score", [contributors, breathing]),
        ],
    )


def activity() -> Dashboard:
    daily = "daily_activity"
    time_split = Panel(
        "Time by activity level",
        [
            _daily(
                daily,
                'high_activity_time / 3600.0 AS "High", medium_activity_time / 3600.0 AS "Medium", '
                'low_activity_time / 3600.0 AS "Low", sedentary_time / 3600.0 AS "Sedentary", '
                'resting_time / 3600.0 AS "Resting", non_wear_time / 3600.0 AS "Not worn"',
            )
        ],
        draw="bars",
        stack=True,
        unit="h",
        decimals=1,
        width=24,
    )
    steps = Panel(
        "Steps and walking distance",
        [
            _daily(
                daily,
                'steps AS "Steps", '
                'equivalent_walking_distance AS "Equivalent walking distance (m)"',
            )
        ],
    )
    calories = Panel(
        "Calories",
        [_daily(daily, 'active_calories AS "Active", total_calories AS "Total"')],
        unit="kcal",
    )
    met = Panel(
        "Average MET and inactivity alerts",
        [
            _daily(
                daily,
                'average_met_minutes AS "Average MET", inactivity_alerts AS "Inactivity alerts"',
            )
        ],
    )
    contributors = Panel(
        "Activity score contributors",
        [
            _daily(
                daily,
                _contributors(
                    (
                        "stay_active",
                        "move_every_hour",
                        "meet_daily_targets",
                        "training_frequency",
                        "training_volume",
                        "recovery_time",
                    )
                ),
            )
        ],
        min=0,
        max=100,
    )
    workouts = Panel(
        "Workouts",
        [
            Sql(
                """
                SELECT start_datetime AS "Start", activity AS "Activity", intensity AS "Intensity",
                       round(extract(epoch from end_datetime - start_datetime) / 60) AS "Minutes",
                       round(calories::numeric) AS "Calories",
                       round((distance / 1000.0)::numeric, 2) AS "Distance (km)"
                FROM workout
                WHERE user_id = '$user' AND $__timeFilter(day)
                ORDER BY start_datetime DESC
                LIMIT 200
                """,
                "table",
            )
        ],
        kind="table",
        width=24,
    )
    return Dashboard(
        uid="myhealth-activity",
        title="myHealth: activity",
        description="Steps, calories, activity levels, score contributors and workouts.",
        time_from="now-30d",
        variables=[USER],
        annotations=[TREND_FLAGS],
        rows=[
            Row("Movement", [time_split, steps, calories]),
            Row("Score", [met, contributors]),
            Row("Workouts", [workouts]),
        ],
    )


READINESS_CONTRIBUTORS = (
    "previous_night",
    "sleep_balance",
    "sleep_regularity",
    "previous_day_activity",
    "activity_balance",
    "resting_heart_rate",
    "hrv_balance",
    "recovery_index",
    "body_temperature",
)


def readiness() -> Dashboard:
    daily = "daily_readiness"
    score = Panel(
        "Readiness score",
        [_daily(daily, 'score AS "Readiness"'), _trend("daily_readiness.score", "Readiness")],
        min=0,
        max=100,
        width=24,
    )
    contributors = Panel(
        "Readiness contributors",
        [
            _daily(
                daily,
                _contributors(READINESS_CONTRIBUTORS),
            )
        ],
        min=0,
        max=100,
        width=24,
        height=10,
    )
    latest = Panel(
        "Latest contributors",
        [
            Sql(
                f"""
                SELECT {_contributors(READINESS_CONTRIBUTORS)}
                FROM {daily}
                WHERE user_id = '$user' AND $__timeFilter(day)
                ORDER BY day DESC
                LIMIT 1
                """,
                "table",
            )
        ],
        kind="bargauge",
        min=0,
        max=100,
        thresholds=SCORE_COLORS,
        options={"displayMode": "gradient", "orientation": "horizontal"},
    )
    temperature = Panel(
        "Temperature deviation",
        [
            _daily(
                daily,
                'temperature_deviation AS "Deviation", '
                'temperature_trend_deviation AS "Trend deviation"',
            )
        ],
        unit="celsius",
        decimals=2,
    )
    resilience = Panel(
        "Resilience and stress",
        [
            _daily(
                "daily_resilience",
                'sleep_recovery AS "Sleep recovery", daytime_recovery AS "Daytime recovery", '
                'stress AS "Stress"',
            ),
        ],
    )
    stress = Panel(
        "Time stressed and restored",
        [
            _daily(
                "daily_stress",
                'stress_high / 3600.0 AS "Stressed", recovery_high / 3600.0 AS "Restored"',
            )
        ],
        draw="bars",
        unit="h",
        decimals=1,
    )
    return Dashboard(
        uid="myhealth-readiness",
        title="myHealth: readiness",
        description="Readiness score, what drives it, temperature, resilience and stress.",
        time_from="now-30d",
        variables=[USER],
        annotations=[TREND_FLAGS],
        rows=[
            Row("Score", [score, contributors]),
            Row("Today", [latest, temperature]),
            Row("Resilience", [resilience, stress]),
        ],
    )
