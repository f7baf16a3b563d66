"""The history: failovers, failbacks, prunes and recreations appended as they happen, kept
for the retention, and shown by `studioctl history` (text, JSON, by profile, since)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from controller.cli.main import main
from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.status.history import HistoryEntry, HistoryLog
from controller.status.store import DynamoStatusStore
from tests.converge.helpers import converge, prepared, reconciler
from tests.converge.test_recreation import _converged, _recreate_bob_behind_the_operators_back
from tests.example_estate import copy_example
from tests.snapshots.test_controller import RESTORE, _restore_until_done

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
PRIMARY, REPLICA = "us-east-1", "us-west-2"


def _history(aws, region: str, *args: str, capsys) -> dict:
    capsys.readouterr()  # the controllers' log lines so far
    code = main(["history", "--region", region, "--endpoint-url", aws.endpoint_url,
                 "--output", "json", *args])
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_a_failover_and_the_failback_are_in_the_history_of_the_region_that_took_over(
        aws, capsys):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    aws.sync_replication()
    flipped = replace(desired, estate=replace(desired.estate, active_region=REPLICA),
                      revision="f1ipped")
    converge(reconciler(aws, clock, region=REPLICA), flipped, clock)
    (entry,) = [e for e in _history(aws, REPLICA, capsys=capsys)["entries"]
                if e["what"] != "snapshot"]  # the example's policy snapshots every home
    assert (entry["what"], entry["who"], entry["source"], entry["target"], entry["result"]) == (
        "failover", "f1ipped", PRIMARY, REPLICA, "ok")
    assert entry["seconds"] is not None and entry["seconds"] >= 0
    # The flag back home, once the old region is fenced and replicated back into.
    primary = reconciler(aws, clock)
    converge(primary, flipped, clock)
    aws.sync_replication()
    back = replace(desired, revision="b4ck")
    converge(reconciler(aws, clock), back, clock)
    whats = [(e["what"], e["who"]) for e in _history(aws, PRIMARY, capsys=capsys)["entries"]]
    assert ("failback", "b4ck") in whats


def test_a_declined_recreation_is_in_the_history_of_that_profile(aws, tmp_path, capsys):
    desired, rec, clock = _converged(aws, tmp_path, opt_out=True)
    _recreate_bob_behind_the_operators_back(aws)
    rec.reconcile(desired)
    entries = _history(aws, PRIMARY, "--profile", "research/bob", capsys=capsys)["entries"]
    assert [(e["what"], e["result"], e["profile"]) for e in entries] == [
        ("snapshot", "ok", "research/bob"), ("recreation", "declined", "research/bob")]
    assert [e["what"] for e in _history(aws, PRIMARY, "--profile", "research/alice",
                                        capsys=capsys)["entries"]] == ["snapshot"]


def test_since_and_the_text_table(aws, tmp_path, capsys):
    gateway_store = DynamoStatusStore(reconciler(aws).gateway, PRIMARY)
    log = HistoryLog(gateway_store)
    log.append([HistoryEntry(1_000_000_000.0, "restore", "studioctl", PRIMARY, "ok",
                             source="snap-1", target="research/alice\nfake line",
                             profile="research/alice", files=12, bytes=3400, seconds=1.5),
                HistoryEntry(1_900_000_000.0, "prune", "rev2", PRIMARY, "ok",
                             target="UserProfile/research/bob", profile="research/bob")])
    recent = _history(aws, PRIMARY, "--since", "2030-01-01", capsys=capsys)["entries"]
    assert [e["what"] for e in recent] == ["prune"]
    capsys.readouterr()
    assert main(["history", "--region", PRIMARY, "--endpoint-url", aws.endpoint_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["TIME", "WHAT", "RESULT"]
    assert len(lines) == 3, "a newline in a name forges no line"
    assert "research/alice\\nfake line" in lines[1] and "3,400" in lines[1]
    assert main(["history", "--region", PRIMARY, "--endpoint-url", aws.endpoint_url,
                 "--since", "yesterday-ish"]) == 1


def test_entries_older_than_the_retention_are_removed(aws):
    store = DynamoStatusStore(reconciler(aws).gateway, PRIMARY)
    log = HistoryLog(store, retention_days=30)
    log.append([HistoryEntry(1_000_000.0, "prune", "old", PRIMARY, "ok"),
                HistoryEntry(1_000_000.0 + 40 * 86400, "prune", "new", PRIMARY, "ok")])
    assert log.remove_expired(now=1_000_000.0 + 35 * 86400) == 1
    assert [e.who for e in log.entries()] == ["new"]


def test_scheduled_snapshots_and_a_restore_are_in_the_history(aws, tmp_path, capsys):
    folder = copy_example(tmp_path / "desired")
    desired = prepared(aws, load_desired_state(folder))
    clock = ManualClock(1_800_000_000.0)
    rec = reconciler(aws, clock)
    converge(rec, desired, clock)  # every home's first snapshot
    entries = _history(aws, PRIMARY, "--profile", "research/alice", capsys=capsys)["entries"]
    assert [(e["what"], e["result"], e["who"]) for e in entries] == [
        ("snapshot", "ok", desired.revision)]
    assert entries[0]["target"].startswith("s3://studio-snapshots-us-east-1/nightly/home/"
                                           "research/alice/")
    (folder / "restore.yaml").write_text(RESTORE)
    restoring = load_desired_state(folder)
    assert _restore_until_done(rec, restoring, clock)["phase"] == "Succeeded"
    (restore,) = [e for e in _history(aws, PRIMARY, "--profile", "analytics/dave",
                                      capsys=capsys)["entries"] if e["what"] == "restore"]
    assert (restore["result"], restore["who"]) == ("ok", restoring.revision)
    assert restore["source"].startswith("home/research/alice/")
    assert restore["files"] is not None and "Restore/alice-to-dave" in restore["message"]
