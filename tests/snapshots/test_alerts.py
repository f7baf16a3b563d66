"""Snapshots are watched: their alerts live in the rules file (tests/telemetry runs their
promtool tests, manifests/prometheus/tests/studio-operator-snapshots.test.yaml) and the
dashboard shows their metrics, by the exported names."""

from __future__ import annotations

import controller.snapshots.metrics  # noqa: F401  (registers the metrics)
from tests.telemetry.test_dashboards import alert_rules, dashboard_expressions, unknown_names


def test_the_snapshot_alerts_are_in_the_rules_file_with_exported_metrics():
    rules = {rule["alert"]: rule for rule in alert_rules()}
    for alert in ("StudioOperatorSnapshotTooOld", "StudioOperatorSnapshotMissing",
                  "StudioOperatorSnapshotsFailing", "StudioOperatorRestoreRefused"):
        assert alert in rules
        assert "studio_operator_snap" in rules[alert]["expr"] or "restores" in rules[
            alert]["expr"]
        assert unknown_names(rules[alert]["expr"]) == set(), alert


def test_the_dashboard_shows_snapshots_and_restores():
    text = " ".join(dashboard_expressions())
    for name in ("studio_operator_snapshot_newest_age_seconds", "studio_operator_snapshots_total",
                 "studio_operator_restores_total", "studio_operator_snapshot_bytes_total",
                 "studio_operator_snapshot_jobs_running"):
        assert name in text
