"""The Grafana dashboard and the Prometheus alert rules in manifests/ use exactly the
metric names the controller exports, and are well-formed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import controller.gateway
import controller.metrics  # noqa: F401  (registers the metrics)

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
DASHBOARD = MANIFESTS / "grafana" / "studio-operator-dashboard.json"
ALERTS = MANIFESTS / "prometheus" / "studio-operator-alerts.yaml"
NAME = re.compile(r"\bstudio_operator_[a-z0-9_]+")


def exported() -> set[str]:
    """Every sample name the controller's registry can expose (with _total, _bucket...)."""
    assert controller.gateway.AWS_CALLS is not None
    names: set[str] = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("studio_operator_"):
            continue
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                    "info": ("_info",)}.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def unknown_names(text: str) -> set[str]:
    return set(NAME.findall(text)) - exported()


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"]
            for rule in group["rules"]]


def test_every_dashboard_expression_uses_exported_metrics_only():
    expressions = dashboard_expressions()
    assert len(expressions) >= 10
    for expr in expressions:
        assert NAME.search(expr), f"no studio-operator metric in {expr!r}"
        assert unknown_names(expr) == set(), expr


def test_every_alert_uses_exported_metrics_and_says_what_to_do():
    rules = alert_rules()
    assert {"StudioOperatorNotReconciling", "StudioOperatorReplicationLagging",
            "StudioOperatorFailoverStuck", "StudioOperatorControllerDown",
            "StudioOperatorControllerAbsent", "StudioOperatorPassesFailing",
            "StudioOperatorTakeoverAwaited"} <= {r["alert"] for r in rules}
    for rule in rules:
        assert unknown_names(rule["expr"]) == set(), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_check_catches_a_name_the_controller_does_not_export():
    assert unknown_names("rate(studio_operator_actions_total[5m])") == set()
    assert unknown_names("studio_operator_replication_lag") == {
        "studio_operator_replication_lag"}
    assert unknown_names("sum(studio_operator_actions)") == {"studio_operator_actions"}, (
        "a counter is exposed as _total only")


def test_the_key_dr_metrics_are_on_the_dashboard():
    text = " ".join(dashboard_expressions())
    for name in ("studio_operator_replication_lag_seconds", "studio_operator_failover_phase",
                 "studio_operator_failover_recovery_seconds",
                 "studio_operator_copied_bytes_total", "studio_operator_preflight_check",
                 "studio_operator_preflight_last_run_timestamp_seconds"):
        assert name in text


# Grafana unit ids the panels use (Standard options > Unit).
GRAFANA_UNITS = {"s", "opm", "ops", "Bps", "bytes", "short", "none", "percentunit",
                 "bool_yes_no"}
SELECTOR = re.compile(r"\b(studio_operator_[a-z0-9_]+)(\{[^}]*\})?")


def test_every_panel_says_its_unit():
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        assert unit in GRAFANA_UNITS, (panel["title"], unit)


def test_every_expression_follows_the_region_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    (region,) = [v for v in dashboard["templating"]["list"] if v["name"] == "region"]
    assert region["type"] == "query" and "region" in region["definition"]
    assert region["multi"] and region["includeAll"]
    for expr in dashboard_expressions():
        for name, selector in SELECTOR.findall(expr):
            assert 'region=~"$region"' in selector, (name, expr)


def test_no_metric_has_a_region_label_to_clash_with_the_targets():
    """Scrape configs label each controller's target with `region`; a metric label of the
    same name would be renamed exported_region and break every rule that groups by it."""
    labelled = {name: getattr(collector, "_labelnames", ())
                for name, collector in REGISTRY._names_to_collectors.items()
                if name.startswith("studio_operator_")}
    assert labelled, "the controller's metrics are registered"
    assert {name for name, labels in labelled.items() if "region" in labels} == set()
