"""deploy/prometheus with Prometheus' own tool: the rules and the scrape configuration
are valid (`promtool check`), and each alert behaves as tests.yml says it must
(`promtool test rules`: for each alert, series that fire it and series that do not)."""

from __future__ import annotations

import yaml

from tests.support.processes import DEPLOY
from tests.support.tools import promtool

PROMETHEUS = DEPLOY / "prometheus"


def test_the_rules_and_the_scrape_config_are_valid() -> None:
    out = promtool("check", "rules", str(PROMETHEUS / "rules.yml"))
    assert "SUCCESS" in out
    out = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert "is valid prometheus config file" in out


def test_each_alert_has_a_unit_test_and_they_pass() -> None:
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text(encoding="utf-8"))
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((PROMETHEUS / "tests.yml").read_text(encoding="utf-8"))
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts == fired, f"alerts without a test that fires them: {alerts - fired}"
    out = promtool("test", "rules", "tests.yml", cwd=PROMETHEUS)
    assert "SUCCESS" in out
