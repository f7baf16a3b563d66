"""`studioctl preflight` as CI runs it (exit 0 ready, 1 not ready, 2 could not check; text
with what to do, JSON for programs, names escaped), a replica still on its first sync,
and the snapshot bucket check that the SnapshotPolicy kind plugs into."""

from __future__ import annotations

import json
import time

from controller.cli.main import main
from controller.model import DesiredState
from controller.preflight import Status
from controller.status.store import DEFAULT_TABLE
from tests.preflight.helpers import EXAMPLE, STANDBY, failing, ready_estate, with_snapshot_policies


def _preflight(aws, *extra: str) -> list[str]:
    return ["preflight", "--desired", str(EXAMPLE), "--endpoint-url", aws.endpoint_url,
            "--max-attempts", "2", *extra]


def test_the_command_exits_0_when_ready_and_1_naming_the_check_and_what_to_do(aws, capsys):
    estate = ready_estate(aws)
    capsys.readouterr()
    assert main(_preflight(aws)) == 0  # --region defaults to the standby region
    out = capsys.readouterr().out
    assert out.startswith(f"Failover readiness: if activeRegion flipped from us-east-1 to "
                          f"{STANDBY} now")
    assert out.rstrip().endswith("ready: 9 of 9 checks pass or have nothing to check")

    estate.client("dynamodb").delete_item(TableName=DEFAULT_TABLE, Key={"pk": {"S": "lease"}})
    assert main(_preflight(aws, "--region", STANDBY)) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "standby_controller" in line)
    assert line.split()[:2] == ["FAIL", "standby_controller"]
    assert "what to do: start the controller in us-west-2" in out
    assert out.rstrip().endswith("not ready: 1 of 9 checks fail (standby_controller)")

    assert main(_preflight(aws, "--output", "json")) == 1
    answer = json.loads(capsys.readouterr().out)
    assert (answer["ready"], answer["exitCode"], answer["targetRegion"]) == (False, 1, STANDBY)
    controller = next(c for c in answer["checks"] if c["check"] == "standby_controller")
    assert controller["status"] == "fail" and controller["remedy"]


def test_the_command_exits_2_when_it_cannot_check(aws, capsys):
    ready_estate(aws)
    capsys.readouterr()
    aws.set_faults(1.0, kinds=("5xx",), regions={STANDBY})
    assert main(_preflight(aws)) == 2
    assert "unknown: " in capsys.readouterr().out
    aws.clear_faults()
    assert main(_preflight(aws, "--region", "us-east-1")) == 2
    assert "us-east-1 is the active region already" in capsys.readouterr().err
    assert main(_preflight(aws, "--region", "eu-west-1")) == 2
    assert "not one of the estate's regions" in capsys.readouterr().err


def test_names_from_aws_cannot_forge_a_line_of_the_report(aws, capsys):
    estate = ready_estate(aws)
    estate.client("dynamodb").delete_item(TableName=DEFAULT_TABLE, Key={"pk": {"S": "lease"}})
    estate.hold_standby_lease(time.time(), holder="x\nready: 9 of 9 checks pass")
    capsys.readouterr()
    assert main(_preflight(aws)) == 0
    out = capsys.readouterr().out
    assert "holds the lease" in out and "x\\nready: 9 of 9 checks pass holds" in out
    assert [line for line in out.splitlines() if line.startswith("ready")] == [
        "ready: 9 of 9 checks pass or have nothing to check"]


def test_a_replica_on_its_first_sync_is_not_ready_yet(aws):
    with aws.replication_paused():
        report = ready_estate(aws, first_sync=False).check()
    assert {r.check for r in report.results if r.status is Status.FAIL} == {"replica_in_sync"}
    assert failing(report)["replica_in_sync"].endswith("has not finished its first sync")


def test_each_snapshot_policys_bucket_in_the_target_must_be_reachable(aws):
    estate = ready_estate(aws)
    estate.client("s3").create_bucket(
        Bucket="snaps-west", CreateBucketConfiguration={"LocationConstraint": STANDBY})
    def with_policies(**policies: dict[str, str]) -> DesiredState:
        return with_snapshot_policies(estate.desired, **policies)

    ok = estate.check(desired=with_policies(nightly={STANDBY: "snaps-west"}))
    bucket = next(r for r in ok.results if r.check == "snapshot_bucket")
    assert (bucket.status, bucket.details) == (
        Status.PASS, ("SnapshotPolicy/nightly: bucket snaps-west can be reached",))
    missing = estate.check(desired=with_policies(
        nightly={STANDBY: "snaps-gone"}, weekly={"us-east-1": "snaps-east"}))
    assert {r.check for r in missing.results if r.status is Status.FAIL} == {"snapshot_bucket"}
    assert failing(missing)["snapshot_bucket"].startswith(
        "SnapshotPolicy/nightly: bucket snaps-gone cannot be reached (404")
    assert failing(missing)["snapshot_bucket"].endswith(
        f"SnapshotPolicy/weekly names no bucket for {STANDBY}")
    none = estate.check(desired=with_policies())
    assert next(r for r in none.results if r.check == "snapshot_bucket").details == (
        "no SnapshotPolicy",)
