"""`make run`: the whole platform on this machine, with the Oura simulator standing in for Oura.

Starts (after `make up` brought Kafka and PostgreSQL): migrations, the Oura simulator (its rings
sync every SIM_SYNC_EVERY_S seconds and it delivers webhooks), the stream processor, the gateway
(with the webhook receiver), the webhook fetcher and a scheduler that runs the collector and the
subscription renewal periodically (as the Kubernetes CronJobs do); subscribes the app to the
simulator's webhooks, creates a demo account, connects it to the simulator through the gateway's
real OAuth flow, backfills 90 days and prints how to use it. Ctrl-C stops everything it started.

Once ready, `supervisor.Supervisor` keeps it up: a service that dies is restarted, a collector
run that ends is simply done, and a stack that goes away (`make down`, then `make up`) is waited
for.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from supervisor import Dependency, Failure, Supervisor

ROOT = Path(__file__).resolve().parent.parent
# Another folder (a test's) keeps logs and secrets away from the `make run` in `.local/`.
STATE = Path(os.environ.get("MYHEALTH_STATE_DIR", ROOT / ".local"))
LOGS = STATE / "logs"
PY = sys.executable

DEMO_EMAIL = "demo@myhealth.local"
DEMO_PASSWORD = "demo-password-2026"
SIM_PORT = int(os.environ.get("SIMULATOR_PORT", "8089"))
GATEWAY_PORT = int(os.environ.get("GATEWAY_PORT", "8080"))
GATEWAY_METRICS_PORT = int(os.environ.get("GATEWAY_METRICS_PORT", "9100"))
PROCESSOR_METRICS_PORT = int(os.environ.get("PROCESSOR_METRICS_PORT", "9102"))
WEBHOOKS_METRICS_PORT = int(os.environ.get("WEBHOOKS_METRICS_PORT", "9103"))
COLLECT_INTERVAL_S = float(os.environ.get("COLLECT_INTERVAL_S", "900"))
# A ring sync (new documents, webhook deliveries) this often; renewal as the daily CronJob does.
SIM_SYNC_EVERY_S = float(os.environ.get("SIM_SYNC_EVERY_S", "60"))
RENEW_INTERVAL_S = float(os.environ.get("RENEW_INTERVAL_S", "86400"))
BACKFILL_DAYS = int(os.environ.get("BACKFILL_DAYS", "90"))


def say(message: str) -> None:
    print(f"[myhealth] {message}", flush=True)  # noqa: T201 - talking to the person at the terminal


def _secrets_env() -> dict[str, str]:
    """Local secrets, generated once and kept in .local/secrets.env (never committed)."""
    path = STATE / "secrets.env"
    if not path.exists():
        STATE.mkdir(parents=True, exist_ok=True)
        from cryptography.fernet import Fernet

        path.write_text(
            f"JWT_SECRET={secrets.token_urlsafe(48)}\n"
            f"TOKEN_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
        )
        path.chmod(0o600)
    lines = path.read_text().splitlines()
    found = {key: value for key, _, value in (line.partition("=") for line in lines if "=" in line)}
    if "OURA_WEBHOOK_VERIFICATION_TOKEN" not in found:
        # Added to a secrets file from before webhooks; the other secrets stay as they were.
        found["OURA_WEBHOOK_VERIFICATION_TOKEN"] = secrets.token_urlsafe(32)
        with path.open("a") as out:
            out.write(
                f"OURA_WEBHOOK_VERIFICATION_TOKEN={found['OURA_WEBHOOK_VERIFICATION_TOKEN']}\n"
            )
    return found


def platform_env() -> dict[str, str]:
    sim = f"http://127.0.0.1:{SIM_PORT}"
    env = dict(os.environ)
    env.update(_secrets_env())
    env.update(
        {
            "ENVIRONMENT": "development",
            "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
            "OURA_CLIENT_ID": "simulator-client",
            "OURA_CLIENT_SECRET": "simulator-secret",
            "OURA_API_BASE_URL": sim,
            "OURA_AUTHORIZE_URL": f"{sim}/oauth/authorize",
            "OURA_TOKEN_URL": f"{sim}/oauth/token",
            "OURA_REVOKE_URL": f"{sim}/oauth/revoke",
            "OURA_REDIRECT_URI": f"http://127.0.0.1:{GATEWAY_PORT}/api/callback",
            # The gateway's receiver, where the simulator delivers webhook events.
            "OURA_WEBHOOK_CALLBACK_URL": f"http://127.0.0.1:{GATEWAY_PORT}/webhooks/oura",
            "GATEWAY_PORT": str(GATEWAY_PORT),
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_METRICS_PORT": str(GATEWAY_METRICS_PORT),
            "PROCESSOR_METRICS_PORT": str(PROCESSOR_METRICS_PORT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def stack_dependencies(env: dict[str, str]) -> list[Dependency]:
    """Kafka and PostgreSQL, at the addresses the services read."""
    kafka = []
    for server in env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092").split(","):
        host, _, port = server.strip().rpartition(":")
        kafka.append((host.strip("[]"), int(port)))
    postgres = (env.get("DB_HOST", "127.0.0.1"), int(env.get("DB_PORT", "55432")))
    return [Dependency("Kafka", tuple(kafka)), Dependency("PostgreSQL", (postgres,))]


def wait_for(
    what: str, probe: Callable[[], bool], services: Supervisor, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        services.require_running()
        try:
            if probe():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise Failure(f"{what} was not ready after {timeout:.0f}s; see {LOGS}/")


def _ok(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 200


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(page: httpx.Response) -> str:
    match = _CSRF.search(page.text)
    if match is None:
        raise Failure(f"no form on {page.url}: {page.status_code}")
    return match.group(1)


def _connect_in_browser(browser: httpx.Client) -> None:
    """What a person does: sign in on the gateway's pages, press "Connect Oura", consent at
    Oura (the simulator approves at once) and come back to the callback in the same browser."""
    signin = browser.get("/signin")
    signed_in = browser.post(
        "/signin",
        data={"csrf_token": _csrf(signin), "login": DEMO_EMAIL, "password": DEMO_PASSWORD},
    )
    if signed_in.status_code != 303:
        raise Failure(f"demo sign-in failed: {signed_in.status_code}")
    connect = browser.post("/connect", data={"csrf_token": _csrf(browser.get("/connection"))})
    consent = httpx.get(connect.headers["location"], timeout=30)
    callback = browser.get(consent.headers["location"])
    if callback.status_code >= 400:
        raise Failure(f"OAuth callback failed: {callback.status_code} {callback.text}")


def connect_demo_account(gateway: str) -> tuple[str, str]:
    """Register (or log in) the demo account and connect it to the simulator through the
    gateway's pages and OAuth flow. Returns (user id, JWT)."""
    with httpx.Client(base_url=gateway, timeout=30) as client:
        client.post("/api/register", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
        login = client.post("/api/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
        if login.status_code != 200:
            raise Failure(f"demo login failed: {login.status_code} {login.text}")
        token = login.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        user_id = client.get("/api/me", headers=auth).json()["id"]
        status = client.get("/api/connection", headers=auth)
        if status.status_code == 200 and status.json().get("status") == "active":
            return user_id, token
    with httpx.Client(base_url=gateway, timeout=30) as browser:
        _connect_in_browser(browser)
    with httpx.Client(base_url=gateway, timeout=30) as client:
        status = client.get("/api/connection", headers=auth)
        if status.json().get("status") != "active":
            raise Failure(f"the demo account is not connected: {status.text}")
        return user_id, token


def subscribe(env: dict[str, str]) -> None:
    """`subscriptions ensure`: one webhook subscription per event and data type, verified by
    the simulator's handshake with the gateway's receiver (so the gateway must be up)."""
    ensure = subprocess.run(
        [PY, "-m", "collector", "subscriptions", "ensure"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in ensure.stdout.splitlines() if line and line[0] != "{"]
    if ensure.returncode != 0:
        failed = [line for line in lines if line.startswith("FAILED")][:3]
        raise Failure(" | ".join(failed or ensure.stderr.strip().splitlines()[-1:]))
    say(lines[0] if lines else "subscribed to the simulator's webhooks")


def wait_for_data(gateway: str, token: str, services: Supervisor) -> int:
    auth = {"Authorization": f"Bearer {token}"}
    start = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()

    def has_sleep() -> bool:
        r = httpx.get(f"{gateway}/api/sleep", params={"start_date": start}, headers=auth, timeout=5)
        return r.status_code == 200 and bool(r.json().get("data"))

    wait_for("the processed data", has_sleep, services, timeout=180)
    r = httpx.get(f"{gateway}/api/dashboard", headers=auth, timeout=5)
    return r.status_code


def banner(gateway: str, elapsed: float) -> None:
    token_cmd = (
        f"TOKEN=$(curl -s -X POST {gateway}/api/login -H 'Content-Type: application/json' "
        f'-d \'{{"email":"{DEMO_EMAIL}","password":"{DEMO_PASSWORD}"}}\' '
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
    )
    lines = [
        "",
        f"myHealth is ready ({elapsed:.0f}s). Open {gateway}/ in a browser",
        f"Demo account: {DEMO_EMAIL} / {DEMO_PASSWORD}  (connected to the Oura simulator)",
        f"Pages: {gateway}/connection  {gateway}/data   API docs: {gateway}/docs",
        "",
        "Or the API:",
        f"  {token_cmd}",
        f'  curl -s {gateway}/api/dashboard -H "Authorization: Bearer $TOKEN"',
        f'  curl -s "{gateway}/api/sleep?start_date=$(date -d "-7 days" +%F)" '
        '-H "Authorization: Bearer $TOKEN"',
        f'  curl -s "{gateway}/api/trends?metric=daily_readiness.score" '
        '-H "Authorization: Bearer $TOKEN"',
        "",
        f"Logs: {LOGS}/   Metrics: http://127.0.0.1:{GATEWAY_METRICS_PORT}/metrics, "
        f"http://127.0.0.1:{PROCESSOR_METRICS_PORT}/, "
        f"http://127.0.0.1:{WEBHOOKS_METRICS_PORT}/ (webhook fetcher)",
        f"The simulated ring syncs every {SIM_SYNC_EVERY_S:.0f}s and its webhooks bring the new "
        "data in seconds;",
        f"the collector runs every {COLLECT_INTERVAL_S:.0f}s as the safety net. "
        "Ctrl-C stops everything.",
    ]
    print("\n".join(lines), flush=True)  # noqa: T201


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    env = platform_env()
    services = Supervisor(cwd=ROOT, logs=LOGS, say=say, needs=stack_dependencies(env))
    gateway = f"http://127.0.0.1:{GATEWAY_PORT}"

    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C is how the platform stops, even when started where SIGINT was ignored (`cmd &`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        say("migrating the database and creating topics")
        subprocess.run([PY, "-m", "migrations", "upgrade"], cwd=ROOT, env=env, check=True)
        say(f"starting the Oura simulator on :{SIM_PORT}")
        simulator = [PY, "-m", "oura_simulator", "--port", str(SIM_PORT)]
        simulator += ["--sync-every", f"{SIM_SYNC_EVERY_S:g}"]
        services.start_service("simulator", simulator, env)
        wait_for("the simulator", lambda: _ok(f"http://127.0.0.1:{SIM_PORT}/_sim/stats"), services)
        say("starting the stream processor and the gateway")
        services.start_service("processor", [PY, "-m", "stream_processor", "worker"], env)
        services.start_service("gateway", [PY, "-m", "gateway"], env)
        wait_for("the gateway", lambda: _ok(f"{gateway}/ready"), services)
        collector_env = {**env, "COLLECTOR_METRICS_PORT": "0"}
        # The simulator's handshake calls the gateway's receiver: the gateway is up by now.
        subscribe(collector_env)
        fetcher_env = {**env, "COLLECTOR_METRICS_PORT": str(WEBHOOKS_METRICS_PORT)}
        services.start_service("webhooks", [PY, "-m", "collector", "webhooks"], fetcher_env)
        say("connecting the demo account through the OAuth flow")
        user_id, token = connect_demo_account(gateway)
        since = (datetime.now(UTC).date() - timedelta(days=BACKFILL_DAYS)).isoformat()
        say(f"backfilling {BACKFILL_DAYS} days for the demo account")
        subprocess.run(
            [PY, "-m", "collector", "backfill", "--user", user_id, "--since", since],
            cwd=ROOT,
            env=collector_env,
            check=True,
        )
        wait_for_data(gateway, token, services)
        banner(gateway, time.monotonic() - started)
        if args.exit_when_ready:
            return 0
        collect = [PY, "-m", "collector", "run"]
        services.schedule("collector-run", collect, collector_env, COLLECT_INTERVAL_S)
        renew = [PY, "-m", "collector", "subscriptions", "renew"]
        services.schedule("subscriptions-renew", renew, collector_env, RENEW_INTERVAL_S)
        while True:
            services.tick()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except Failure as exc:
        say(f"error: {exc}")
        return 1
    except subprocess.CalledProcessError as exc:
        say(f"error: {' '.join(map(str, exc.cmd[1:]))} exited with {exc.returncode}")
        return 1
    finally:
        # A second Ctrl-C must not leave children behind: stopping is bounded anyway.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        services.stop()
        say("all services stopped (Kafka and PostgreSQL keep running: `make down` stops them)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--exit-when-ready", action="store_true", help="stop everything once ready (smoke test)"
    )
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
