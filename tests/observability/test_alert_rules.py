"""The alerting rules are valid Prometheus rules, each alert has a summary and a runbook line,
and promtool's unit tests make every alert fire on its failure (and stay quiet when healthy)."""

from __future__ import annotations

import subprocess

import yaml

from tests.observability.tools import ROOT, RULE_TESTS, RULES, binary


def _rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_promtool_check_rules() -> None:
    result = _run(binary("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    assert RULE_TESTS, "no promtool unit tests in deploy/prometheus/tests/"
    result = _run(binary("promtool"), "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_summary_runbook_and_severity() -> None:
    for rule in _rules():
        annotations = rule.get("annotations") or {}
        labels = rule.get("labels") or {}
        assert isinstance(annotations, dict) and isinstance(labels, dict)
        assert annotations.get("summary") and annotations.get("runbook"), rule["alert"]
        assert labels.get("severity") in ("critical", "warning", "info"), rule["alert"]


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    fired = {
        case["alertname"]
        for path in RULE_TESTS
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {str(rule["alert"]) for rule in _rules()}
    assert alerts - fired == set(), f"alerts without a firing unit test: {alerts - fired}"


def test_the_alerts_the_issue_asks_for_exist() -> None:
    alerts = {str(rule["alert"]) for rule in _rules()}
    assert {
        "MyHealthHighErrorRate",
        "MyHealthServiceDown",
        "MyHealthDatabaseLatencyHigh",
        "MyHealthConsumerLagHigh",
        "MyHealthDeadLetterRateHigh",
        "MyHealthCollectorRunFailed",
        "MyHealthDataStale",
        "MyHealthTokenRefreshFailures",
        "MyHealthConnectionsNeedReauth",
    } <= alerts


def test_chart_renders_the_same_rules_file() -> None:
    template = (ROOT / "helm" / "myhealth" / "templates").glob("*.yaml")
    sources = "\n".join(p.read_text(encoding="utf-8") for p in template)
    assert 'Files.Get "rules/myhealth.rules.yml"' in sources
    assert 'Files.Glob "dashboards/*.json"' in sources
