"""Finding Prometheus's binaries: Debian's `prometheus` package (apt-get install -y prometheus)
puts promtool and prometheus in /usr/bin; scripts/install-deploy-tools.sh unpacks them into
.local/tools/bin. A missing binary fails the test that needs it (never a skip)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "helm" / "myhealth" / "rules" / "myhealth.rules.yml"
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))


def binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(ROOT / ".local" / "tools" / "bin"))
    if not found:
        pytest.fail(
            f"{name} not found: install Debian's prometheus package (apt-get install -y "
            "prometheus), which provides promtool and prometheus"
        )
    return found
