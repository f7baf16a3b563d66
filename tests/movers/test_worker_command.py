"""`studioctl worker` as a task runs it: a job from a file or S3, its report to a file or
S3, exit 0 only when the job is done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from controller.movers import CopyJob, MoverReport, SaveJob, job_to_json
from tests.movers.conftest import client
from tests.movers.test_local_mover import make_tree, snapshot_of

ROOT = Path(__file__).resolve().parents[2]


def worker(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "controller.cli.main", "worker", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_a_job_from_a_file_reports_to_a_file(tmp_path):
    make_tree(tmp_path / "mnt/fs-aaaa1111")
    (tmp_path / "mnt/fs-bbbb2222").mkdir()
    (tmp_path / "job.json").write_text(job_to_json(CopyJob("fs-aaaa1111", "fs-bbbb2222",
                                                           "working_copy")))
    done = worker("--job", str(tmp_path / "job.json"), "--report", str(tmp_path / "r.json"),
                  "--efs-root", str(tmp_path / "mnt"))
    assert done.returncode == 0, done.stderr
    report = MoverReport.from_json((tmp_path / "r.json").read_text())
    assert report.engine == "worker" and report.files > 0 and report.ok
    assert snapshot_of(tmp_path / "mnt/fs-bbbb2222") == snapshot_of(tmp_path / "mnt/fs-aaaa1111")


def test_a_refused_job_exits_1_with_a_report_that_says_why(tmp_path):
    (tmp_path / "mnt/fs-bbbb2222").mkdir(parents=True)
    os.symlink("/etc", tmp_path / "mnt/fs-aaaa1111")  # a root that is a link: never followed
    (tmp_path / "job.json").write_text(job_to_json(SaveJob("fs-aaaa1111", "fs-bbbb2222", "f")))
    done = worker("--job", str(tmp_path / "job.json"), "--report", str(tmp_path / "r.json"),
                  "--efs-root", str(tmp_path / "mnt"))
    assert done.returncode == 1
    report = MoverReport.from_json((tmp_path / "r.json").read_text())
    assert report.errors and report.errors[0].startswith("refused:")
    assert not list((tmp_path / "mnt/fs-bbbb2222").iterdir())


def test_an_unreadable_job_exits_1_without_a_traceback(tmp_path):
    (tmp_path / "job.json").write_text(json.dumps({"version": 1, "kind": "rm -rf"}))
    done = worker("--job", str(tmp_path / "job.json"), "--report", str(tmp_path / "r.json"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "cannot read the job" in done.stderr and not (tmp_path / "r.json").exists()


def test_job_and_report_through_s3(aws, tmp_path):
    s3 = client(aws, "s3", "us-east-1")
    s3.create_bucket(Bucket="jobs")
    make_tree(tmp_path / "mnt/fs-aaaa1111")
    (tmp_path / "mnt/fs-bbbb2222").mkdir()
    s3.put_object(Bucket="jobs", Key="j.json", Body=job_to_json(
        CopyJob("fs-aaaa1111", "fs-bbbb2222", "working_copy")).encode())
    done = worker("--job", "s3://jobs/j.json", "--report", "s3://jobs/r/1.json",
                  "--efs-root", str(tmp_path / "mnt"), "--region", "us-east-1",
                  "--endpoint-url", aws.endpoint_url,
                  env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    assert done.returncode == 0, done.stderr
    body = s3.get_object(Bucket="jobs", Key="r/1.json")["Body"].read()
    assert MoverReport.from_json(body).ok
