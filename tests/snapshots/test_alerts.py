"""The snapshot alert rules and dashboard panels use exported metric names, and the
rules do what their promtool unit tests say (`promtool test rules`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

import controller.snapshots.metrics  # noqa: F401  (registers the metrics)
from tests.telemetry.test_dashboards import DASHBOARD, NAME, unknown_names

PROMETHEUS = Path(__file__).resolve().parents[2] / "manifests" / "prometheus"
RULES = PROMETHEUS / "studio-operator-snapshot-alerts.yaml"
RULE_TESTS = PROMETHEUS / "tests" / "snapshot-alerts.test.yaml"


def test_snapshot_alerts_use_exported_metrics_and_say_what_to_do():
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert {"StudioOperatorSnapshotTooOld", "StudioOperatorRestoreRefused"} <= {
        r["alert"] for r in rules}
    for rule in rules:
        assert NAME.search(rule["expr"]) and unknown_names(rule["expr"]) == set(), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_dashboard_shows_snapshots():
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    text = " ".join(exprs)
    for name in ("studio_operator_snapshot_newest_age_seconds", "studio_operator_snapshots_total",
                 "studio_operator_restores_total"):
        assert name in text
    assert all(unknown_names(e) == set() for e in exprs)


def test_promtool_unit_tests_of_the_snapshot_rules_pass():
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (Debian package prometheus; .ci/run installs it)"
    done = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
