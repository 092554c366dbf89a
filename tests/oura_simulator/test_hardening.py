"""The simulator is a development tool that must not become a hole: it refuses to start outside
development, its controls answer loopback callers only, consent redirects only to registered
URIs, and the production image does not contain it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import httpx

from oura_simulator.app import create_app
from oura_simulator.config import SimulatorConfig

from .conftest import CLIENT, REDIRECT

ROOT = Path(__file__).resolve().parents[2]


def test_refuses_to_start_outside_development() -> None:
    for environment in (None, "production", "staging"):
        env = {k: v for k, v in os.environ.items() if k != "ENVIRONMENT"}
        if environment:
            env["ENVIRONMENT"] = environment
        result = subprocess.run(
            [sys.executable, "-m", "oura_simulator", "--port", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, (environment, result.stderr)
        assert "runs only with ENVIRONMENT=development" in result.stderr


async def test_controls_answer_loopback_callers_only(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_sim/stats")).status_code == 200  # over HTTP from 127.0.0.1
    app = create_app(SimulatorConfig(users=1, redirect_uris=(REDIRECT,)))
    for address in ("10.1.2.3", "203.0.113.9", "::ffff:198.51.100.1"):
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as remote:
            for method, path in (("GET", "/_sim/stats"), ("POST", "/_sim/tokens")):
                answer = await remote.request(method, path, json={})
                assert answer.status_code == 403, (address, path, answer.text)
    transport = httpx.ASGITransport(app=app, client=("::1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as local:
        assert (await local.get("/_sim/stats")).status_code == 200


async def test_consent_redirects_only_to_registered_uris(client: httpx.AsyncClient) -> None:
    base = {"client_id": CLIENT["client_id"], "response_type": "code", "state": "s"}
    for target in ("http://evil.example/steal", REDIRECT + "/../elsewhere", REDIRECT + "?x=1"):
        answer = await client.get("/oauth/authorize?" + urlencode({**base, "redirect_uri": target}))
        assert answer.status_code == 400 and "location" not in answer.headers, target
        assert answer.json()["error"] == "invalid_redirect_uri"
    ok = await client.get("/oauth/authorize?" + urlencode({**base, "redirect_uri": REDIRECT}))
    assert ok.status_code == 302 and ok.headers["location"].startswith(REDIRECT + "?code=")


def _stages(dockerfile: str) -> dict[str, str]:
    parts = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    return {re.search(r" AS (\S+)", p.splitlines()[0]).group(1): p for p in parts}  # type: ignore[union-attr]


def test_production_image_leaves_the_simulator_out() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = _stages(dockerfile)
    # The last stage is what a plain `docker build` (CI, release) produces.
    assert list(stages)[-1] == "runtime"
    build = re.sub(r"#.*", "", stages["build"])
    # The distribution is installed from /src before the simulator's folder is in the stage, and
    # the folder never goes to /src: the venv (all the runtime stage has) holds none of it.
    assert build.index("pip install") < build.index("COPY oura_simulator /opt/simulator/")
    assert not re.search(r"^COPY (\.|oura_simulator \.)", build, flags=re.M)
    assert "simulator" not in re.sub(r"#.*", "", stages["base"] + stages["runtime"])
    assert "COPY --from=build /opt/simulator/oura_simulator" in stages["development"]
    assert "!oura_simulator/" in (ROOT / ".dockerignore").read_text().splitlines()
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "target: development" in compose
