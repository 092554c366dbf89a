"""Deterministic, physiologically plausible Oura documents.

Every value is a pure function of (seed, user, day): each quantity draws from its own
`random.Random` seeded with a string naming it, so documents never depend on which ranges were
asked for before, and ids (UUIDv5 of user/type/day/key) are stable across runs and revisions.

The model, deliberately simple but coherent:
* a per-user baseline (resting HR, HRV, sleep need, chronotype, step habit, fitness);
* slow day-to-day drift (exponentially smoothed noise) plus a weekly rhythm: later and longer
  weekend nights, a little alcohol effect on Friday/Saturday nights, training days;
* illness episodes (3-6 days, roughly every other 8-week block): temperature deviation up,
  resting HR up, HRV down, readiness down, more and longer naps, fewer steps, rest mode on;
* days without the ring: no document of any kind for that day.
Sleep durations, stages, scores, heart-rate rows and MET minutes are all derived from one
30-second hypnogram per sleep period, so the numbers agree with each other.
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, TypeVar

Document = dict[str, Any]
T = TypeVar("T")

_NAMESPACE = uuid.UUID("6f1c3a52-36f4-4c83-9f0e-8d1f3b6e2a10")
NO_RING_PROBABILITY = 0.035
ILLNESS_BLOCK_DAYS = 56
_ILLNESS_LEVELS = (0.6, 1.0, 0.95, 0.8, 0.6, 0.4)
_DENSE_BURST_STEP_S = 5
_STAGE_HR = {"1": -1.5, "2": 0.0, "3": 2.5, "4": 7.0}
_STAGE_HRV = {"1": 1.2, "2": 1.0, "3": 0.85, "4": 0.7}


@dataclass(frozen=True, slots=True)
class UserProfile:
    login: str
    user_id: str
    email: str
    age: int
    weight: float
    height: float
    biological_sex: str
    tz_offset_min: int
    rhr: float
    hrv: float
    sleep_need_s: int
    bedtime_min: int
    """Usual lights-out in minutes relative to local midnight of the wake-up day (-60 = 23:00)."""
    steps: int
    vo2: float
    vascular_offset: int
    training_days: tuple[int, ...]
    data_since: date

    def __hash__(self) -> int:
        # Profiles key every memoised generator call; the id alone identifies one (cheap hash).
        return hash(self.user_id)

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(minutes=self.tz_offset_min))


def make_profile(seed: int, login: str, data_since: date, **overrides: Any) -> UserProfile:
    """A plausible adult derived from (seed, login); keyword overrides win."""
    rng = random.Random(f"{seed}|profile|{login}")
    sex = rng.choice(("female", "male"))
    height = round(rng.gauss(1.66 if sex == "female" else 1.79, 0.06), 2)
    bmi = rng.uniform(20.5, 27.5)
    age = rng.randint(24, 62)
    values: dict[str, Any] = {
        "login": login,
        "user_id": str(uuid.uuid5(_NAMESPACE, f"{seed}|user|{login}")),
        "email": f"{login}@example.com",
        "age": age,
        "weight": round(bmi * height * height, 1),
        "height": height,
        "biological_sex": sex,
        "tz_offset_min": rng.choice((-480, -300, 0, 60, 120, 180, 330)),
        "rhr": rng.uniform(48, 62),
        "hrv": rng.uniform(32, 85) * (1.15 if age < 35 else 0.9),
        "sleep_need_s": int(rng.uniform(7.0, 8.3) * 3600),
        "bedtime_min": rng.randint(-95, 15),
        "steps": rng.randint(6000, 11500),
        "vo2": rng.uniform(34, 50),
        "vascular_offset": rng.randint(-6, 4),
        "training_days": tuple(sorted(rng.sample(range(7), 3))),
        "data_since": data_since,
    }
    values.update(overrides)
    return UserProfile(**values)


@dataclass(frozen=True, slots=True)
class Core:
    """The day's physiology, before it is turned into documents."""

    day: date
    worn: bool
    illness: float
    temp_dev: float
    rhr: float
    hrv: float
    time_in_bed_s: int
    bed_shift_min: float
    steps_factor: float
    stress: float


@dataclass(frozen=True, slots=True)
class SleepPeriod:
    kind: str
    """long_sleep, late_nap, nap or rest: also the id key, so ids survive added periods."""
    sleep_type: str
    start: datetime
    end: datetime
    hypnogram: str
    """One character per 30 s: 1 deep, 2 light, 3 REM, 4 awake."""


@dataclass(frozen=True, slots=True)
class Workout:
    key: str
    activity: str
    start: datetime
    end: datetime
    met: float
    source: str
    label: str | None


@dataclass(frozen=True, slots=True)
class Timed:
    """A generated document and the moment it becomes visible through the API."""

    available_at: datetime
    document: Document


HEARTRATE_SOURCES = ("awake", "rest", "sleep", "workout")
_SOURCE_CODE = {name: code for code, name in enumerate(HEARTRATE_SOURCES)}


