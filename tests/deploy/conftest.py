"""Fixtures for the deployment-artifact tests (compose, Helm, Terraform).

The tools (helm, composecheck, python-hcl2) come from scripts/install-deploy-tools.sh. When one is
missing the tests that need it are skipped, unless MYHEALTH_DEPLOY_STRICT=1 (set by
scripts/validate-deploy.sh), where a missing tool is a failure.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("MYHEALTH_TOOLS_DIR", ROOT / ".local" / "tools"))
CHART = ROOT / "helm" / "myhealth"
ENVIRONMENTS = ("dev", "staging", "prod")
STRICT = os.environ.get("MYHEALTH_DEPLOY_STRICT") == "1"


def missing(what: str) -> None:
    message = f"{what} is not installed (run scripts/install-deploy-tools.sh)"
    if STRICT:
        pytest.fail(message)
    pytest.skip(message)


def tool(name: str) -> str:
    path = TOOLS / "bin" / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        missing(name)
    assert found
    return found


@pytest.fixture(scope="session")
def expected_env() -> set[str]:
    """Every variable some service's settings object reads, asked of the settings classes
    themselves (in the project's virtualenv), so a renamed setting fails these tests."""
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        missing("the project virtualenv (.venv)")
    out = subprocess.run(
        [str(python), str(ROOT / "scripts" / "settings_env.py")],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return set(json.loads(out.stdout))


@pytest.fixture(scope="session")
def helm() -> str:
    return tool("helm")


RenderFn = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def render(helm: str) -> RenderFn:
    """helm template with a values file (and --set pairs); returns the objects."""
    cache: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}

    def _render(env: str, *sets: str) -> list[dict[str, Any]]:
        key = (env, sets)
        if key not in cache:
            cmd = [
                helm,
                "template",
                "myhealth",
                str(CHART),
                "--namespace",
                "myhealth",
                "--kube-version",
                "1.33.0",
                "-f",
                str(CHART / f"values-{env}.yaml"),
            ]
            for pair in sets:
                cmd += ["--set", pair]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            cache[key] = [doc for doc in yaml.safe_load_all(out) if doc]
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def helm_fails(helm: str) -> Callable[..., str]:
    """Runs helm template expecting failure; returns stderr."""

    def _fails(env: str, *sets: str) -> str:
        cmd = [
            helm,
            "template",
            "myhealth",
            str(CHART),
            "--kube-version",
            "1.33.0",
            "-f",
            str(CHART / f"values-{env}.yaml"),
        ]
        for pair in sets:
            cmd += ["--set", pair]
        result = subprocess.run(cmd, capture_output=True, text=True)
        assert result.returncode != 0, f"helm template unexpectedly succeeded with {sets}"
        return result.stderr

    return _fails


@pytest.fixture(scope="session")
def hcl2_module() -> Any:
    try:
        return importlib.import_module("hcl2")
    except ImportError:
        missing("python-hcl2")
