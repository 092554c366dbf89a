"""The web pages in a real browser: Debian's headless Chromium, driven by Selenium through the
system chromedriver (never a downloaded browser or driver). The gateway and the Oura simulator
run as the real processes; the gateway starts the real collector backfill on connect, which
publishes to this test's topics. A screenshot of every page lands in the test's tmp folder.

Trends are written straight into daily_trends (the stream processor's job, not running here)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from schemas.settings import DatabaseSettings, KafkaSettings
from tests.gateway.factories import days_back, insert_trend
from tests.gateway.processes import free_port, running

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "browser test pass phrase 5521"
NEW_PASSWORD = "another browser phrase 9034"
BACKFILL_DAYS = 30


@pytest.fixture
def platform(
    db: asyncpg.Pool, db_settings: DatabaseSettings, topics: KafkaSettings, tmp_path: Path
) -> Iterator[str]:
    """The simulator and the gateway as processes; the gateway's URL."""
    sim_port, gw_port = free_port(), free_port()
    sim, gateway = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{gw_port}"
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "DB_NAME": db_settings.name,
        "KAFKA_TOPIC_PREFIX": topics.topic_prefix,
        "JWT_SECRET": "browser-test-" + Fernet.generate_key().decode(),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "OURA_CLIENT_ID": "simulator-client",
        "OURA_CLIENT_SECRET": "simulator-secret",
        "OURA_AUTHORIZE_URL": f"{sim}/oauth/authorize",
        "OURA_TOKEN_URL": f"{sim}/oauth/token",
        "OURA_REVOKE_URL": f"{sim}/oauth/revoke",
        "OURA_API_BASE_URL": sim,
        "OURA_REDIRECT_URI": f"{gateway}/api/callback",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(gw_port),
        "GATEWAY_METRICS_PORT": str(free_port()),
        "GATEWAY_BACKFILL_ON_CONNECT": "true",
        "GATEWAY_BACKFILL_DAYS": str(BACKFILL_DAYS),
        "GRAFANA_URL": "http://grafana.example/d/myhealth",
    }
    sim_args = ["-m", "oura_simulator", "--port", str(sim_port), "--users", "1"]
    sim_args += ["--redirect-uri", f"{gateway}/api/callback"]
    with (
        running(sim_args, env, tmp_path / "simulator.log", f"{sim}/_sim/stats"),
        running(["-m", "gateway"], env, tmp_path / "gateway.log", f"{gateway}/health"),
    ):
        yield gateway


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(downloads: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), (
        "Chromium is missing: run scripts/install-system-deps.sh (as root)"
    )
    # Selenium Manager would download a browser or a driver: make any call to it fail.
    monkeypatch.setenv("SE_MANAGER_PATH", "/bin/false")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1400")
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    try:
        yield driver
    finally:
        driver.quit()


