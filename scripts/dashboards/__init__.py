"""Grafana dashboards as code: `python -m scripts.dashboards` writes them to the folder the Helm
chart and docker-compose provision from (helm/myhealth/dashboards/)."""

from __future__ import annotations

from pathlib import Path

from . import health, operations
from .grafana import JSON, Dashboard

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "helm" / "myhealth" / "dashboards"


def dashboards() -> list[Dashboard]:
    return [
        health.overview(),
        health.sleep(),
        health.activity(),
        health.readiness(),
        operations.pipeline(),
        operations.services(),
    ]


def render() -> dict[str, JSON]:
    """File name -> dashboard JSON model, for every dashboard."""
    return {f"{d.uid}.json": d.to_json() for d in dashboards()}
