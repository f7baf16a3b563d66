"""What operators watch: /metrics, /healthz, /readyz, and one JSON log event per action."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from controller.desired import load_desired_state
from controller.health import HealthServer
from controller.logs import configure
from tests.converge.helpers import prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def server():
    health = HealthServer(0, host="127.0.0.1").start()
    yield health
    health.stop()


def test_healthz_answers_at_once_and_readyz_only_after_the_first_pass(server):
    assert _get(server.port, "/healthz") == (200, "ok\n")
    assert _get(server.port, "/readyz")[0] == 503
    server.ready.set()
    assert _get(server.port, "/readyz") == (200, "ready\n")
    assert _get(server.port, "/nothing")[0] == 404


def test_a_pass_is_visible_in_metrics_and_in_json_logs(aws, server, capsys):
    configure(json=True)
    desired = prepared(aws, load_desired_state(EXAMPLE))
    reconciler(aws).reconcile(desired)
    _, body = _get(server.port, "/metrics")
    for name in ("studio_operator_reconcile_passes_total{result=\"applied\"}",
                 "studio_operator_reconcile_pass_duration_seconds_bucket",
                 "studio_operator_actions_total{action=\"CreateDomain\",kind=\"Domain\","
                 "outcome=\"ok\"}",
                 "studio_operator_aws_calls_total{operation=\"CreateDomain\",outcome=\"ok\","
                 "service=\"sagemaker\"}",
                 "studio_operator_drifted_resources{kind=\"UserProfile\"} 7.0",
                 "studio_operator_resources{kind=\"UserProfile\",ready=\"True\"} 7.0"):
        assert name in body, name
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()
              if line.startswith("{")]
    actions = [e for e in events if e["event"] == "action"]
    assert len(actions) == 22  # 20 for the estate, its notebook instance, the first snapshots
    first = actions[0]
    assert {"resource", "region", "revision", "outcome", "duration_s", "timestamp"} <= set(first)
    assert first["revision"] == desired.revision and first["region"] == "us-east-1"
    summary = [e for e in events if e["event"] == "pass"]
    assert summary[-1]["result"] == "applied" and summary[-1]["actions"] == 22
    assert not any("testing" in json.dumps(e) for e in events), "no credentials in logs"
