"""One-off CLI work is in the history like the controller's jobs: `studioctl snapshot
create` and `studioctl restore` (ok or refused) appended with who asked, what, source
and target, files, bytes, duration and result, and listed by `studioctl history`."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys

import boto3

from tests.snapshots.test_cli import BUCKET, REPO, create, estate, studioctl  # noqa: F401

REGION = "us-east-1"


def history(aws, *args: str) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    done = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "history", "--region", REGION,
         "--endpoint-url", aws.endpoint_url, *args],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def _history(aws, *args: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return json.loads(history(aws, "--output", "json", *args).stdout)["entries"]  # type: ignore[no-any-return]


def test_a_snapshot_created_by_hand_is_in_the_history_with_its_os_user(estate, aws):  # noqa: F811
    made = create(aws)
    (entry,) = _history(aws, "--profile", "research/alice")
    assert (entry["what"], entry["result"], entry["who"]) == (
        "snapshot", "ok", f"studioctl:{getpass.getuser()}")
    assert entry["target"] == f"s3://{BUCKET}/{made['id']}"
    assert entry["source"].endswith(":/home/research/alice")
    assert (entry["files"], entry["bytes"]) == (made["files"], made["bytesIn"])
    assert entry["seconds"] is not None and entry["seconds"] >= 0


def test_a_restore_by_hand_and_a_refused_one_are_in_the_history(estate, aws):  # noqa: F811
    made = create(aws)
    done = studioctl(aws, "restore", "--from", made["id"], "--to-profile", "analytics/dave",
                     "--owners", "target", "--requested-by", "ops\nfake line",
                     "--output", "json")
    assert done.returncode != 0 and "--requested-by" in done.stderr, "no line forged"
    done = studioctl(aws, "restore", "--from", made["id"], "--to-profile", "analytics/dave",
                     "--owners", "target", "--requested-by", "carol@example.com",
                     "--output", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    (entry,) = _history(aws, "--profile", "analytics/dave")
    assert (entry["what"], entry["result"], entry["who"], entry["source"]) == (
        "restore", "ok", "studioctl:carol@example.com", made["id"])
    assert entry["target"].endswith(f":/home/analytics/dave/{report['placedIn']}")
    assert (entry["files"], entry["bytes"]) == (report["files"], report["bytes"])
    assert "--owners target" in entry["message"]

    manifest = json.loads(studioctl(aws, "snapshot", "show", made["id"]).stdout)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws.endpoint_url)
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=manifest["archive_key"])["Body"].read())
    body[len(body) // 2] ^= 0x40
    s3.put_object(Bucket=BUCKET, Key=manifest["archive_key"], Body=bytes(body))
    done = studioctl(aws, "restore", "--from", made["id"], "--to-profile", "analytics/dave",
                     "--requested-by", "carol@example.com")
    assert done.returncode == 2
    entries = _history(aws, "--profile", "analytics/dave")
    assert [(e["what"], e["result"]) for e in entries] == [("restore", "ok"),
                                                           ("restore", "refused")]
    assert "SHA-256" in entries[-1]["message"] and entries[-1]["files"] is None

    table = history(aws)
    assert "studioctl:carol@example.com" in table.stdout


def test_no_history_writes_nothing(estate, aws):  # noqa: F811
    done = studioctl(aws, "snapshot", "create", "--profile", "research/alice", "--no-history")
    assert done.returncode == 0, done.stderr
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws.endpoint_url)
    assert dynamodb.list_tables()["TableNames"] == [], "not even a table made for it"
