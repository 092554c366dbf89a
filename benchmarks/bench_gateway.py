"""Gateway benchmark: 1,000 users x 3 years of daily data, the gateway under uvicorn, and a load
generator on loopback.

Measures, in one run:
- `health_rps`: GET /health at saturation (wrk, 32 connections) — the framework's ceiling;
- `dashboard_rps`, `sleep30_rps`: GET /api/dashboard and GET /api/sleep (30 days) at saturation,
  rotating over every user's token;
- `dashboard_p50_ms`/`p99_ms`, `sleep30_p50_ms`/`p99_ms`: latency at a steady 300 requests/s
  (open loop: latency counts from each request's scheduled time, so queueing is not hidden).
Goals: dashboard_rps ≥ 0.5 x health_rps, dashboard_p99_ms ≤ 20.

Data: daily_sleep, daily_readiness and daily_activity (1,095 days per user, generated inside
PostgreSQL in one INSERT ... SELECT per table — faster than any client-side COPY; the users are
COPYed), plus trends and collection cursors. daily_activity documents leave out their 5-minute
MET/class series (8 KB each, irrelevant to these routes) to keep the load under a minute. The
database is kept between runs and reloaded only when its shape changes.

Usage: python benchmarks/bench_gateway.py [--workers 1|2] [--duration 10] [--reload]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _shared import merge_results  # noqa: E402
from alembic import command  # noqa: E402

from gateway.security.access_tokens import create_access_token  # noqa: E402
from gateway.security.passwords import Passwords  # noqa: E402
from migrations import alembic_config  # noqa: E402
from schemas.examples import example_document  # noqa: E402
from schemas.settings import DatabaseSettings  # noqa: E402

BENCH_DB = "myhealth_bench_gateway"
USERS = 1000
DAYS = 1095
SHAPE = f"users={USERS};days={DAYS};v1"
STEADY_RPS = 300
CONNECTIONS = 32


def log(message: str) -> None:
    print(f"[bench_gateway] {message}", flush=True)


# --- data ---------------------------------------------------------------------------------------


def _template(data_type: str) -> str:
    doc = example_document(data_type, day=date(2026, 1, 1), seed=7)
    for key in ("met", "class_5_min"):
        doc.pop(key, None)
    return json.dumps(doc)


def _generate_sql(table: str, typed: str, values: str, overrides: str) -> str:
    return f"""
INSERT INTO {table} (user_id, id, day, {typed}, document, content_hash, fetched_at)
SELECT u.id, g.doc_id, g.day, {values},
       g.doc, sha256(convert_to(g.doc::text, 'UTF8')), now()
FROM users u
CROSS JOIN LATERAL (
    SELECT d::date AS day,
           md5(u.id::text || '{table}' || d::text) AS doc_id,
           50 + abs(hashtext(u.id::text || '{table}' || d::text)) % 50 AS s
    FROM generate_series($1::date, $2::date, interval '1 day') d
) v
CROSS JOIN LATERAL (
    SELECT v.day, v.doc_id, v.s,
           $3::jsonb || jsonb_build_object('id', v.doc_id, 'day', v.day,
                                           {overrides.replace("g.", "v.")}) AS doc
) g
"""


async def load(db: DatabaseSettings, reload: bool) -> float:
    admin = await asyncpg.connect(**db.asyncpg_kwargs())
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", BENCH_DB)
    finally:
        await admin.close()
    bench = db.model_copy(update={"name": BENCH_DB})
    if exists and not reload:
        conn = await asyncpg.connect(**bench.asyncpg_kwargs())
        try:
            shape = (
                await conn.fetchval("SELECT shape FROM bench_shape LIMIT 1")
                if await conn.fetchval("SELECT to_regclass('bench_shape')")
                else None
            )
        finally:
            await conn.close()
        if shape == SHAPE:
            log("reusing the loaded benchmark database")
            return 0.0
    started = time.monotonic()
    admin = await asyncpg.connect(**db.asyncpg_kwargs())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
    finally:
        await admin.close()
    url = bench.dsn().replace("postgresql://", "postgresql+psycopg://", 1)
    command.upgrade(alembic_config(url), "head")

    password_hash = await Passwords(12).hash("benchmark password 1")
    conn = await asyncpg.connect(**bench.asyncpg_kwargs())
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.copy_records_to_table(
            "users",
            records=[
                (uuid.UUID(int=i + 1), f"bench{i}@example.com", f"bench{i}", password_hash)
                for i in range(USERS)
            ],
            columns=["id", "email", "username", "password_hash"],
        )
    finally:
        await conn.close()

    end = datetime.now(UTC).date()
    start = end - timedelta(days=DAYS - 1)
    statements = [
        (
            "daily_sleep",
            "score",
            "g.s",
            "'score', g.s, 'timestamp', g.day::text || 'T00:00:00+00:00'",
        ),
        (
            "daily_readiness",
            "score, temperature_deviation",
            "g.s, (g.s - 75) / 50.0",
            "'score', g.s, 'temperature_deviation', (g.s - 75) / 50.0",
        ),
        (
            "daily_activity",
            "score, steps, active_calories",
            "g.s, g.s * 120, g.s * 5",
            "'score', g.s, 'steps', g.s * 120, 'active_calories', g.s * 5",
        ),
    ]

    async def fill(table: str, typed: str, values: str, overrides: str) -> None:
        c = await asyncpg.connect(**bench.asyncpg_kwargs())
        try:
            await c.execute("SET synchronous_commit = off")
            t0 = time.monotonic()
            await c.execute(
                _generate_sql(table, typed, values, overrides), start, end, _template(table)
            )
            log(f"{table}: {USERS * DAYS:,} rows in {time.monotonic() - t0:.0f}s")
        finally:
            await c.close()

    await asyncio.gather(*(fill(*s) for s in statements))
    conn = await asyncpg.connect(**bench.asyncpg_kwargs())
    try:
        await conn.execute(
            """
