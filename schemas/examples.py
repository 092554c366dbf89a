"""Realistic, spec-faithful Oura documents for tests, benchmarks and the simulator.

Every key of the 1.37 model is present (Oura emits nullable keys as null), series have live-data
lengths, and the same (type, day, seed) always gives the same document."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from schemas.data_types import PerType, get

Json = dict[str, Any]
_OFFSETS_H = (-8, -5, 0, 1, 2, 3)
_Builder = Callable[[random.Random, date, timezone], Json]
_BUILDER = PerType[_Builder]("example document builder")


def example_document(data_type: str, *, day: date, seed: int = 0) -> Json:
    """One document of `data_type` for local `day`; deterministic for a given seed."""
    get(data_type)  # a clear KeyError for an unknown type
    rng = random.Random(f"{data_type}:{day.isoformat()}:{seed}")
    zone = timezone(timedelta(hours=rng.choice(_OFFSETS_H)))
    return _BUILDERS[data_type](rng, day, zone)


# --- small helpers ------------------------------------------------------------------------------


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _local(day: date, zone: timezone, at: time = time(0)) -> datetime:
    return datetime.combine(day, at, zone)


def _iso(moment: datetime) -> str:
    """Oura document timestamps: second precision with offset, e.g. 2026-03-14T00:00:00+02:00."""
    return moment.isoformat(timespec="seconds")


def _iso_ms(moment: datetime) -> str:
    """Oura sample-series starts: milliseconds with offset, e.g. 2026-03-14T04:00:00.000+02:00."""
    return moment.isoformat(timespec="milliseconds")


def _score(rng: random.Random) -> int:
    return rng.randint(40, 100)


def _digits(rng: random.Random, length: int, alphabet: str, weights: list[int]) -> str:
    return "".join(rng.choices(alphabet, weights=weights, k=length))


def _sample(start: datetime, interval: float, values: Sequence[float | None]) -> Json:
    return {"interval": interval, "items": list(values), "timestamp": _iso_ms(start)}


def _with_gaps(rng: random.Random, series: Sequence[float], gaps: int) -> list[float | None]:
    """Short runs of nulls, as when the ring lost skin contact."""
    values: list[float | None] = list(series)
    for _ in range(gaps):
        start = rng.randrange(len(values))
        for i in range(start, min(len(values), start + rng.randint(1, 4))):
            values[i] = None
    return values


def _readiness_contributors(rng: random.Random) -> Json:
    names = (
        "activity_balance",
        "body_temperature",
        "hrv_balance",
        "previous_day_activity",
        "previous_night",
        "recovery_index",
        "resting_heart_rate",
        "sleep_balance",
        "sleep_regularity",
    )
    return {name: _score(rng) for name in names}


# --- one builder per data type ------------------------------------------------------------------


@_BUILDER.of("daily_sleep")
def _daily_sleep(rng: random.Random, day: date, zone: timezone) -> Json:
    names = ("deep_sleep", "efficiency", "latency", "rem_sleep", "restfulness", "timing")
    return {
        "id": _id(rng),
        "contributors": {**{n: _score(rng) for n in names}, "total_sleep": _score(rng)},
        "day": day.isoformat(),
        "score": _score(rng),
        "timestamp": _iso(_local(day, zone)),
    }


@_BUILDER.of("sleep")
def _sleep(rng: random.Random, day: date, zone: timezone) -> Json:
    start = _local(day, zone) - timedelta(minutes=rng.randint(30, 150))
    in_bed = rng.randint(95, 101) * 300
    end = start + timedelta(seconds=in_bed)
    deep, rem = rng.randint(45, 100) * 60, rng.randint(60, 120) * 60
    awake = rng.randint(10, 50) * 60
    light = in_bed - deep - rem - awake
    slots = in_bed // 300
    heart = [float(rng.randint(48, 68)) for _ in range(slots)]
    hrv = [float(rng.randint(25, 90)) for _ in range(slots)]
    return {
        "id": _id(rng),
        "average_breath": round(rng.uniform(12.5, 16.5), 3),
        "average_heart_rate": round(rng.uniform(50, 62), 3),
        "average_hrv": rng.randint(30, 75),
        "awake_time": awake,
        "bedtime_end": _iso(end),
        "bedtime_start": _iso(start),
        "day": day.isoformat(),
        "deep_sleep_duration": deep,
        "efficiency": rng.randint(80, 97),
        "heart_rate": _sample(start, 300.0, _with_gaps(rng, heart, 2)),
        "hrv": _sample(start, 300.0, _with_gaps(rng, hrv, 3)),
        "latency": rng.randint(2, 40) * 60,
        "light_sleep_duration": light,
        "low_battery_alert": False,
        "lowest_heart_rate": rng.randint(42, 52),
        "movement_30_sec": _digits(rng, in_bed // 30, "1234", [80, 12, 6, 2]),
        "period": 0,
        "readiness": {
            "contributors": _readiness_contributors(rng),
            "score": _score(rng),
            "temperature_deviation": round(rng.uniform(-0.6, 0.6), 2),
            "temperature_trend_deviation": round(rng.uniform(-0.4, 0.4), 2),
        },
        "readiness_score_delta": rng.randint(-3, 3),
        "rem_sleep_duration": rem,
        "restless_periods": rng.randint(50, 400),
        "sleep_algorithm_version": "v2",
        "sleep_analysis_reason": "foreground_sleep_analysis",
        "sleep_phase_30_sec": _digits(rng, in_bed // 30, "1234", [20, 50, 20, 10]),
        "sleep_phase_5_min": _digits(rng, slots, "1234", [20, 50, 20, 10]),
        "sleep_score_delta": rng.randint(-3, 3),
        "time_in_bed": in_bed,
        "total_sleep_duration": in_bed - awake,
        "type": "long_sleep",
        "ring_id": _id(rng),
        "app_sleep_phase_5_min": _digits(rng, slots, "1234", [20, 50, 20, 10]),
    }


def _met_series(rng: random.Random) -> list[float | None]:
    """1,440 one-minute MET values: low at night, activity bursts by day, short non-wear gaps."""
    values: list[float] = []
    for minute in range(1440):
        hour = (4 + minute // 60) % 24
        if 0 <= hour < 7:
            values.append(round(rng.uniform(0.9, 1.0), 1))
        elif rng.random() < 0.05:
            values.append(round(rng.uniform(3.0, 9.0), 1))
        else:
            values.append(round(rng.uniform(1.0, 2.5), 1))
    return _with_gaps(rng, values, 3)


@_BUILDER.of("daily_activity")
def _daily_activity(rng: random.Random, day: date, zone: timezone) -> Json:
    high, medium = rng.randint(0, 40) * 60, rng.randint(10, 90) * 60
    low, sedentary = rng.randint(120, 300) * 60, rng.randint(400, 700) * 60
    resting, non_wear = rng.randint(420, 540) * 60, rng.randint(0, 60) * 60
    active_cal = rng.randint(200, 900)
    target_meters = rng.choice((8000, 10000, 12000))
    walked = rng.randint(3000, 14000)
    names = (
        "meet_daily_targets",
        "move_every_hour",
        "recovery_time",
        "stay_active",
        "training_frequency",
        "training_volume",
    )
    return {
        "id": _id(rng),
        "active_calories": active_cal,
        "average_met_minutes": round(rng.uniform(1.2, 2.2), 4),
        "class_5_min": _digits(rng, 288, "012345", [3, 30, 35, 20, 9, 3]),
        "contributors": {n: _score(rng) for n in names},
        "day": day.isoformat(),
        "equivalent_walking_distance": walked,
        "high_activity_met_minutes": high // 60 * 7,
        "high_activity_time": high,
        "inactivity_alerts": rng.randint(0, 3),
        "low_activity_met_minutes": low // 60 * 2,
        "low_activity_time": low,
        "medium_activity_met_minutes": medium // 60 * 4,
        "medium_activity_time": medium,
        "met": _sample(_local(day, zone, time(4)), 60.0, _met_series(rng)),
        "meters_to_target": max(0, target_meters - walked),
        "non_wear_time": non_wear,
        "resting_time": resting,
        "score": _score(rng),
        "sedentary_met_minutes": sedentary // 60,
        "sedentary_time": sedentary,
        "steps": rng.randint(3000, 18000),
        "target_calories": rng.choice((350, 450, 550)),
        "target_meters": target_meters,
        "timestamp": _iso(_local(day, zone, time(4))),
        "total_calories": 1700 + active_cal,
    }


@_BUILDER.of("daily_readiness")
def _daily_readiness(rng: random.Random, day: date, zone: timezone) -> Json:
    return {
        "id": _id(rng),
        "contributors": _readiness_contributors(rng),
        "day": day.isoformat(),
        "score": _score(rng),
        "temperature_deviation": round(rng.uniform(-0.6, 0.6), 2),
        "temperature_trend_deviation": round(rng.uniform(-0.4, 0.4), 2),
        "timestamp": _iso(_local(day, zone)),
    }


@_BUILDER.of("heartrate")
def _heartrate(rng: random.Random, day: date, zone: timezone) -> Json:
    """The platform's heart-rate day: Oura's rows of one UTC day, about one per 5 minutes."""
    midnight = datetime.combine(day, time(0), UTC)
    rows = []
    for slot in range(288):
        moment = midnight + timedelta(seconds=slot * 300 + rng.randint(0, 20))
        asleep = slot < 84
        rows.append(
            {
                "timestamp": moment.isoformat(),
                "timestamp_unix": int(moment.timestamp()) * 1000,
                "bpm": rng.randint(46, 62) if asleep else rng.randint(58, 125),
                "source": "sleep" if asleep else rng.choice(("awake", "awake", "rest", "workout")),
            }
        )
    return {"day": day.isoformat(), "rows": rows}


@_BUILDER.of("daily_spo2")
def _daily_spo2(rng: random.Random, day: date, zone: timezone) -> Json:
    return {
        "id": _id(rng),
        "breathing_disturbance_index": rng.randint(0, 20),
        "day": day.isoformat(),
        "spo2_percentage": {"average": round(rng.uniform(94.0, 99.0), 3)},
    }


@_BUILDER.of("daily_stress")
def _daily_stress(rng: random.Random, day: date, zone: timezone) -> Json:
    return {
        "id": _id(rng),
        "day": day.isoformat(),
        "day_summary": rng.choice(("restored", "normal", "stressful")),
        "recovery_high": rng.randint(0, 40) * 900,
        "stress_high": rng.randint(0, 20) * 900,
    }


@_BUILDER.of("daily_resilience")
def _daily_resilience(rng: random.Random, day: date, zone: timezone) -> Json:
    return {
        "id": _id(rng),
        "day": day.isoformat(),
        "contributors": {
            "sleep_recovery": round(rng.uniform(20, 100), 1),
            "daytime_recovery": round(rng.uniform(10, 90), 1),
            "stress": round(rng.uniform(5, 80), 1),
        },
        "level": rng.choice(("limited", "adequate", "solid", "strong", "exceptional")),
    }


@_BUILDER.of("daily_cardiovascular_age")
def _daily_cardiovascular_age(rng: random.Random, day: date, zone: timezone) -> Json:
    return {
        "id": _id(rng),
        "day": day.isoformat(),
        "pulse_wave_velocity": round(rng.uniform(5.5, 9.5), 2),
        "vascular_age": rng.randint(25, 60),
    }


@_BUILDER.of("vo2_max")
def _vo2_max(rng: random.Random, day: date, zone: timezone) -> Json:
    return {
        "id": _id(rng),
        "day": day.isoformat(),
        "timestamp": _iso(_local(day, zone, time(7, rng.randint(0, 59)))),
        "vo2_max": rng.randint(32, 55),
    }


@_BUILDER.of("workout")
def _workout(rng: random.Random, day: date, zone: timezone) -> Json:
    start = _local(day, zone, time(rng.randint(6, 19), rng.randint(0, 59)))
    minutes = rng.randint(20, 90)
    return {
        "id": _id(rng),
        "activity": rng.choice(("walking", "running", "cycling", "strengthTraining")),
        "calories": round(minutes * rng.uniform(5, 11), 3),
        "day": day.isoformat(),
        "distance": round(minutes * rng.uniform(80, 250), 1),
        "end_datetime": _iso(start + timedelta(minutes=minutes)),
        "intensity": rng.choice(("easy", "moderate", "hard")),
        "label": None,
        "source": rng.choice(("manual", "autodetected", "confirmed", "workout_heart_rate")),
        "start_datetime": _iso(start),
    }


@_BUILDER.of("session")
def _session(rng: random.Random, day: date, zone: timezone) -> Json:
    start = _local(day, zone, time(rng.randint(7, 21), rng.randint(0, 59)))
    count = rng.randint(10, 20) * 12  # 5-second samples over 10-20 minutes
    heart = [float(rng.randint(52, 75)) for _ in range(count)]
    hrv = [float(rng.randint(20, 95)) for _ in range(count)]
    motion = [float(rng.choice((0, 0, 0, 1, 2))) for _ in range(count)]
    return {
        "id": _id(rng),
        "day": day.isoformat(),
        "end_datetime": _iso(start + timedelta(seconds=count * 5)),
        "heart_rate": _sample(start, 5.0, _with_gaps(rng, heart, 2)),
        "heart_rate_variability": _sample(start, 5.0, _with_gaps(rng, hrv, 2)),
        "mood": rng.choice(("bad", "worse", "same", "good", "great")),
        "motion_count": _sample(start, 5.0, motion),
        "start_datetime": _iso(start),
        "type": rng.choice(("breathing", "meditation", "relaxation", "rest")),
    }


@_BUILDER.of("enhanced_tag")
def _enhanced_tag(rng: random.Random, day: date, zone: timezone) -> Json:
    start = _local(day, zone, time(rng.randint(7, 22), rng.randint(0, 59)))
    with_duration = rng.random() < 0.5
    end = start + timedelta(minutes=rng.randint(15, 120))
    return {
        "id": _id(rng),
        "tag_type_code": rng.choice(("tag_generic_caffeine", "tag_generic_alcohol", "custom")),
        "start_time": _iso(start),
        "end_time": _iso(end) if with_duration else None,
        "start_day": day.isoformat(),
        "end_day": end.date().isoformat() if with_duration else None,
        "comment": "",
        "custom_name": None,
    }


@_BUILDER.of("sleep_time")
def _sleep_time(rng: random.Random, day: date, zone: timezone) -> Json:
    offset = zone.utcoffset(None)
    start = rng.randint(-8, 2) * 900
    return {
        "id": _id(rng),
        "day": day.isoformat(),
        "optimal_bedtime": {
            "day_tz": int(offset.total_seconds()),
            "end_offset": start + 3600,
            "start_offset": start,
        },
        "recommendation": "follow_optimal_bedtime",
        "status": "optimal_found",
    }


@_BUILDER.of("rest_mode_period")
def _rest_mode_period(rng: random.Random, day: date, zone: timezone) -> Json:
    start = _local(day, zone, time(rng.randint(8, 20), rng.randint(0, 59)))
    end = start + timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 6))
    return {
        "id": _id(rng),
        "end_day": end.date().isoformat(),
        "end_time": _iso(end),
        "episodes": [
            {"tags": ["tag_generic_fatigue"], "timestamp": _iso(start)},
            {
                "tags": ["tag_generic_headache", "tag_generic_sore_throat"],
                "timestamp": _iso(start + timedelta(hours=20)),
            },
        ],
        "start_day": day.isoformat(),
        "start_time": _iso(start),
    }


@_BUILDER.of("ring_configuration")
def _ring_configuration(rng: random.Random, day: date, zone: timezone) -> Json:
    set_up = datetime.combine(day - timedelta(days=rng.randint(30, 900)), time(0), UTC)
    return {
        "id": _id(rng),
        "color": rng.choice(("stealth_black", "silver", "brushed_silver", "rose", "matt_gold")),
        "design": rng.choice(("heritage", "horizon")),
        "firmware_version": f"2.{rng.randint(5, 9)}.{rng.randint(0, 30)}",
        "hardware_type": rng.choice(("gen3", "gen4")),
        "set_up_at": (set_up + timedelta(seconds=rng.randint(0, 86399))).isoformat(),
        "size": rng.randint(6, 13),
    }


@_BUILDER.of("personal_info")
def _personal_info(rng: random.Random, day: date, zone: timezone) -> Json:
    user = _id(rng)
    return {
        "id": user,
        "age": rng.randint(18, 80),
        "weight": round(rng.uniform(50, 110), 1),
        "height": round(rng.uniform(1.5, 2.0), 2),
        "biological_sex": rng.choice(("female", "male")),
        "email": f"user-{user[:8]}@example.org",
    }


_BUILDERS: dict[str, _Builder] = _BUILDER.complete()
