"""`Simulator`: the in-process state behind the HTTP app and the Python API tests drive.

Everything here is safe to call from the test thread while the server runs in another thread:
mutable state sits behind locks and handlers never hold a lock across an await."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from oura_simulator import builders
from oura_simulator.clock import Clock
from oura_simulator.config import SimulatorConfig
from oura_simulator.data import Document, Generator, UserProfile, days, make_profile
from oura_simulator.deliveries import Dispatcher
from oura_simulator.faults import Faults, SlidingWindow
from oura_simulator.quirks import DataQuirks
from oura_simulator.store import DocumentStore
from oura_simulator.subscriptions import Subscriptions
from oura_simulator.syncs import DEFAULT_SYNC_TYPES, NEW_DOCUMENT, SYNC_TYPES, Edits, day_of
from oura_simulator.tokens import Grant, OAuthFailure, TokenStore
from schemas.data_types import ALL_SCOPES, QueryKind, get

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SimUser:
    profile: UserProfile
    consent_scopes: frozenset[str]
    revision: int = 0


def demo_logins(count: int) -> list[str]:
    return ["demo", *(f"demo{i}" for i in range(2, count + 1))]


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.clock = Clock(self.config.now, self.config.today)
        self.generator = Generator(self.config.seed)
        self.data_quirks = DataQuirks(self.config.data_quirks)
        self.edits = Edits()
        self.store = DocumentStore(self.generator, self.data_quirks, self.edits)
        self.subscriptions = Subscriptions(self.config.webhook_subscription_ttl_s)
        self.webhooks = Dispatcher(self.config, self.subscriptions, self.client_secret, self.clock)
        self.faults = Faults()
        self.tokens = TokenStore(self.config.access_token_ttl_s, self.config.code_ttl_s)
        self.app_budget = SlidingWindow(
            self.config.rate_limit_requests, self.config.rate_limit_window_s
        )
        self.token_budget = (
            SlidingWindow(self.config.token_rate_limit_requests, self.config.rate_limit_window_s)
            if self.config.token_rate_limit_requests
            else None
        )
        self._lock = threading.RLock()
        self._users: dict[str, SimUser] = {}
        self._started = self.clock.timestamp()
        self._data_requests: Counter[str] = Counter()
        self._data_requests_by_user: dict[str, Counter[str]] = {}
        self._responses: Counter[str] = Counter()
        for login in demo_logins(max(0, self.config.users)):
            self.add_user(login)
        self._apply_initial_faults()
        if self.config.sync_every_s:
            types = self.config.sync_types
            self.webhooks.every(self.config.sync_every_s, lambda: self.sync(None, types))

    def close(self) -> None:
        """Stop background work: webhook deliveries and the periodic sync."""
        self.webhooks.close()

    def _apply_initial_faults(self) -> None:
        config = self.config
        if config.latency_s:
            self.faults.latency(config.latency_s)
        if config.rate_limit_burst:
            self.faults.rate_limit_burst(config.rate_limit_burst)
        if config.server_error_burst:
            self.faults.server_error_burst(config.server_error_burst)
        if config.malformed_pages:
            self.faults.malformed_pages(config.malformed_pages)

    # -- users ------------------------------------------------------------------------------

    def add_user(
        self,
        login: str,
        *,
        scopes: Iterable[str] | None = None,
        data_since: date | None = None,
        tz_offset_min: int | None = None,
        email: str | None = None,
    ) -> UserProfile:
        """Create a simulated Oura account (ValueError if the login exists)."""
        if not login or "/" in login:
            raise ValueError("login must be a non-empty string without '/'")
        since = data_since or self.clock.today() - timedelta(days=self.config.history_days)
        overrides: dict[str, Any] = {}
        if tz_offset_min is not None:
            overrides["tz_offset_min"] = tz_offset_min
        if email is not None:
            overrides["email"] = email
        profile = make_profile(self.config.seed, login, since, **overrides)
        consent = frozenset(scopes) if scopes is not None else frozenset(self.config.default_scopes)
        _check_scopes(consent)
        with self._lock:
            if login in self._users:
                raise ValueError(f"user {login!r} already exists")
            self._users[login] = SimUser(profile, consent)
        return profile

    def user(self, login: str) -> UserProfile:
        return self._sim_user(login).profile

    def users(self) -> list[UserProfile]:
        with self._lock:
            return [u.profile for u in self._users.values()]

    def has_user(self, login: str) -> bool:
        with self._lock:
            return login in self._users

    def _sim_user(self, login: str) -> SimUser:
        with self._lock:
            try:
                return self._users[login]
            except KeyError:
                raise KeyError(f"unknown simulated user {login!r}") from None

    def set_scopes(self, login: str, scopes: Iterable[str]) -> None:
        """What the user approves from now on; also narrows tokens already issued."""
        consent = frozenset(scopes)
        _check_scopes(consent)
        with self._lock:
            self._sim_user(login).consent_scopes = consent

    def consent_scopes(self, login: str) -> frozenset[str]:
        return self._sim_user(login).consent_scopes

    def effective_scopes(self, grant: Grant) -> frozenset[str]:
        return grant.scopes & self.consent_scopes(grant.login)

    def revoke_user(self, login: str) -> int:
        """Revoke every token of the user: data → 401, refresh → invalid_grant. Returns the
        number of grants revoked; a new authorization afterwards works again."""
        self._sim_user(login)
        return self.tokens.revoke_user(login)

    def expire_tokens(self, login: str) -> int:
        """Make the user's current access tokens expired (refresh tokens stay valid)."""
        self._sim_user(login)
        return self.tokens.expire_user(login)

    def bump_revision(self, login: str | None = None, by: int = 1) -> None:
        """Re-process the last two days: same ids, different content on the next fetch."""
        with self._lock:
            targets = [self._sim_user(login)] if login else list(self._users.values())
            for user in targets:
                user.revision += by

    def revision(self, login: str) -> int:
        manual = self._sim_user(login).revision
        every = self.config.revision_every_s
        if not every:
            return manual
        return manual + int(max(0.0, self.clock.timestamp() - self._started) // every)

    # -- OAuth ------------------------------------------------------------------------------

    def authorize(
        self,
        login: str,
        client_id: str,
        redirect_uri: str | None,
        requested: Iterable[str],
        code_challenge: str | None = None,
    ) -> tuple[str, frozenset[str]]:
        """The consent screen: returns a code and the scopes actually granted."""
        granted = frozenset(requested) & self.consent_scopes(login)
        code = self.tokens.new_code(
            login, client_id, redirect_uri, granted, self.clock.timestamp(), code_challenge
        )
        return code, granted

    def issue_tokens(self, login: str, scopes: Iterable[str] | None = None) -> dict[str, Any]:
        """A token response as if `login` had just completed the code flow (test shortcut)."""
        wanted = frozenset(scopes) if scopes is not None else frozenset(ALL_SCOPES)
        granted = wanted & self.consent_scopes(login)
        access, refresh, grant = self.tokens.issue_direct(
            login, self.config.client_id, granted, self.clock.timestamp()
        )
        return self.token_response(access, refresh, grant)

    def token_response(self, access: str, refresh: str, grant: Grant) -> dict[str, Any]:
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.config.access_token_ttl_s,
            "refresh_token": refresh,
            "scope": " ".join(s for s in ALL_SCOPES if s in self.effective_scopes(grant)),
        }

    def check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.config.client_id or client_secret != self.config.client_secret:
            raise OAuthFailure(401, "invalid_client", "Client authentication failed.")

    def client_secret(self, client_id: str) -> str:
        """The secret webhooks to `client_id` are signed with (KeyError for unknown clients)."""
        if client_id != self.config.client_id:
            raise KeyError(client_id)
        return self.config.client_secret

    def authenticate(self, token: str | None) -> tuple[Grant | None, str]:
        if not token:
            return None, "missing"
        return self.tokens.authenticate(token, self.clock.timestamp())

    # -- data -------------------------------------------------------------------------------

    def documents(
        self, login: str, type_name: str, start: date | None = None, end: date | None = None
    ) -> list[Document]:
        """Exactly what the API serves for `type_name` (platform name) with the documented
        default filter: documents whose day lies in [start, end]. For heartrate the bounds are
        UTC days; personal_info gives one object, ring_configuration all rings."""
        user = self.user(login)
        data_type = get(type_name)
        now = self.clock.now()
        today = self.store.local_today(user, now)
        start = start or today - timedelta(days=1)
        end = end or today
        if data_type.query is QueryKind.DATETIME:
            return self.heartrate(login, _midnight(start), _midnight(end + timedelta(days=1)))
        if data_type.query is QueryKind.NONE:
            return builders.ring_configurations(self.generator, user, now)
        if data_type.query is QueryKind.SINGLE:
            return [builders.personal_info(user, self.consent_scopes(login))]
        return self.store.for_days(user, data_type.name, start, end, now, self.revision(login))

    def heartrate(self, login: str, start: datetime, end: datetime) -> list[Document]:
        return self.store.heartrate(self.user(login), start, end, self.clock.now())

    def truth(self, login: str, start: date, end: date) -> list[dict[str, Any]]:
        """Ground truth per day, for tests of trend detection: worn, illness level, episode."""
        user = self.user(login)
        episodes = self.generator.illness_episodes(user, start, end)
        out = []
        for day in days(start, end):
            core = self.generator.core(user, day)
            episode = next(((a, b) for a, b in episodes if a <= day <= b), None)
            out.append(
                {
                    "day": day.isoformat(),
                    "worn": core.worn,
                    "illness": core.illness,
                    "episode_start": episode[0].isoformat() if episode else None,
                    "temperature_deviation": round(core.temp_dev, 2),
                    "resting_heart_rate": round(core.rhr, 1),
                    "hrv": round(core.hrv, 1),
                }
            )
        return out

    # -- syncs and webhooks ------------------------------------------------------------------

    def sync(
        self, logins: Iterable[str] | None = None, data_types: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Each user's ring syncs now: a new document of each created type (session, workout,
        enhanced_tag) and the latest day of each re-processed type revised. Returns the changes
        (one webhook event each) after queueing their deliveries."""
        types = tuple(data_types) if data_types is not None else DEFAULT_SYNC_TYPES
        unknown = [t for t in types if t not in SYNC_TYPES]
        if unknown:
            raise ValueError(f"a sync cannot change {unknown}; it changes {list(SYNC_TYPES)}")
        targets = list(logins) if logins is not None else [u.login for u in self.users()]
        for login in targets:
            self._sim_user(login)
        now = self.clock.now()
        changes: list[dict[str, Any]] = []
        for login in targets:
            user = self.user(login)
            number = self.edits.next_sync(login)
            for type_name in types:
                if type_name in NEW_DOCUMENT:
                    document = NEW_DOCUMENT[type_name](self.generator, user, now, number)
                    self.edits.add(login, type_name, day_of(type_name, document), document)
                    changes.append(self._announce(user, "create", type_name, document["id"], now))
                else:
                    for object_id in self._revise_latest(user, type_name, now):
                        changes.append(self._announce(user, "update", type_name, object_id, now))
        return changes

    def _revise_latest(self, user: UserProfile, type_name: str, now: datetime) -> list[str]:
        """Re-process the latest of today and yesterday that has documents; their ids."""
        today = self.store.local_today(user, now)
        for day in (today, today - timedelta(days=1)):
            revision = self.revision(user.login)
            ids = [
                d["id"]
                for d in self.store.for_day(user, type_name, day, now, revision)
                if d.get("id")
            ]
            if ids:
                self.edits.revise(user.login, type_name, day)
                return ids
        return []

    def delete_document(self, login: str, type_name: str, document_id: str) -> dict[str, Any]:
        """The user deletes a document (a tag, a workout, ...): gone from every route, and a
        `delete` event. LookupError when no such document is served."""
        user = self.user(login)
        data_type = get(type_name)
        if data_type.query is not QueryKind.DATE or not data_type.has_id:
            raise LookupError(f"{type_name} documents cannot be deleted")
        now = self.clock.now()
        day = self.generator.day_of_id(user, document_id)
        if (
            day is None
            or self.store.find(user, type_name, document_id, now, self.revision(login)) is None
        ):
            raise LookupError(f"{login} has no {type_name} document {document_id}")
        self.edits.delete(login, type_name, day, document_id)
        return self._announce(user, "delete", type_name, document_id, now)

    def _announce(
        self, user: UserProfile, event_type: str, type_name: str, object_id: str, now: datetime
    ) -> dict[str, Any]:
        """Queue the webhook event of one change to every active matching subscription whose
        app the user has connected with the type's scope; the change as the admin API tells it."""
        event = {
            "event_type": event_type,
            "data_type": type_name,
            "object_id": object_id,
            "event_time": now.isoformat(timespec="seconds"),
            "user_id": user.user_id,
        }
        scope = get(type_name).scope
        consent = self.consent_scopes(user.login)
        targets = [
            s
            for s in self.subscriptions.matching(event_type, type_name, now)
            if scope in self.tokens.granted_scopes(user.login, s.client_id) & consent
        ]
        queued = self.webhooks.submit(user.login, event, targets) if targets else 0
        return {"user": user.login, **event, "deliveries": queued}

    # -- bookkeeping ------------------------------------------------------------------------

    def count_data_request(self, login: str | None, type_name: str, status: int) -> None:
        with self._lock:
            self._data_requests[type_name] += 1
            self._responses[str(status)] += 1
            if login is not None:
                self._data_requests_by_user.setdefault(login, Counter())[type_name] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            data = {
                "data_requests": dict(self._data_requests),
                "data_requests_by_user": {
                    u: dict(c) for u, c in self._data_requests_by_user.items()
                },
                "data_responses_by_status": dict(self._responses),
            }
        return {**self.tokens.stats.snapshot(), **data}

    def reset_stats(self) -> None:
        with self._lock:
            self._data_requests.clear()
            self._data_requests_by_user.clear()
            self._responses.clear()
            self.tokens.stats.by_grant.clear()
            self.tokens.stats.by_user.clear()
            self.tokens.stats.issued.clear()
            self.tokens.stats.failures.clear()

    def user_json(self, login: str) -> dict[str, Any]:
        sim_user = self._sim_user(login)
        profile = asdict(sim_user.profile)
        profile["data_since"] = sim_user.profile.data_since.isoformat()
        profile["training_days"] = list(sim_user.profile.training_days)
        profile["consent_scopes"] = sorted(sim_user.consent_scopes)
        profile["revision"] = self.revision(login)
        return profile


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def _check_scopes(scopes: frozenset[str]) -> None:
    unknown = scopes - set(ALL_SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}; known: {list(ALL_SCOPES)}")