@dataclass(frozen=True, slots=True)
class HeartrateDay:
    """One UTC day of heart-rate rows in compact columns (about 7 bytes a row)."""

    day: date
    offsets: array[int]
    """Seconds since 00:00 UTC of `day`, ascending."""
    bpm: array[int]
    sources: bytes
    """Index into HEARTRATE_SOURCES per row."""


def clamp(value: float, low: float = 1, high: float = 100) -> int:
    return round(min(high, max(low, value)))


def local(user: UserProfile, day: date, minutes: float = 0.0) -> datetime:
    return datetime.combine(day, time(0), user.tz) + timedelta(minutes=minutes)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def iso_ms(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class Generator:
    """Builds documents per (user, day). Results are memoised; callers must not mutate them."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._noise = lru_cache(maxsize=65_536)(self._noise_uncached)
        self.core = lru_cache(maxsize=16_384)(self._core_uncached)
        self.sleep_periods = lru_cache(maxsize=8_192)(
            self._on_worn_days("periods", self._worn_day_sleep_periods)
        )
        self._sleep_docs = lru_cache(maxsize=8_192)(self._sleep_docs_uncached)
        self._met = lru_cache(maxsize=2_048)(self._met_uncached)
        self.workouts = lru_cache(maxsize=8_192)(
            self._on_worn_days("workouts", self._worn_day_workouts)
        )
        self._heartrate = lru_cache(maxsize=4_096)(self._heartrate_uncached)
        self._episode = lru_cache(maxsize=4_096)(self._episode_uncached)
        self._worn = lru_cache(maxsize=65_536)(self._worn_uncached)

    # -- randomness -------------------------------------------------------------------------

    def rng(self, user: UserProfile, *parts: object) -> random.Random:
        return random.Random("|".join([str(self.seed), user.user_id, *map(str, parts)]))

    def doc_id(self, user: UserProfile, type_name: str, day: date | None, *key: object) -> str:
        """A UUID-looking id, stable per (seed, user, type, day, key). Its last four bytes carry
        the day, masked per user, so the single-document route can find it without an index."""
        name = "/".join([str(self.seed), user.user_id, type_name, str(day), *map(str, key)])
        digest = hashlib.sha256(name.encode()).digest()[:12]
        ordinal = day.toordinal() if day is not None else 0
        packed = (ordinal ^ self._day_mask(user)).to_bytes(4, "big")
        return str(uuid.UUID(bytes=digest + packed, version=4))

    def day_of_id(self, user: UserProfile, document_id: str) -> date | None:
        """The day encoded by doc_id (None for day-less documents or foreign ids)."""
        try:
            raw = uuid.UUID(document_id).bytes
        except ValueError:
            return None
        ordinal = int.from_bytes(raw[12:], "big") ^ self._day_mask(user)
        if not 1 <= ordinal <= date.max.toordinal():
            return None
        return date.fromordinal(ordinal)

    def _day_mask(self, user: UserProfile) -> int:
        digest = hashlib.sha256(f"{self.seed}|mask|{user.user_id}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF

    def _on_worn_days(
        self,
        stream: str,
        build: Callable[[UserProfile, date, Core, random.Random], tuple[T, ...]],
    ) -> Callable[[UserProfile, date], tuple[T, ...]]:
        """What `build` makes of a day, given its core and the generator seeded per (user,
        `stream`, day); a day the ring lay off records nothing (no sleep, no workout)."""

        def of_day(user: UserProfile, day: date) -> tuple[T, ...]:
            core = self.core(user, day)
            if not core.worn:
                return ()
            return build(user, day, core, self.rng(user, stream, day.toordinal()))

        return of_day

    def _noise_uncached(self, user: UserProfile, key: str, ordinal: int) -> float:
        return self.rng(user, "noise", key, ordinal).gauss(0.0, 1.0)

    def smooth(self, user: UserProfile, key: str, day: date, span: int = 6) -> float:
        """Unit-variance noise correlated over about `span` days (an AR(1)-like kernel)."""
        weights = [0.6**k for k in range(span)]
        norm = math.sqrt(sum(w * w for w in weights))
        base = day.toordinal()
        return sum(w * self._noise(user, key, base - k) for k, w in enumerate(weights)) / norm

    # -- episodes ---------------------------------------------------------------------------

    def illness_episodes(
        self, user: UserProfile, start: date, end: date
    ) -> list[tuple[date, date]]:
        """Illness episodes (first and last day, inclusive) overlapping [start, end]."""
        episodes: list[tuple[date, date]] = []
        first = start.toordinal() // ILLNESS_BLOCK_DAYS - 1
        last = end.toordinal() // ILLNESS_BLOCK_DAYS
        for block in range(first, last + 1):
            episode = self._episode(user, block)
            if episode and episode[1] >= start and episode[0] <= end:
                episodes.append(episode)
        return episodes

    def _episode_uncached(self, user: UserProfile, block: int) -> tuple[date, date] | None:
        rng = self.rng(user, "illness", block)
        if rng.random() >= 0.55:
            return None
        onset = block * ILLNESS_BLOCK_DAYS + rng.randint(4, ILLNESS_BLOCK_DAYS - 12)
        duration = rng.randint(3, len(_ILLNESS_LEVELS))
        return date.fromordinal(onset), date.fromordinal(onset + duration - 1)

    def illness(self, user: UserProfile, day: date) -> float:
        episode = self._episode(user, day.toordinal() // ILLNESS_BLOCK_DAYS)
        if episode is None or not episode[0] <= day <= episode[1]:
            return 0.0
        return _ILLNESS_LEVELS[(day - episode[0]).days]

    def worn(self, user: UserProfile, day: date) -> bool:
        return self._worn(user, day)

    def _worn_uncached(self, user: UserProfile, day: date) -> bool:
        if day < user.data_since:
            return False
        if self.illness(user, day) > 0:
            return True  # keep episodes visible to trend detectors
        return self.rng(user, "worn", day.toordinal()).random() >= NO_RING_PROBABILITY

    # -- the day's physiology ---------------------------------------------------------------

    def _core_uncached(self, user: UserProfile, day: date) -> Core:
        ill = self.illness(user, day)
        weekend_night = day.weekday() in (5, 6)  # the nights before Saturday and Sunday
        temp = 0.09 * self.smooth(user, "temp", day, 3) + 1.05 * ill
        rhr = user.rhr + 1.3 * self.smooth(user, "rhr", day) + 6.5 * ill + (1.8 * weekend_night)
        hrv_factor = 1 + 0.09 * self.smooth(user, "hrv", day) - 0.38 * ill - 0.07 * weekend_night
        tib = (
            user.sleep_need_s
            + 1_800
            + 3_300 * weekend_night
            + 1_500 * self._noise(user, "tib", day.toordinal())
            + 2_700 * ill
        )
        weekday = (1.05, 1.0, 1.1, 0.95, 1.0, 1.2, 0.8)[day.weekday()]
        steps_factor = weekday * (1 - 0.65 * ill) * math.exp(0.18 * self.smooth(user, "steps", day))
        stress = 0.5 + 0.25 * self.smooth(user, "stress", day, 3) + 0.3 * ill
        return Core(
            day=day,
            worn=self.worn(user, day),
            illness=ill,
            temp_dev=temp,
            rhr=rhr,
            hrv=max(12.0, user.hrv * hrv_factor),
            time_in_bed_s=int(min(11.5 * 3600, max(4.5 * 3600, tib))),
            bed_shift_min=50 * weekend_night + 22 * self._noise(user, "bed", day.toordinal()),
            steps_factor=steps_factor,
            stress=stress,
        )

    # -- sleep ------------------------------------------------------------------------------

    def _worn_day_sleep_periods(
        self, user: UserProfile, day: date, core: Core, rng: random.Random
    ) -> tuple[SleepPeriod, ...]:
        """Sleep periods attributed to `day` (the wake-up day), ordered by start."""
        periods: list[SleepPeriod] = []
        start = local(user, day, user.bedtime_min + core.bed_shift_min)
        start = start.replace(second=0, microsecond=0)
        epochs = core.time_in_bed_s // 30
        hypnogram = self._hypnogram(user, day, "long_sleep", epochs, core.illness, nap=False)
        end = start + timedelta(seconds=30 * len(hypnogram))
        periods.append(SleepPeriod("long_sleep", "long_sleep", start, end, hypnogram))
        if rng.random() < 0.05:
            nap_start = local(user, day - timedelta(days=1), rng.uniform(18.7, 19.8) * 60)
            periods.append(self._nap(user, day, "late_nap", "late_nap", nap_start, rng, core))
        if rng.random() < 0.12 + 0.5 * core.illness:
            nap_start = local(user, day, rng.uniform(13.0, 16.0) * 60)
            periods.append(self._nap(user, day, "nap", "sleep", nap_start, rng, core))
        if rng.random() < 0.03:
            nap_start = local(user, day, rng.uniform(10.0, 11.5) * 60)
            periods.append(self._nap(user, day, "rest", "rest", nap_start, rng, core))
        return tuple(sorted(periods, key=lambda p: p.start))

    def _nap(
        self,
        user: UserProfile,
        day: date,
        kind: str,
        sleep_type: str,
        start: datetime,
        rng: random.Random,
        core: Core,
    ) -> SleepPeriod:
        minutes = rng.uniform(18, 35) if kind == "rest" else rng.uniform(20, 60 + 40 * core.illness)
        start = start.replace(second=0, microsecond=0)
        hypnogram = self._hypnogram(user, day, kind, int(minutes * 2), core.illness, nap=True)
        return SleepPeriod(
            kind, sleep_type, start, start + timedelta(seconds=30 * len(hypnogram)), hypnogram
        )

    def _hypnogram(
        self, user: UserProfile, day: date, kind: str, epochs: int, ill: float, *, nap: bool
    ) -> str:
        rng = self.rng(user, "hypnogram", day.toordinal(), kind)
        latency = max(2, int(rng.gauss(10 if nap else 26, 6 if nap else 10) * (1 + 0.6 * ill)))
        parts = ["4" * latency]
        length = latency
        cycle = 0
        while length < epochs:
            cycle_len = max(60, int(rng.gauss(70 if nap else 180, 20)))
            deep = max(0.03, (0.36 - 0.1 * cycle) * (1 - 0.3 * ill))
            rem = min(0.4, 0.1 + 0.08 * cycle) * (0.3 if nap else 1.0)
            light = 1 - deep - rem
            first_light = int(cycle_len * light * 0.45)
            segment = (
                "2" * first_light
                + "1" * int(cycle_len * deep)
                + "2" * (int(cycle_len * light) - first_light)
                + "3" * int(cycle_len * rem)
            )
            if rng.random() < 0.35 + 0.4 * ill:
                segment += "4" * rng.randint(1, 6 + int(10 * ill))
            parts.append(segment)
            length += len(segment)
            cycle += 1
        hypnogram = "".join(parts)[:epochs]
        tail = min(len(hypnogram) // 4, rng.randint(2, 14))
        return hypnogram[: len(hypnogram) - tail] + "4" * tail

    def sleep_documents(self, user: UserProfile, day: date) -> tuple[Timed, ...]:
        return self._sleep_docs(user, day)

    def _sleep_docs_uncached(self, user: UserProfile, day: date) -> tuple[Timed, ...]:
        periods = self.sleep_periods(user, day)
        core = self.core(user, day)
        docs: list[Timed] = []
        for index, period in enumerate(periods):
            docs.append(Timed(period.end, self._sleep_doc(user, day, core, index, period)))
        return tuple(docs)

    def _sleep_doc(
        self, user: UserProfile, day: date, core: Core, index: int, period: SleepPeriod
    ) -> Document:
        rng = self.rng(user, "sleepdoc", day.toordinal(), period.kind)
        hyp = period.hypnogram
        stats = hypnogram_stats(hyp)
        hr_items, hrv_items = self._sleep_series(user, core, period, rng)
        hr_values = [v for v in hr_items if v is not None]
        hrv_values = [v for v in hrv_items if v is not None]
        movement = _movement(hyp, rng)
        phases_5 = five_minute_phases(hyp)
        main = period.kind == "long_sleep"
        rest = period.sleep_type == "rest"
        readiness = self.readiness(user, day) if main else None
        sample_start = iso_ms(period.start)
        return {
            "id": self.doc_id(user, "sleep", day, period.kind),
            "average_breath": None
            if rest
            else round(14.2 + 0.6 * self.smooth(user, "breath", day) + 1.6 * core.illness, 3),
            "average_heart_rate": round(sum(hr_values) / len(hr_values) + 0.4, 3)
            if hr_values
            else None,
            "average_hrv": round(sum(hrv_values) / len(hrv_values)) if hrv_values else None,
            "awake_time": stats["awake"],
            "bedtime_end": iso(period.end),
            "bedtime_start": iso(period.start),
            "day": day.isoformat(),
            "deep_sleep_duration": stats["deep"],
            "efficiency": stats["efficiency"],
            "heart_rate": {"interval": 300.0, "items": hr_items, "timestamp": sample_start},
            "hrv": {"interval": 300.0, "items": hrv_items, "timestamp": sample_start},
            "latency": stats["latency"],
            "light_sleep_duration": stats["light"],
            "low_battery_alert": rng.random() < 0.02,
            "lowest_heart_rate": int(min(hr_values)) if hr_values else None,
            "movement_30_sec": movement,
            "period": index,
            "readiness": readiness,
            "readiness_score_delta": None if rest else rng.randint(-3, 4) if not main else 0,
            "rem_sleep_duration": stats["rem"],
            "restless_periods": _restless_periods(movement),
            "sleep_algorithm_version": "v2",
            "sleep_analysis_reason": "foreground_sleep_analysis",
            "sleep_phase_30_sec": hyp,
            "sleep_phase_5_min": phases_5,
            "sleep_score_delta": None if rest else 0 if main else rng.randint(0, 3),
            "time_in_bed": len(hyp) * 30,
            "total_sleep_duration": stats["total"],
            "type": period.sleep_type,
            "ring_id": self.doc_id(user, "ring_id", None, 0),
            "app_sleep_phase_5_min": phases_5,
        }

    def _sleep_series(
        self, user: UserProfile, core: Core, period: SleepPeriod, rng: random.Random
    ) -> tuple[list[float | None], list[float | None]]:
        """Heart rate and HRV every 300 s: HR falls through the night and rises before waking,
        REM and wake push HR up and HRV down, deep sleep the opposite."""
        count = math.ceil(len(period.hypnogram) / 10)
        hr: list[float | None] = []
        hrv: list[float | None] = []
        for i in range(count):
            frac = i / max(1, count - 1)
            block = period.hypnogram[i * 10 : i * 10 + 10]
            stage = mode_of_run(block)
            stage_hr = _STAGE_HR[stage]
            stage_hrv = _STAGE_HRV[stage]
            curve = core.rhr - 2 + 9 * (1 - frac) ** 3 + 3 * max(0.0, frac - 0.85) / 0.15
            value = curve + stage_hr + rng.gauss(0, 0.9)
            hr.append(None if rng.random() < 0.02 else float(round(value)))
            hrv_value = core.hrv * stage_hrv * (0.85 + 0.3 * math.sin(math.pi * frac))
            hrv_value *= 1 + rng.gauss(0, 0.08)
            hrv.append(None if rng.random() < 0.03 else float(max(5, round(hrv_value))))
        return hr, hrv

    def long_sleep(self, user: UserProfile, day: date) -> SleepPeriod | None:
        for period in self.sleep_periods(user, day):
            if period.kind == "long_sleep":
                return period
        return None

    def sleep_score(self, user: UserProfile, day: date) -> tuple[int | None, Document]:
        period = self.long_sleep(user, day)
        keys = ("deep_sleep", "efficiency", "latency", "rem_sleep", "restfulness", "timing")
        if period is None:
            return None, dict.fromkeys((*keys, "total_sleep"))
        stats = hypnogram_stats(period.hypnogram)
        midpoint = period.start + (period.end - period.start) / 2
        mid_hour = (midpoint - local(user, day)).total_seconds() / 3600
        movement_rng = self.rng(user, "restful", day.toordinal())
        contributors = {
            "deep_sleep": clamp(100 * min(1.0, stats["deep"] / 4_800)),
            "efficiency": clamp(100 - (95 - stats["efficiency"]) * 3.5),
            "latency": clamp(100 - 2.5 * abs(stats["latency"] / 60 - 15)),
            "rem_sleep": clamp(100 * min(1.0, stats["rem"] / 5_700)),
            "restfulness": clamp(
                88 - 40 * self.core(user, day).illness + 6 * movement_rng.gauss(0, 1)
            ),
            "timing": clamp(100 - 18 * max(0.0, abs(mid_hour - 3.0) - 0.5)),
            "total_sleep": clamp(100 * min(1.0, stats["total"] / user.sleep_need_s) ** 2),
        }
        weights = {
            "total_sleep": 0.35,
            "efficiency": 0.1,
            "restfulness": 0.15,
            "rem_sleep": 0.1,
            "deep_sleep": 0.1,
            "latency": 0.1,
            "timing": 0.1,
        }
        score = clamp(sum(contributors[k] * w for k, w in weights.items()))
        return score, contributors

    def readiness(self, user: UserProfile, day: date) -> Document:
        """The readiness object (embedded in the long sleep and, with id/day, daily_readiness)."""
        core = self.core(user, day)
        sleep_score, _ = self.sleep_score(user, day)
        recent = [self.core(user, day - timedelta(days=k)) for k in range(7)]
        balance = sum(c.time_in_bed_s for c in recent) / (7 * (user.sleep_need_s + 1_800))
        yesterday = self.core(user, day - timedelta(days=1))
        trend = sum(c.temp_dev for c in recent[:3]) / 3 - sum(c.temp_dev for c in recent[3:]) / 4
        contributors = {
            "activity_balance": clamp(78 + 10 * self.smooth(user, "actbal", day, 8)),
            "body_temperature": clamp(100 - max(0.0, abs(core.temp_dev) - 0.15) * 95),
            "hrv_balance": clamp(82 + 160 * (core.hrv / user.hrv - 1)),
            "previous_day_activity": clamp(55 + 35 * min(1.2, yesterday.steps_factor)),
            "previous_night": sleep_score if sleep_score is not None else None,
            "recovery_index": clamp(
                84 + 7 * self.smooth(user, "recovery", day) - 45 * core.illness
            ),
            "resting_heart_rate": clamp(92 - 7 * (core.rhr - user.rhr)),
            "sleep_balance": clamp(100 * min(1.0, balance) ** 2),
            "sleep_regularity": clamp(92 - abs(core.bed_shift_min) / 2.5),
        }
        weights = {
            "activity_balance": 0.08,
            "body_temperature": 0.17,
            "hrv_balance": 0.17,
            "previous_day_activity": 0.07,
            "previous_night": 0.15,
            "recovery_index": 0.1,
            "resting_heart_rate": 0.14,
            "sleep_balance": 0.08,
            "sleep_regularity": 0.04,
        }
        total = sum((contributors[k] or 70) * w for k, w in weights.items())
        return {
            "contributors": contributors,
            "score": clamp(total),
            "temperature_deviation": round(core.temp_dev, 2),
            "temperature_trend_deviation": round(trend, 2),
        }

    # -- activity ---------------------------------------------------------------------------

    def _worn_day_workouts(
        self, user: UserProfile, day: date, core: Core, rng: random.Random
    ) -> tuple[Workout, ...]:
        workouts: list[Workout] = []
        if day.weekday() in user.training_days and core.illness < 0.3:
            activity, met = rng.choice(
                (("running", 9.5), ("cycling", 7.5), ("strength_training", 5.5), ("yoga", 2.8))
            )
            hour = rng.uniform(9.0, 11.0) if day.weekday() >= 5 else rng.uniform(17.3, 19.0)
            start = local(user, day, hour * 60).replace(second=0, microsecond=0)
            minutes = rng.uniform(30, 75)
            source = rng.choice(("autodetected", "confirmed", "manual", "workout_heart_rate"))
            label = "Evening session" if rng.random() < 0.1 else None
            end = start + timedelta(minutes=int(minutes))
            workouts.append(Workout("main", activity, start, end, met, source, label))
        if rng.random() < 0.4 * (1 - core.illness):
            start = local(user, day, rng.uniform(11.5, 13.5) * 60).replace(second=0, microsecond=0)
            end = start + timedelta(minutes=int(rng.uniform(20, 40)))
            workouts.append(Workout("walk", "walking", start, end, 3.8, "autodetected", None))
        return tuple(sorted(workouts, key=lambda w: w.start))

    def met_day(self, user: UserProfile, day: date) -> tuple[datetime, tuple[float | None, ...]]:
        """MET per minute for the activity day: 24 h from 04:00 local."""
        return self._met(user, day)

    def _met_uncached(
        self, user: UserProfile, day: date
    ) -> tuple[datetime, tuple[float | None, ...]]:
        rng = self.rng(user, "met", day.toordinal())
        core = self.core(user, day)
        window = local(user, day, 4 * 60)
        sleeping: list[tuple[datetime, datetime]] = [
            (p.start, p.end)
            for d in (day, day + timedelta(days=1))
            for p in self.sleep_periods(user, d)
        ]
        if not self.worn(user, day + timedelta(days=1)):
            # no sleep recorded tonight: assume the usual bedtime for the MET curve
            night = local(user, day + timedelta(days=1), user.bedtime_min)
            sleeping.append((night, night + timedelta(hours=8)))
        off_wrist: tuple[datetime, datetime] | None = None
        if rng.random() < 0.35:
            begin = local(user, day, rng.uniform(12, 20) * 60)
            off_wrist = (begin, begin + timedelta(minutes=rng.uniform(25, 70)))
        bouts: list[tuple[datetime, datetime, float]] = [
            (w.start, w.end, w.met) for w in self.workouts(user, day)
        ]
        walks = max(0, int(7 * core.steps_factor * user.steps / 9_000 + rng.gauss(0, 1)))
        for _ in range(walks):
            begin = local(user, day, rng.uniform(7.5, 21.0) * 60)
            bouts.append(
                (begin, begin + timedelta(minutes=rng.uniform(4, 22)), rng.uniform(3, 4.3))
            )
        # Classify every minute first (integer offsets, no datetime arithmetic in the loop), then
        # draw the random numbers in the same order as a minute-by-minute walk would.
        kinds = bytearray(1_440)  # _AWAKE
        bout_met = [0.0] * 1_440
        for a, b, met in reversed(bouts):  # the first listed bout wins where they overlap
            first, stop = _minute_span(window, a, b)
            kinds[first:stop] = bytes((_BOUT,)) * (stop - first)
            bout_met[first:stop] = [met] * (stop - first)
        for a, b in sleeping:
            first, stop = _minute_span(window, a, b)
            kinds[first:stop] = bytes((_ASLEEP,)) * (stop - first)
        if off_wrist:
            first, stop = _minute_span(window, *off_wrist)
            kinds[first:stop] = bytes((_OFF_WRIST,)) * (stop - first)
        if _INLINE_GAUSS:
            return window, _met_walk(kinds, bout_met, rng)
        items: list[float | None] = []
        append, uniform01, gauss = items.append, rng.random, rng.gauss
        level = 1.3
        for minute, kind in enumerate(kinds):
            if kind == _OFF_WRIST:
                append(None)
            elif kind == _ASLEEP:
                append(round(0.9 + uniform01() * 0.08, 1))
            elif kind == _BOUT:
                append(round(bout_met[minute] * (1 + gauss(0, 0.07)), 1))
            else:
                level = min(2.2, max(1.05, level + gauss(0, 0.06) + (1.3 - level) * 0.05))
                append(round(level, 1))
        return window, tuple(items)

    # -- heart rate -------------------------------------------------------------------------

    def heartrate_day(self, user: UserProfile, day: date) -> HeartrateDay:
        """Rows for one UTC day: every 5 minutes, sleep values taken from the sleep documents'
        300 s series, plus workout rows every 30 s and dense awake bursts."""
        return self._heartrate(user, day)

    def heartrate_rows(self, user: UserProfile, day: date) -> tuple[tuple[datetime, int, str], ...]:
        """(UTC time, bpm, source) for one UTC day (see `heartrate_day`)."""
        hr = self.heartrate_day(user, day)
        start = datetime.combine(day, time(0), UTC)
        return tuple(
            (start + timedelta(seconds=offset), bpm, HEARTRATE_SOURCES[code])
            for offset, bpm, code in zip(hr.offsets, hr.bpm, hr.sources, strict=True)
        )

    def _heartrate_uncached(self, user: UserProfile, day: date) -> HeartrateDay:
        # Times are whole seconds since 00:00 UTC of `day` (every bound involved is a whole
        # minute or 30 s step), so the walk below is integer arithmetic; random numbers are drawn
        # in exactly the order of a walk over datetimes.
        rng = self.rng(user, "heartrate", day.toordinal())
        gauss = rng.gauss
        start = datetime.combine(day, time(0), UTC)
        nearby = [day + timedelta(days=k) for k in (-1, 0, 1, 2)]
        sleeps: list[tuple[int, int, str, list[Any]]] = [
            (
                _seconds(period.start - start),
                _seconds(period.end - start),
                "rest" if period.sleep_type == "rest" else "sleep",
                timed.document["heart_rate"]["items"],
            )
            for d in nearby
            for period, timed in zip(
                self.sleep_periods(user, d), self.sleep_documents(user, d), strict=True
            )
        ]
        workouts = [w for d in nearby for w in self.workouts(user, d)]
        workout_spans = [(_seconds(w.start - start), _seconds(w.end - start)) for w in workouts]
        tz_s = user.tz_offset_min * 60
        ordinal = day.toordinal()
        rows: dict[int, tuple[int, str]] = {}

        worn_days = {
            shift: self.worn(user, date.fromordinal(ordinal + shift)) for shift in (-1, 0, 1)
        }
        # Per activity day (04:00 to 04:00 local, at most two per UTC day): the MET series, its
        # first minute in seconds since `start`, and the resting heart rate; None if not worn.
        activity: dict[int, tuple[tuple[float | None, ...], int, float] | None] = {}

        def activity_of(shift: int) -> tuple[tuple[float | None, ...], int, float] | None:
            if shift not in activity:
                activity_day = date.fromordinal(ordinal + shift)
                if self.worn(user, activity_day):
                    window, items = self.met_day(user, activity_day)
                    rhr = self.core(user, activity_day).rhr
                    activity[shift] = (items, _seconds(window - start), rhr)
                else:
                    activity[shift] = None
            return activity[shift]

        def awake_bpm(offset: int) -> int | None:
            day_activity = activity_of((offset - 4 * 3_600 + tz_s) // 86_400)
            if day_activity is None:
                return None
            items, window_offset, rhr = day_activity
            met = items[min(1_439, (offset - window_offset) // 60)]
            if met is None:
                return None
            return round(rhr + 14 + 11 * (met - 1.2) + gauss(0, 3))

        # What each 5-minute slot is, decided in bulk with the walk's precedence: not worn, then
        # the first sleep period containing it, then a workout (rows come later), else awake.
        slot_sleep: list[int] = [_NO_SLEEP] * 288
        for index in reversed(range(len(sleeps))):
            first, stop = _slot_span(sleeps[index][0], sleeps[index][1])
            slot_sleep[first:stop] = [index] * (stop - first)
        in_workout = bytearray(288)
        for a, b in workout_spans:
            first, stop = _slot_span(a, b)
            in_workout[first:stop] = b"\x01" * (stop - first)
        for slot in range(288):
            offset = 300 * slot
            if not worn_days[(offset + tz_s) // 86_400]:
                continue
            index = slot_sleep[slot]
            if index != _NO_SLEEP:
                sleep_start, _, source, items = sleeps[index]
                item = (offset - sleep_start) // 300
                value = items[item] if item < len(items) else None
                if value is not None:
                    rows[offset] = (int(value), source)
                continue
            if in_workout[slot]:
                continue
            bpm = awake_bpm(offset)
            if bpm is not None:
                rows[offset] = (bpm, "awake")
        for workout, (w_start, w_end) in zip(workouts, workout_spans, strict=True):
            offset = max(0, w_start)
            core = self.core(user, workout.start.date())
            peak = core.rhr + 35 + 9 * workout.met
            while offset < min(86_400, w_end):
                progress = (offset - w_start) / 600
                workout_bpm = core.rhr + (peak - core.rhr) * min(1.0, progress) + gauss(0, 3)
                rows[offset] = (round(workout_bpm), "workout")
                offset += 30
        for _ in range(rng.randint(3, 6)):
            burst_start = rng.randrange(0, 86_400 - 300, 5)
            base = awake_bpm(burst_start)
            if base is None or any(s[0] <= burst_start < s[1] for s in sleeps):
                continue
            bpm_now = float(base)
            for step in range(rng.randint(12, 36)):
                bpm_now += gauss(0, 1.5)
                rows.setdefault(burst_start + _DENSE_BURST_STEP_S * step, (round(bpm_now), "awake"))
        ordered = sorted(rows)
        return HeartrateDay(
            day,
            array("l", ordered),
            array("h", (rows[o][0] for o in ordered)),
            bytes(_SOURCE_CODE[rows[o][1]] for o in ordered),
        )


# -- helpers shared with the document builders ------------------------------------------------

_AWAKE, _BOUT, _ASLEEP, _OFF_WRIST = 0, 1, 2, 3
_NO_SLEEP = -1
_TWO_PI = 2.0 * math.pi
_MICROSECOND = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
_MINUTE_US = 60_000_000


def _met_walk(
    kinds: bytearray, bout_met: list[float], rng: random.Random
) -> tuple[float | None, ...]:
    """The minute-by-minute MET walk of `_met_uncached` with `rng.gauss` inlined (the walk is
    the simulator's hottest loop). Same draws, same arithmetic, same values: `_INLINE_GAUSS` is
    only set when this interpreter's `Random.gauss` is the algorithm copied here."""
    draw = rng.random
    spare: float | None = rng.gauss_next  # type: ignore[attr-defined]
    items: list[float | None] = []
    append = items.append
    level = 1.3
    for minute, kind in enumerate(kinds):
        if kind == _ASLEEP:
            append(round(0.9 + draw() * 0.08, 1))
            continue
        if kind == _OFF_WRIST:
            append(None)
            continue
        z, spare = spare, None
        if z is None:
            x2pi = draw() * _TWO_PI
            g2rad = math.sqrt(-2.0 * math.log(1.0 - draw()))
            z = math.cos(x2pi) * g2rad
            spare = math.sin(x2pi) * g2rad
        if kind == _BOUT:
            append(round(bout_met[minute] * (1 + (0 + z * 0.07)), 1))
        else:
            level = level + (0 + z * 0.06) + (1.3 - level) * 0.05
            if level < 1.05:  # min(2.2, max(1.05, level)) without two calls
                level = 1.05
            elif level > 2.2:
                level = 2.2
            append(round(level, 1))
    rng.gauss_next = spare  # type: ignore[attr-defined]
    return tuple(items)


def _inline_gauss_matches() -> bool:
    """Does `Random.gauss` here draw exactly as the copy in `_met_walk` (CPython 3.11-3.13)?"""
    kinds = bytearray((_AWAKE, _BOUT, _ASLEEP, _AWAKE, _OFF_WRIST, _AWAKE, _BOUT) * 40)
    bout_met = [3.8] * len(kinds)
    reference = random.Random("met-walk-probe")
    expected: list[float | None] = []
    level = 1.3
    for minute, kind in enumerate(kinds):
        if kind == _ASLEEP:
            expected.append(round(0.9 + reference.random() * 0.08, 1))
        elif kind == _OFF_WRIST:
            expected.append(None)
        elif kind == _BOUT:
            expected.append(round(bout_met[minute] * (1 + reference.gauss(0, 0.07)), 1))
        else:
            level = min(2.2, max(1.05, level + reference.gauss(0, 0.06) + (1.3 - level) * 0.05))
            expected.append(round(level, 1))
    fast = random.Random("met-walk-probe")
    try:
        got = _met_walk(kinds, bout_met, fast)
    except AttributeError:
        return False
    return got == tuple(expected) and fast.random() == reference.random()


def _seconds(delta: timedelta) -> int:
    return delta // _SECOND


def _slot_span(start: int, end: int) -> tuple[int, int]:
    """The 5-minute slots k in [0, 288) with start <= 300 k < end (seconds), as a slice."""
    return min(288, max(0, -(-start // 300))), min(288, max(0, -(-end // 300)))


def _minute_span(window: datetime, start: datetime, end: datetime) -> tuple[int, int]:
    """The minutes m in [0, 1440) with start <= window + m minutes < end, as a slice."""
    low = -(-((start - window) // _MICROSECOND) // _MINUTE_US)
    high = -(-((end - window) // _MICROSECOND) // _MINUTE_US)
    return min(1_440, max(0, low)), min(1_440, max(0, high))


def hypnogram_stats(hypnogram: str) -> dict[str, int]:
    counts = Counter(hypnogram)
    in_bed = len(hypnogram) * 30
    total = (counts["1"] + counts["2"] + counts["3"]) * 30
    latency = (len(hypnogram) - len(hypnogram.lstrip("4"))) * 30
    return {
        "deep": counts["1"] * 30,
        "light": counts["2"] * 30,
        "rem": counts["3"] * 30,
        "awake": counts["4"] * 30,
        "total": total,
        "latency": latency,
        "efficiency": clamp(100 * total / in_bed) if in_bed else 1,
    }


def five_minute_phases(hypnogram: str) -> str:
    return "".join(mode_of_run(hypnogram[i : i + 10]) for i in range(0, len(hypnogram), 10))


@lru_cache(maxsize=65_536)
def mode_of_run(values: str) -> str:
    """`mode` of a short string (5-minute blocks of stage or activity codes repeat a lot)."""
    return mode(values)


def mode(values: Sequence[str]) -> str:
    """The most frequent value, ties to the one seen first: `Counter(values).most_common(1)`'s
    answer, several times faster on these short runs."""
    best, best_count = "", 0
    for value in dict.fromkeys(values):
        count = values.count(value)
        if count > best_count:
            best, best_count = value, count
    return best


def _movement(hypnogram: str, rng: random.Random) -> str:
    """Movement per 30 s epoch: one random draw per epoch, whatever the stage."""
    draw = rng.random
    out: list[str] = []
    append = out.append
    for stage in hypnogram:
        roll = draw()
        if stage == "4":
            append("4" if roll < 0.4 else "3" if roll < 0.8 else "2")
        elif stage == "1":
            append("1")
        else:
            append("2" if roll < (0.12 if stage == "2" else 0.06) else "1")
    return "".join(out)


def _restless_periods(movement: str) -> int:
    runs = 0
    previous = "1"
    for ch in movement:
        if ch >= "3" and previous < "3":
            runs += 1
        previous = ch
    return runs


def activity_class(met: float | None) -> str:
    """Oura's class_5_min code for a MET value: 0 non-wear ... 5 high (sleep MET is < 1.05)."""
    if met is None:
        return "0"
    if met < 1.05:
        return "1"
    if met < 2.0:
        return "2"
    if met < 4.5:
        return "3"
    if met < 7.0:
        return "4"
    return "5"


def days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


_INLINE_GAUSS = _inline_gauss_matches()
