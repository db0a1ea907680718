"""The dashboard and the alert rules in deploy/ use only metrics the code exports: every
metric name in every Grafana expr and every rule is a family of the processes' registry
(with its _total, _bucket, _sum or _count sample suffix), and every label they group or
select by is one those families carry (or a target label Prometheus adds)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from services.metrics import Metrics

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
TARGET_LABELS = {"instance", "job", "processor", "le"}
"""Labels Prometheus adds to every series (instance, job; processor from the scrape
config's targets), and the histogram bucket bound."""
NAME = re.compile(r"\b((?:gridflow|process|python)_[a-z0-9_]+|up)\b")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"\{([^}]*)\}")


def exported() -> tuple[dict[str, set[str]], set[str]]:
    """Every sample name the registry can export, and every label name it uses."""
    metrics = Metrics()
    names: dict[str, set[str]] = {}
    labels: set[str] = set()
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "gauge": ("",),
        "info": ("_info",),
    }
    for family in metrics.registry.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names[family.name + suffix] = set()
        for sample in family.samples:
            labels |= set(sample.labels)
    for collector in list(metrics.registry._collector_to_names):  # labelled, not yet used
        labels |= set(getattr(collector, "_labelnames", ()))
    return names, labels


def dashboard_exprs() -> list[str]:
    exprs = []
    for path in sorted((DEPLOY / "grafana").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for panel in doc["panels"]:
            exprs += [t["expr"] for t in panel.get("targets", [])]
    return exprs


def rule_exprs() -> list[str]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text(encoding="utf-8"))
    return [rule["expr"] for group in doc["groups"] for rule in group["rules"]]


def _labels_used(expr: str) -> set[str]:
    used: set[str] = set()
    for group in GROUPING.findall(expr):
        used |= {x.strip() for x in group.split(",") if x.strip()}
    for selector in SELECTOR.findall(expr):
        used |= {m.split("=")[0].strip(" !~") for m in selector.split(",") if "=" in m}
    return used


def check(exprs: list[str]) -> None:
    names, labels = exported()
    assert exprs
    for expr in exprs:
        found = NAME.findall(expr)
        assert found, f"no metric in {expr!r}"
        for name in found:
            if name == "up":
                continue
            assert name in names, f"{name} (in {expr!r}) is not exported"
        unknown = _labels_used(expr) - labels - TARGET_LABELS
        assert not unknown, f"labels {unknown} (in {expr!r}) are on no exported metric"


def test_the_dashboard_uses_only_exported_metrics() -> None:
    check(dashboard_exprs())


def test_the_alert_rules_use_only_exported_metrics() -> None:
    check(rule_exprs())


def test_the_dashboard_shows_what_an_operator_needs() -> None:
    text = " ".join(dashboard_exprs())
    for name in (
        "gridflow_records_consumed_total",  # flow per stage
        "gridflow_consumer_lag",
        "gridflow_dead_letters_total",
        "gridflow_cases_open",
        "gridflow_cases_overdue",
        "gridflow_escalations_total",
        "gridflow_deadlines_provisional",
        "gridflow_notification_deliveries_total",
        "gridflow_outbox_entries",
        "gridflow_report_to_assignment_seconds_bucket",
    ):
        assert name in text, name


def test_a_misspelt_metric_is_caught() -> None:
    try:
        check(["sum(rate(gridflow_records_consumd_total[5m]))"])
    except AssertionError as e:
        assert "gridflow_records_consumd_total" in str(e)
    else:
        raise AssertionError("the check let a misspelt metric through")