INSERT INTO daily_trends (user_id, metric, day, value, mean_7d, mean_28d, baseline,
                          baseline_spread, deviation, direction, flag)
SELECT u.id, m, d::date, 70, 70, 70, 70, 5, CASE WHEN d::date = $1 - 1 THEN 2.5 ELSE 0.1 END,
       'flat', d::date = $1 - 1 AND m = 'readiness_score'
FROM users u, unnest(ARRAY['sleep_score', 'readiness_score', 'activity_score']) m,
     generate_series($1 - 89, $1, interval '1 day') d;
INSERT INTO collection_cursors (user_id, data_type, cursor_day, status, last_success_at)
SELECT u.id, t, $1, 'ok', now() FROM users u,
     unnest(ARRAY['daily_sleep', 'daily_readiness', 'daily_activity', 'heartrate']) t;
CREATE TABLE bench_shape (shape text);
""".replace("$1", f"'{end.isoformat()}'::date"),
        )
        await conn.execute("INSERT INTO bench_shape VALUES ($1)", SHAPE)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    elapsed = time.monotonic() - started
    log(f"loaded in {elapsed:.0f}s")
    return elapsed


# --- gateway ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gateway(
    db: DatabaseSettings, secret: str, workers: int, port: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "JWT_SECRET": secret,
        "DB_NAME": BENCH_DB,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        # Metrics have their own port; 0 serves none, so runs never clash over it.
        "GATEWAY_METRICS_PORT": "0",
        "GATEWAY_WORKERS": str(workers),
        "GATEWAY_DB_POOL_MAX": "10",
    }
    process = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: b\r\n\r\n")
                if b"200 OK" in s.recv(1024):
                    return process
        except OSError:
            time.sleep(0.2)
        if process.poll() is not None:
            raise RuntimeError("gateway exited during startup")
    process.kill()
    raise RuntimeError("gateway did not start")


# --- load: wrk at saturation ---------------------------------------------------------------------

WRK_SCRIPT = """
local tokens = {}
local i = 0
local path = "%(path)s"
init = function(args)
  for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
  i = math.random(#tokens)
end
request = function()
  i = i %% #tokens + 1
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. tokens[i]})
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, " ..
    "\\"p50_us\\": %%d, " ..
    "\\"p99_us\\": %%d, \\"errors\\": %%d, \\"non2xx\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def wrk(url: str, path: str, tokens_file: Path, duration: int, workdir: Path) -> dict[str, float]:
    script = workdir / f"wrk{abs(hash(path))}.lua"
    script.write_text(WRK_SCRIPT % {"path": path, "tokens": tokens_file})
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    r = json.loads(line.removeprefix("RESULT "))
    if r["errors"] or r["non2xx"]:
        raise RuntimeError(f"wrk saw errors on {path}: {r}")
    return {
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
    }