def _replaced(element: WebElement) -> bool:
    """Whether the page holding `element` is gone. Chrome, caught mid-navigation, may answer
    that the node belongs to no document instead of calling it stale: gone all the same."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


class Pages:
    def __init__(self, driver: webdriver.Chrome, base: str, shots: Path) -> None:
        self.driver, self.base, self.shots = driver, base, shots
        shots.mkdir(exist_ok=True)
        self.count = 0

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def fill(self, **fields: str) -> None:
        for name, value in fields.items():
            element = self.driver.find_element(By.NAME, name)
            element.clear()
            element.send_keys(value)

    def click(self, element_id: str) -> None:
        self.driver.find_element(By.ID, element_id).click()

    def submit(self, element_id: str) -> None:
        """Click a button that loads another page, and wait until that page replaced this one."""
        current = self.driver.find_element(By.TAG_NAME, "html")
        self.click(element_id)
        WebDriverWait(self.driver, 60).until(lambda _: _replaced(current))

    def text(self, element_id: str) -> str:
        return str(self.driver.find_element(By.ID, element_id).text)

    def shot(self, name: str) -> None:
        self.count += 1
        self.driver.save_screenshot(str(self.shots / f"{self.count:02d}-{name}.png"))

    def wait(self, condition: Callable[[], bool], timeout: float = 120) -> None:
        WebDriverWait(self.driver, timeout, poll_frequency=0.5).until(lambda _: condition())


def _status_is(pages: Pages, wanted: str) -> Callable[[], bool]:
    def check() -> bool:
        pages.open("/connection")
        return pages.text("connection-status") == wanted

    return check


def _downloaded(folder: Path, suffix: str) -> Callable[[], bool]:
    return lambda: (
        any(p.suffix == suffix and p.stat().st_size > 0 for p in folder.iterdir())
        and not any(p.suffix == ".crdownload" for p in folder.iterdir())
    )


def _read(folder: Path, pattern: str) -> str:
    return next(folder.glob(pattern)).read_text()


async def test_a_person_in_a_browser(
    platform: str, browser: webdriver.Chrome, db: asyncpg.Pool, downloads: Path, tmp_path: Path
) -> None:
    pages = Pages(browser, platform, tmp_path / "screenshots")
    email = f"browser-{free_port()}@example.com"

    pages.open("/signup")
    pages.shot("sign-up")
    pages.fill(email=email, password=PASSWORD)
    pages.submit("signup")
    assert "/signin" in browser.current_url
    pages.shot("sign-in")
    pages.fill(login=email, password=PASSWORD)
    pages.submit("signin")
    assert browser.current_url.endswith("/connection")
    assert pages.text("connection-status") == "not connected" and pages.text("email") == email
    assert browser.find_element(By.LINK_TEXT, "API docs").get_attribute("href").endswith("/docs")
    dashboards = browser.find_element(By.LINK_TEXT, "Dashboards").get_attribute("href")
    assert dashboards == "http://grafana.example/d/myhealth"
    pages.shot("connection-none")

    # Connect: the simulator's consent page, then back to the callback in this browser.
    pages.submit("connect")
    assert "/oauth/authorize" in browser.current_url
    assert "code_challenge_method=S256" in browser.current_url
    pages.shot("oura-consent")
    pages.submit("allow")
    pages.wait(lambda: "/connection?connected=oura" in browser.current_url)
    assert pages.text("connection-status") == "active"
    pages.shot("connected")
    user_id = await db.fetchval("SELECT id FROM users WHERE email = $1", email)
    assert await db.fetchval("SELECT status FROM oauth_tokens WHERE user_id = $1", user_id) == (
        "active"
    )

    def backfilled() -> bool:
        pages.open("/connection")
        return pages.text("backfill-status") == "Backfill complete."

    pages.wait(backfilled)
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) >= 10
    assert all(f"{BACKFILL_DAYS + 1}/{BACKFILL_DAYS + 1} days" in r.text for r in rows), [
        r.text for r in rows if "ok" in r.text
    ]
    pages.shot("backfill-complete")

    # Charts over what the stream processor would have derived.
    flagged = {5, 17}
    for metric, base in (
        ("daily_sleep.score", 78),
        ("daily_readiness.score", 70),
        ("daily_activity.score", 85),
    ):
        for i, day in enumerate(days_back(60)):
            await insert_trend(db, user_id, metric, day, base + (i % 7), flag=i + 1 in flagged)
    pages.open("/data?days=90")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 3
    for chart in charts:
        assert chart.get_attribute("role") == "img"
        assert chart.find_element(By.CSS_SELECTOR, "path.mean").get_attribute("d").startswith("M")
        assert len(chart.find_elements(By.CSS_SELECTOR, "circle.flag")) == len(flagged)
        assert "2 flagged days" in chart.find_element(By.TAG_NAME, "desc").get_attribute(
            "textContent"
        )
    pages.shot("my-data-90-days")
    pages.open("/data?days=365")
    pages.shot("my-data-365-days")
    pages.open("/data?days=30")
    assert len(browser.find_elements(By.CSS_SELECTOR, "circle.flag")) == 0  # flags are older
    pages.shot("my-data-30-days")

    # Export, both formats, downloaded by the browser.
    pages.open("/connection")
    pages.click("export-csv")
    pages.wait(_downloaded(downloads, ".csv"))
    pages.click("export-json")
    pages.wait(_downloaded(downloads, ".json"))
    csv_text = _read(downloads, "*.csv")
    assert csv_text.startswith("data_type,id,day,fetched_at,document")
    assert csv_text.count("\ndaily_trends,daily_sleep.score,") == 60
    exported: dict[str, Any] = json.loads(_read(downloads, "*.json"))
    assert exported["user_id"] == str(user_id) and len(exported["data"]["daily_trends"]) == 180

    # Change the password: every session ends; the new one signs in.
    pages.open("/password")
    pages.shot("change-password")
    pages.fill(current_password=PASSWORD, new_password=NEW_PASSWORD)
    pages.submit("change-password")
    assert "Password changed" in browser.page_source
    pages.open("/connection")
    assert "/signin" in browser.current_url
    pages.fill(login=email, password=NEW_PASSWORD)
    pages.submit("signin")
    assert browser.current_url.endswith("/connection")

    # Delete the account, after the confirmation step.
    pages.open("/account/delete")
    pages.shot("delete-confirm")
    pages.fill(confirm_email="not-" + email)
    pages.submit("delete")
    assert "Type your email address exactly" in browser.page_source
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = $1", user_id) == 1
    pages.fill(confirm_email=email)
    pages.submit("delete")
    assert "Account deleted" in browser.page_source
    pages.shot("deleted")
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = $1", user_id) == 0
    assert await db.fetchval("SELECT count(*) FROM daily_trends WHERE user_id = $1", user_id) == 0
    assert await db.fetchval("SELECT count(*) FROM oauth_tokens") == 0
    pages.open("/connection")
    assert "/signin" in browser.current_url
    assert len(list((tmp_path / "screenshots").glob("*.png"))) == pages.count
