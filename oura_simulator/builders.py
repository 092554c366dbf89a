"""Oura v2 documents (1.37 models, every key present) built from the physiology in data.py.

Each builder returns the documents attributed to one day together with the moment they become
visible, so 'today' fills up as the simulated clock moves (a sleep appears when its sleeper wakes,
today's activity grows minute by minute)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from oura_simulator.data import (
    Document,
    Generator,
    Timed,
    UserProfile,
    activity_class,
    clamp,
    iso,
    iso_ms,
    local,
    mode_of_run,
    utc_iso,
)

DayBuilder = Callable[[Generator, UserProfile, date, datetime], list[Timed]]


def daily_sleep(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    period = gen.long_sleep(user, day)
    if period is None:
        return []
    score, contributors = gen.sleep_score(user, day)
    document = {
        "id": gen.doc_id(user, "daily_sleep", day),
        "contributors": contributors,
        "day": day.isoformat(),
        "score": score,
        "timestamp": iso(local(user, day)),
    }
    return [Timed(period.end, document)]


def daily_readiness(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    period = gen.long_sleep(user, day)
    if period is None:
        return []
    readiness = gen.readiness(user, day)
    document = {
        "id": gen.doc_id(user, "daily_readiness", day),
        "contributors": readiness["contributors"],
        "day": day.isoformat(),
        "score": readiness["score"],
        "temperature_deviation": readiness["temperature_deviation"],
        "temperature_trend_deviation": readiness["temperature_trend_deviation"],
        "timestamp": iso(local(user, day)),
    }
    return [Timed(period.end, document)]


def sleep(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    return list(gen.sleep_documents(user, day))


def daily_activity(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    """Today's document covers only the minutes elapsed so far (Oura refreshes it in the
    background), so it legitimately changes between fetches."""
    if not gen.worn(user, day):
        return []
    window, all_items = gen.met_day(user, day)
    elapsed = int((now - window).total_seconds() // 60)
    if elapsed <= 0:
        return []
    items = list(all_items[: min(1_440, elapsed)])
    classes = "".join(map(activity_class, items))
    core = gen.core(user, day)
    rng = gen.rng(user, "activity", day.toordinal())

    def seconds(code: str) -> int:
        return classes.count(code) * 60

    # One pass over the minutes; the sums below add the same values in the same order as
    # per-quantity generator expressions would.
    by_class: dict[str, list[float]] = {code: [] for code in "012345"}
    active: list[float] = []
    steps = 0
    weight = user.weight
    for met, code in zip(items, classes, strict=True):
        by_class[code].append(met or 0.0)
        if code == "2":
            steps += 2
        elif met is not None and code >= "3":
            steps += int(min(170.0, (met - 1.9) * 42))
        if met is not None and met >= 2.0:
            active.append((met - 1) * weight / 60)

    def met_minutes(code: str) -> int:
        return int(sum(by_class[code]))

    active_calories = int(sum(active))
    male = user.biological_sex == "male"
    bmr = 10 * user.weight + 625 * user.height - 5 * user.age + (5 if male else -161)
    total_calories = active_calories + int(bmr * len(items) / 1_440)
    target_calories = 300 + 50 * (user.steps // 2_000)
    walking = 0.5 * user.weight / 1_000  # kcal per metre walked
    equivalent_walking_distance = int(active_calories / walking)
    target_meters = int(target_calories / walking)
    alerts = 0
    for hour_start in range(240, min(len(classes), 1_080), 60):
        hour = classes[hour_start : hour_start + 60]
        if hour.count("2") == len(hour):
            alerts += 1
    class_5_min = "".join(_dominant_class(classes[i : i + 5]) for i in range(0, len(classes), 5))
    week = [gen.core(user, day - timedelta(days=k)) for k in range(7)]
    trainings = sum(1 for c in week if c.day.weekday() in user.training_days and c.illness < 0.3)
    contributors = {
        "meet_daily_targets": clamp(45 + 45 * min(1.2, sum(c.steps_factor for c in week) / 7)),
        "move_every_hour": clamp(100 - 16 * alerts),
        "recovery_time": clamp(95 - 50 * core.illness),
        "stay_active": clamp(100 - max(0.0, seconds("2") / 3_600 - 7) * 9),
        "training_frequency": clamp(60 + 12 * trainings),
        "training_volume": clamp(72 + 14 * gen.smooth(user, "volume", day, 8)),
    }
    weights = {
        "meet_daily_targets": 0.25,
        "move_every_hour": 0.1,
        "recovery_time": 0.25,
        "stay_active": 0.15,
        "training_frequency": 0.1,
        "training_volume": 0.15,
    }
    worn_items = [m for m in items if m is not None]
    document = {
        "id": gen.doc_id(user, "daily_activity", day),
        "active_calories": active_calories,
        "average_met_minutes": round(sum(worn_items) / len(worn_items), 5) if worn_items else 0.0,
        "class_5_min": class_5_min,
        "contributors": contributors,
        "day": day.isoformat(),
        "equivalent_walking_distance": equivalent_walking_distance,
        "high_activity_met_minutes": met_minutes("5"),
        "high_activity_time": seconds("5"),
        "inactivity_alerts": alerts,
        "low_activity_met_minutes": met_minutes("3"),
        "low_activity_time": seconds("3"),
        "medium_activity_met_minutes": met_minutes("4"),
        "medium_activity_time": seconds("4"),
        "met": {"interval": 60.0, "items": items, "timestamp": iso_ms(window)},
        "meters_to_target": target_meters - equivalent_walking_distance,
        "non_wear_time": seconds("0"),
        "resting_time": seconds("1"),
        "score": clamp(sum(contributors[k] * w for k, w in weights.items()))
        if rng.random() > 0.01
        else None,
        "sedentary_met_minutes": met_minutes("2"),
        "sedentary_time": seconds("2"),
        "steps": steps,
        "target_calories": target_calories,
        "target_meters": target_meters,
        "timestamp": iso(window),
        "total_calories": total_calories,
    }
    return [Timed(min(now, window + timedelta(days=1)), document)]


def _dominant_class(codes: str) -> str:
    worn = codes.replace("0", "")
    return mode_of_run(worn) if worn else "0"


def daily_spo2(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    period = gen.long_sleep(user, day)
    if period is None:
        return []
    core = gen.core(user, day)
    rng = gen.rng(user, "spo2", day.toordinal())
    average = round(96.6 + 0.7 * gen.smooth(user, "spo2", day) - 1.3 * core.illness, 3)
    document = {
        "id": gen.doc_id(user, "daily_spo2", day),
        "breathing_disturbance_index": clamp(3 + 2.5 * rng.gauss(0, 1) + 7 * core.illness, 0),
        "day": day.isoformat(),
        "spo2_percentage": None if rng.random() < 0.03 else {"average": min(100.0, average)},
    }
    return [Timed(period.end, document)]


def daily_stress(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    if not gen.worn(user, day):
        return []
    core = gen.core(user, day)
    rng = gen.rng(user, "stress", day.toordinal())
    if rng.random() < 0.04:
        stress_high, recovery_high, summary = 0, 0, None
    else:
        stress_high = int(max(0.0, 60 + 70 * core.stress + 20 * rng.gauss(0, 1))) * 60
        recovery_high = int(max(0.0, 150 - 90 * core.stress + 25 * rng.gauss(0, 1))) * 60
        if stress_high > 1.5 * recovery_high:
            summary = "stressful"
        elif recovery_high > 1.5 * stress_high:
            summary = "restored"
        else:
            summary = "normal"
    document = {
        "id": gen.doc_id(user, "daily_stress", day),
        "day": day.isoformat(),
        "day_summary": summary,
        "recovery_high": recovery_high,
        "stress_high": stress_high,
    }
    return [Timed(local(user, day, 10 * 60), document)]


def daily_resilience(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    period = gen.long_sleep(user, day)
    if period is None:
        return []
    recent = [gen.core(user, day - timedelta(days=k)) for k in range(14)]
    strain = sum(c.illness for c in recent) / 4
    sleep_recovery = min(100.0, max(0.0, 68 + 12 * gen.smooth(user, "res_sleep", day, 10)))
    daytime_recovery = min(100.0, max(0.0, 55 + 14 * gen.smooth(user, "res_day", day, 10)))
    stress = min(100.0, max(0.0, 45 + 15 * gen.smooth(user, "res_stress", day, 10)))
    sleep_recovery = max(0.0, sleep_recovery - 30 * strain)
    daytime_recovery = max(0.0, daytime_recovery - 20 * strain)
    level_value = (sleep_recovery + daytime_recovery + (100 - stress)) / 3
    levels = ((30, "limited"), (45, "adequate"), (60, "solid"), (75, "strong"))
    level = next((name for bound, name in levels if level_value < bound), "exceptional")
    document = {
        "id": gen.doc_id(user, "daily_resilience", day),
        "day": day.isoformat(),
        "contributors": {
            "sleep_recovery": round(sleep_recovery, 1),
            "daytime_recovery": round(daytime_recovery, 1),
            "stress": round(stress, 1),
        },
        "level": level,
    }
    return [Timed(period.end, document)]


def daily_cardiovascular_age(
    gen: Generator, user: UserProfile, day: date, now: datetime
) -> list[Timed]:
    period = gen.long_sleep(user, day)
    if period is None:
        return []
    vascular_age = clamp(
        user.age + user.vascular_offset + 0.8 * gen.smooth(user, "vascular", day, 10), 18
    )
    document = {
        "id": gen.doc_id(user, "daily_cardiovascular_age", day),
        "day": day.isoformat(),
        "pulse_wave_velocity": round(4.6 + 0.09 * vascular_age, 2),
        "vascular_age": vascular_age,
    }
    return [Timed(period.end, document)]


def vo2_max(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    rng = gen.rng(user, "vo2", day.toordinal())
    if not gen.worn(user, day) or rng.random() >= 0.15:
        return []
    moment = local(user, day, rng.uniform(13, 16) * 60).replace(microsecond=0)
    document = {
        "id": gen.doc_id(user, "vo2_max", day),
        "day": day.isoformat(),
        "timestamp": iso(moment),
        "vo2_max": round(user.vo2 + 1.2 * gen.smooth(user, "vo2", day, 14)),
    }
    return [Timed(moment, document)]


def workout(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    out: list[Timed] = []
    for item in gen.workouts(user, day):
        hours = (item.end - item.start).total_seconds() / 3_600
        speed = {"running": 2.9, "cycling": 6.5, "walking": 1.35}.get(item.activity)
        distance = round(speed * hours * 3_600, 1) if speed else None
        intensity = "hard" if item.met >= 8 else "moderate" if item.met >= 4 else "easy"
        document = {
            "id": gen.doc_id(user, "workout", day, item.key),
            "activity": item.activity,
            "calories": round((item.met - 1) * user.weight * hours, 1),
            "day": day.isoformat(),
            "distance": distance,
            "end_datetime": iso(item.end),
            "intensity": intensity,
            "label": item.label,
            "source": item.source,
            "start_datetime": iso(item.start),
        }
        out.append(Timed(item.end, document))
    return out


def session(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    rng = gen.rng(user, "session", day.toordinal())
    if not gen.worn(user, day) or rng.random() >= 0.2:
        return []
    core = gen.core(user, day)
    start = local(user, day, rng.uniform(7, 22) * 60).replace(second=0, microsecond=0)
    count = int(rng.uniform(5, 20) * 12)  # 5-second samples
    end = start + timedelta(seconds=5 * count)
    heart_rate: list[float | None] = []
    hrv: list[float | None] = []
    motion: list[float | None] = []
    for i in range(count):
        relax = i / count
        heart_rate.append(float(round(core.rhr + 8 - 6 * relax + rng.gauss(0, 1.5))))
        hrv.append(float(round(core.hrv * (0.9 + 0.3 * relax) * (1 + rng.gauss(0, 0.1)))))
        motion.append(float(rng.choice((0, 0, 0, 0, 1, 2))))
    stamp = iso_ms(start)
    document = {
        "id": gen.doc_id(user, "session", day),
        "day": day.isoformat(),
        "end_datetime": iso(end),
        "heart_rate": {"interval": 5.0, "items": heart_rate, "timestamp": stamp},
        "heart_rate_variability": {"interval": 5.0, "items": hrv, "timestamp": stamp},
        "mood": rng.choice((None, "good", "great", "same", "worse", "bad")),
        "motion_count": {"interval": 5.0, "items": motion, "timestamp": stamp},
        "start_datetime": iso(start),
        "type": rng.choice(("meditation", "breathing", "relaxation", "rest", "body_status")),
    }
    return [Timed(end, document)]


def enhanced_tag(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    if not gen.worn(user, day):
        return []
    rng = gen.rng(user, "tags", day.toordinal())
    core = gen.core(user, day)
    tags: list[tuple[str, str | None, float, float | None, str | None, str]] = []
    # (key, code, start hour, duration minutes, custom name, comment)
    if rng.random() < 0.5:
        tags.append(("caffeine", "tag_generic_caffeine", rng.uniform(7, 10), None, None, ""))
    if day.weekday() in (4, 5) and rng.random() < 0.4:
        tags.append(("alcohol", "tag_generic_alcohol", rng.uniform(19, 22), None, None, ""))
    if core.illness >= 0.5:
        tags.append(("sick", "tag_generic_sickness", rng.uniform(8, 10), None, None, "Feeling ill"))
    if rng.random() < 0.04:
        tags.append(("custom", "custom", rng.uniform(17, 20), 20.0, "Sauna", ""))
    if rng.random() < 0.02:
        tags.append(("note", None, rng.uniform(20, 22), None, None, "Long day at work"))
    out: list[Timed] = []
    for key, code, hour, minutes, custom_name, comment in tags:
        start = local(user, day, hour * 60).replace(second=0, microsecond=0)
        end = start + timedelta(minutes=minutes) if minutes is not None else None
        document = {
            "id": gen.doc_id(user, "enhanced_tag", day, key),
            "tag_type_code": code,
            "start_time": iso(start),
            "end_time": iso(end) if end is not None else None,
            "start_day": day.isoformat(),
            "end_day": end.date().isoformat() if end is not None else None,
            "comment": comment,
            "custom_name": custom_name,
        }
        out.append(Timed(end or start, document))
    return out


def sleep_time(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    period = gen.long_sleep(user, day)
    if period is None:
        return []
    rng = gen.rng(user, "sleep_time", day.toordinal())
    if (day - user.data_since).days < 14:
        status, recommendation, window = "not_enough_nights", None, None
    elif rng.random() < 0.15:
        status, recommendation, window = "only_recommended_found", "earlier_bedtime", None
    else:
        start_offset = (user.bedtime_min - 30) * 60 + 300 * rng.randint(-2, 2)
        window = {
            "day_tz": user.tz_offset_min * 60,
            "end_offset": start_offset + 3_600,
            "start_offset": start_offset,
        }
        status = "optimal_found"
        recommendation = rng.choice(("follow_optimal_bedtime", "earlier_bedtime"))
    document = {
        "id": gen.doc_id(user, "sleep_time", day),
        "day": day.isoformat(),
        "optimal_bedtime": window,
        "recommendation": recommendation,
        "status": status,
    }
    return [Timed(period.end, document)]


def rest_mode_period(gen: Generator, user: UserProfile, day: date, now: datetime) -> list[Timed]:
    """Rest mode switched on for most illness episodes, from the first sick morning until the
    morning after the last sick day; still open (end null) while the clock is inside it."""
    episodes = gen.illness_episodes(user, day, day)
    if not episodes or episodes[0][0] != day:
        return []
    first, last = episodes[0]
    rng = gen.rng(user, "rest_mode", first.toordinal())
    if rng.random() >= 0.7:
        return []
    start = local(user, first, rng.uniform(8, 10) * 60).replace(second=0, microsecond=0)
    if now < start:
        return []
    end = local(user, last + timedelta(days=1), rng.uniform(7, 9) * 60).replace(
        second=0, microsecond=0
    )
    episodes_list = []
    moment = start
    while moment <= min(now, end):
        episodes_list.append({"tags": ["tag_generic_sickness"], "timestamp": iso(moment)})
        moment += timedelta(days=1)
    ongoing = now < end
    document = {
        "id": gen.doc_id(user, "rest_mode_period", first),
        "end_day": None if ongoing else end.date().isoformat(),
        "end_time": None if ongoing else iso(end),
        "episodes": episodes_list,
        "start_day": first.isoformat(),
        "start_time": iso(start),
    }
    return [Timed(start, document)]


def ring_configurations(gen: Generator, user: UserProfile, now: datetime) -> list[Document]:
    """One ring set up before the data starts, sometimes a newer second ring."""
    rng = gen.rng(user, "rings")
    rings = [(0, "gen3", "heritage", user.data_since - timedelta(days=rng.randint(10, 60)))]
    if rng.random() < 0.5:
        rings.append((1, "gen4", "horizon", user.data_since + timedelta(days=rng.randint(90, 400))))
    out: list[Document] = []
    for index, hardware, design, set_up in rings:
        set_up_at = datetime.combine(set_up, datetime.min.time(), UTC) + timedelta(
            minutes=rng.randint(480, 1_200)
        )
        if set_up_at > now:
            continue
        out.append(
            {
                "id": gen.doc_id(user, "ring_configuration", None, index),
                "color": rng.choice(("stealth_black", "silver", "brushed_silver", "rose")),
                "design": design,
                "firmware_version": f"2.{rng.randint(8, 11)}.{rng.randint(0, 40)}",
                "hardware_type": hardware,
                "set_up_at": utc_iso(set_up_at),
                "size": rng.randint(6, 12),
            }
        )
    return out


def personal_info(user: UserProfile, scopes: frozenset[str]) -> Document:
    """The id is readable with any token; the rest needs `personal`, the email `email`."""
    personal = "personal" in scopes
    return {
        "id": user.user_id,
        "age": user.age if personal else None,
        "weight": user.weight if personal else None,
        "height": user.height if personal else None,
        "biological_sex": user.biological_sex if personal else None,
        "email": user.email if "email" in scopes else None,
    }


def heartrate_row(moment: datetime, bpm: int, source: str) -> Document:
    return {
        "bpm": bpm,
        "source": source,
        "timestamp": utc_iso(moment),
        "timestamp_unix": int(moment.timestamp() * 1_000),
    }


DAY_BUILDERS: dict[str, DayBuilder] = {
    "daily_sleep": daily_sleep,
    "sleep": sleep,
    "daily_activity": daily_activity,
    "daily_readiness": daily_readiness,
    "daily_spo2": daily_spo2,
    "daily_stress": daily_stress,
    "daily_resilience": daily_resilience,
    "daily_cardiovascular_age": daily_cardiovascular_age,
    "vo2_max": vo2_max,
    "workout": workout,
    "session": session,
    "enhanced_tag": enhanced_tag,
    "sleep_time": sleep_time,
    "rest_mode_period": rest_mode_period,
}
