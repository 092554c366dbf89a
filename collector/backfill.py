"""History from any date, gap by gap: only days not yet in a cursor's `covered` multirange are
fetched, in chunks that each advance `covered` after the broker acknowledged them, so an
interrupted backfill resumes where it stopped and a finished one re-run fetches nothing."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from datetime import date
from typing import TextIO
from uuid import UUID

from collector.collect import (
    Collector,
    RunReport,
    UserTokens,
    WindowOutcome,
    granted_types,
    utc_today,
)
from collector.oura import split_range
from schemas.data_types import DataType, QueryKind
from schemas.tables import collection_cursors as cursors

log = logging.getLogger("collector.backfill")


@dataclass(frozen=True, slots=True)
class Chunk:
    user_id: UUID
    data_type: DataType
    first_day: date
    last_day: date


class Progress:
    """A progress bar on a terminal; periodic log lines otherwise (CronJob/CI logs)."""

    def __init__(self, total: int, stream: TextIO | None = None, every_s: float = 5.0) -> None:
        self.total = total
        self.done = 0
        self.documents = 0
        self.failed = 0
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._every_s = every_s
        self._last = 0.0
        self._started = time.monotonic()

    def advance(self, outcome: WindowOutcome) -> None:
        self.done += 1
        self.documents += outcome.documents
        self.failed += 0 if outcome.ok else 1
        self._show(final=self.done == self.total)

    def _show(self, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < (0.1 if self._tty else self._every_s):
            return
        self._last = now
        elapsed = now - self._started
        if self._tty:
            width = 30
            filled = int(width * self.done / self.total) if self.total else width
            bar = "#" * filled + "." * (width - filled)
            self._stream.write(
                f"\r[{bar}] {self.done}/{self.total} windows  {self.documents} documents  "
                f"{self.failed} failed  {elapsed:.0f}s"
            )
            if final:
                self._stream.write("\n")
            self._stream.flush()
        else:
            log.info(
                "backfill progress",
                extra={
                    "windows_done": self.done,
                    "windows_total": self.total,
                    "documents": self.documents,
                    "failed": self.failed,
                    "elapsed_s": round(elapsed, 1),
                },
            )


def _chunk_days(collector: Collector, data_type: DataType) -> int:
    if data_type.query is QueryKind.DATETIME:
        return collector.settings.heartrate_window_days
    return collector.settings.backfill_chunk_days


async def plan(
    collector: Collector,
    users: list[tuple[UUID, list[str]]],
    since: date,
    today: date,
    only: list[DataType] | None,
) -> list[Chunk]:
    """Every chunk still missing from the users' covered ranges."""
    chunks: list[Chunk] = []
    for user_id, scopes in users:
        types = {t.name: t for t in granted_types(scopes, only)}
        gaps = await cursors.uncovered(collector.pool, user_id, list(types), since, today)
        for name, ranges in gaps.items():
            data_type = types[name]
            if data_type.query in (QueryKind.NONE, QueryKind.SINGLE):
                # No date filter: one request fetches everything; covered records that it did.
                if ranges:
                    chunks.append(Chunk(user_id, data_type, since, today))
                continue
            for first, last in ranges:
                for a, b in split_range(first, last, _chunk_days(collector, data_type)):
                    chunks.append(Chunk(user_id, data_type, a, b))
    return chunks


async def run_backfill(
    collector: Collector,
    users: list[tuple[UUID, list[str]]],
    since: date,
    *,
    today: date | None = None,
    only: list[DataType] | None = None,
    progress_stream: TextIO | None = None,
) -> RunReport:
    started = time.monotonic()
    requests_before = collector.client.requests_sent
    today = today or utc_today()
    report = RunReport(users=len(users))
    chunks = await plan(collector, users, since, today, only)
    progress = Progress(len(chunks), progress_stream)
    log.info("backfill planned", extra={"users": len(users), "windows": len(chunks)})

    tokens: dict[UUID, UserTokens] = {u: collector.tokens_for(u) for u, _ in users}
    stopped_users: set[UUID] = set()
    stopped_types: set[tuple[UUID, str]] = set()
    # Small windows fetched concurrently beat long next_token chains: pages of one query are
    # sequential, windows are not. The client bounds requests in flight and the rate budget.
    bound = asyncio.Semaphore(collector.settings.request_concurrency)

    async def one(chunk: Chunk) -> None:
        key = (chunk.user_id, chunk.data_type.name)
        async with bound:
            if chunk.user_id in stopped_users or key in stopped_types:
                return
            outcome = await collector.collect_window(
                chunk.user_id,
                tokens[chunk.user_id],
                chunk.data_type,
                chunk.first_day,
                chunk.last_day,
            )
        report.add(outcome)
        progress.advance(outcome)
        if outcome.needs_reauth:
            stopped_users.add(chunk.user_id)
        elif outcome.not_granted:
            stopped_types.add(key)

    # Newest history first: the most useful days arrive first if the run is cut short.
    ordered = sorted(chunks, key=lambda c: c.last_day, reverse=True)
    await asyncio.gather(*(one(c) for c in ordered))
    skipped = len(chunks) - progress.done
    if skipped:
        log.info("windows skipped after their user or type failed", extra={"skipped": skipped})
    report.requests = collector.client.requests_sent - requests_before
    report.seconds = time.monotonic() - started
    return report
