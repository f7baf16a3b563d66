"""studioctl apply and status, as a platform engineer types them."""

from __future__ import annotations

import json
from pathlib import Path

from controller.cli.main import main
from controller.desired import load_desired_state
from tests.converge.helpers import REGION, prepared

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"


def _common(aws) -> list[str]:
    return ["--desired", str(EXAMPLE), "--region", REGION, "--endpoint-url", aws.endpoint_url,
            "--efs-root", str(aws.efs_root), "--max-attempts", "2"]


def test_apply_then_status_shows_every_resource_ready_at_the_applied_revision(aws, capsys):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    assert main(["apply", *_common(aws)]) == 0
    out = capsys.readouterr().out
    # with the notebook instance and the first snapshots
    assert f"{REGION}: applied; 22 of 22 action(s) done" in out
    assert main(["apply", *_common(aws)]) == 0
    assert f"{REGION}: converged; 0 of 0 action(s) done" in capsys.readouterr().out
    assert main(["apply", "--dry-run", *_common(aws)]) == 0
    assert "No changes" in capsys.readouterr().out

    assert main(["status", "--region", REGION, "--endpoint-url", aws.endpoint_url]) == 0
    text = capsys.readouterr().out
    header, *rows = text.split("\n\n")[0].splitlines()
    assert header.split() == ["KIND", "NAME", "REGION", "READY", "REASON", "AGE", "REVISION"]
    alice = next(r.split() for r in rows if r.split()[:2] == ["UserProfile", "research/alice"])
    assert alice[:4] == ["UserProfile", "research/alice", REGION, "True"]
    assert alice[-1] == desired.revision
    assert "active region: us-east-1; this region: Steady" in text

    assert main(["status", "--region", REGION, "--endpoint-url", aws.endpoint_url,
                 "--output", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    # 2 domains, 7 profiles, 10 directories, 1 fs, its mount targets in 2 subnets, 1 notebook
    assert len(document["resources"]) == 23
    assert all(any(c["type"] == "Ready" and c["status"] == "True" for c in r["conditions"])
               for r in document["resources"])
    assert document["revision"]["valid"] is True
    assert document["failover"]["phase"] == "Steady"


def test_status_of_a_region_without_a_status_table_says_so_and_exits_1(aws, capsys):
    assert main(["status", "--region", REGION, "--endpoint-url", aws.endpoint_url]) == 1
    assert "could not read status in us-east-1" in capsys.readouterr().err