# --- load: steady rate, open loop -----------------------------------------------------------------


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def steady(
    port: int, path: str, tokens: list[str], rps: int, seconds: float, connections: int = 24
) -> dict[str, float]:
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[float] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
        while (item := await queue.get()) is not None:
            scheduled, raw = item
            if await _request(reader, writer, raw) != 200:
                failures += 1
            latencies.append(time.perf_counter() - scheduled)
        writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.sleep(0.2)
    total = int(rps * seconds)
    start = time.perf_counter()
    for n in range(total):
        scheduled = start + n / rps
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        token = tokens[n % len(tokens)]
        raw = (
            f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
        queue.put_nowait((scheduled, raw))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    achieved = total / (time.perf_counter() - start)
    if failures:
        raise RuntimeError(f"{failures} non-200 answers on {path}")
    ordered = sorted(latencies)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "achieved_rps": achieved,
    }


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--steady-seconds", type=float, default=10.0)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        log("wrk is required (apt-get install -y wrk)")
        return 2

    db = DatabaseSettings()
    load_s = asyncio.run(load(db, args.reload))
    secret = secrets.token_urlsafe(48)
    tokens = [
        create_access_token(uuid.UUID(int=i + 1), secret=secret, ttl_s=3600) for i in range(USERS)
    ]
    port = free_port()
    gateway = start_gateway(db, secret, args.workers, port)
    url = f"http://127.0.0.1:{port}"
    today = datetime.now(UTC).date()
    sleep30 = f"/api/sleep?start_date={(today - timedelta(days=29)).isoformat()}&end_date={today}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            tokens_file = workdir / "tokens.txt"
            tokens_file.write_text("\n".join(tokens) + "\n")
            log("warm-up")
            wrk(url, "/api/dashboard", tokens_file, 3, workdir)
            wrk(url, sleep30, tokens_file, 2, workdir)
            health = wrk(url, "/health", tokens_file, args.duration, workdir)
            log(f"health: {health['rps']:.0f} req/s")
            dashboard = wrk(url, "/api/dashboard", tokens_file, args.duration, workdir)
            log(f"dashboard: {dashboard['rps']:.0f} req/s (p99 {dashboard['p99_ms']:.1f} ms)")
            sleep = wrk(url, sleep30, tokens_file, args.duration, workdir)
            log(f"sleep30: {sleep['rps']:.0f} req/s (p99 {sleep['p99_ms']:.1f} ms)")
        steady_dashboard = asyncio.run(
            steady(port, "/api/dashboard", tokens, STEADY_RPS, args.steady_seconds)
        )
        log(f"dashboard at {STEADY_RPS}/s: {steady_dashboard}")
        steady_sleep = asyncio.run(steady(port, sleep30, tokens, STEADY_RPS, args.steady_seconds))
        log(f"sleep30 at {STEADY_RPS}/s: {steady_sleep}")
    finally:
        gateway.terminate()
        gateway.wait(20)

    r = lambda v: round(v, 2)  # noqa: E731
    results = {
        "dashboard_p50_ms": r(steady_dashboard["p50_ms"]),
        "dashboard_p99_ms": r(steady_dashboard["p99_ms"]),
        "dashboard_rps": r(dashboard["rps"]),
        "sleep30_p50_ms": r(steady_sleep["p50_ms"]),
        "sleep30_p99_ms": r(steady_sleep["p99_ms"]),
        "sleep30_rps": r(sleep["rps"]),
        "health_rps": r(health["rps"]),
        "dashboard_to_health_ratio": r(dashboard["rps"] / health["rps"]),
        "dashboard_p99_ms_saturated": r(dashboard["p99_ms"]),
        "sleep30_p99_ms_saturated": r(sleep["p99_ms"]),
        "gateway_bench_workers": args.workers,
        "gateway_bench_steady_rps": STEADY_RPS,
    }
    if load_s:
        results["gateway_bench_load_s"] = r(load_s)
    merge_results(results)
    log(json.dumps(results, indent=2))
    ok = results["dashboard_to_health_ratio"] >= 0.5 and results["dashboard_p99_ms"] <= 20
    log("goals met" if ok else "goals NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
