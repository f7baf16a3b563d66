"""A private desired-state repository is followed with credentials from Secrets Manager:
an HTTPS token reaches the git server and nothing else (not git's arguments, not an
error, not a log line), an SSH key is used with the host's key checked and removed
afterwards, a rotated token is read again after a failed fetch, and a secret of the
wrong shape is refused saying why, never what it holds."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest

from controller.cli.main import main
from controller.gateway import AwsGateway
from controller.git_credentials import CredentialsError, GitAuth, GitCredentials, parse_secret
from controller.git_credentials import SecretCredentials as Secret
from controller.source import GitSource, SourceError
from tests.converge.git_server import private_repository, url_of

TOKEN = "ghp-very-secret-0123456789"


def _bare_repository(tmp_path: Path) -> tuple[Path, str]:
    work, root = tmp_path / "work", tmp_path / "served"
    (work / "desired_state").mkdir(parents=True)
    (work / "desired_state" / "estate.yaml").write_text("kind: Estate\n")
    for args in (["init", "--quiet", "--initial-branch=main"],
                 ["-c", "user.email=p@example.com", "-c", "user.name=p", "add", "."],
                 ["-c", "user.email=p@example.com", "-c", "user.name=p", "commit", "--quiet",
                  "-m", "estate"]):
        subprocess.run(["git", "-C", str(work), *args], check=True, capture_output=True)
    root.mkdir()
    subprocess.run(["git", "clone", "--quiet", "--bare", str(work), str(root / "estate.git")],
                   check=True, capture_output=True)
    head = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    return root, head


def _secret(aws, value: str, name: str = "estate-git") -> str:
    client = boto3.client("secretsmanager", region_name="us-east-1",
                          endpoint_url=aws.endpoint_url)
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])


def _credentials(aws, arn: str) -> Secret:
    return Secret(AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2), arn, "us-east-1")


@pytest.fixture
def argv_log(tmp_path, monkeypatch) -> Path:
    """Every git command line the controller runs, as the process table would show it."""
    shim, log = tmp_path / "shim", tmp_path / "argv.log"
    shim.mkdir()
    real = subprocess.run(["which", "git"], check=True, capture_output=True,
                          text=True).stdout.strip()
    (shim / "git").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nexec {real} "$@"\n')
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    return log


def test_a_token_from_secrets_manager_fetches_a_private_repository(aws, tmp_path, argv_log):
    root, head = _bare_repository(tmp_path)
    arn = _secret(aws, json.dumps({"username": "ci", "token": TOKEN}))
    with private_repository(root, "ci", TOKEN) as server:
        url = url_of(server, "estate.git")
        with pytest.raises(SourceError) as refused:
            GitSource(url, tmp_path / "anonymous", subdir="desired_state").fetch()
        assert "could not read Username" in str(refused.value), "asked, never prompted"

        source = GitSource(url, tmp_path / "checkout", subdir="desired_state",
                           credentials=_credentials(aws, arn))
        fetched = source.fetch()
        assert fetched.revision == head
        assert (fetched.path / "estate.yaml").read_text() == "kind: Estate\n"
        assert any(h.startswith("Basic ") for h in server.seen[1:])
    assert TOKEN not in argv_log.read_text(), "the token is never on a command line"
    assert "credential.helper=" in argv_log.read_text()
    assert TOKEN not in repr(parse_secret(json.dumps({"token": TOKEN})))
    assert not any(TOKEN in p.read_text(errors="replace")
                   for p in (tmp_path / "checkout" / ".git").rglob("*") if p.is_file()), (
        "nothing in the checkout keeps the token")


def test_a_rejected_token_is_never_shown_and_a_rotated_one_is_read_again(aws, tmp_path):
    root, head = _bare_repository(tmp_path)
    arn = _secret(aws, json.dumps({"username": "ci", "token": "old-" + TOKEN}))
    with private_repository(root, "ci", TOKEN) as server:
        source = GitSource(url_of(server, "estate.git"), tmp_path / "checkout",
                           credentials=_credentials(aws, arn))
        with pytest.raises(SourceError) as rejected:
            source.fetch()
        assert TOKEN not in str(rejected.value)
        boto3.client("secretsmanager", region_name="us-east-1",
                     endpoint_url=aws.endpoint_url).put_secret_value(
            SecretId=arn, SecretString=json.dumps({"username": "ci", "token": TOKEN}))
        assert source.fetch().revision == head


def test_the_run_command_reads_the_secret_at_start_and_never_prints_it(aws, tmp_path, capsys):
    arn = _secret(aws, json.dumps({"sshPrivateKey": f"-----BEGIN KEY-----\n{TOKEN}\n"}))
    code = main(["run", "--desired", "https://git.example.com/estate.git", "--region",
                 "us-east-1", "--endpoint-url", aws.endpoint_url, "--metrics-port", "0",
                 "--git-credentials-secret", arn, "--workdir", str(tmp_path / "w")])
    captured = capsys.readouterr()
    assert code == 1
    assert f"could not use the git credentials in secret {arn}: sshPrivateKey needs " \
           "knownHosts" in captured.err
    assert TOKEN not in captured.out + captured.err
    missing = main(["run", "--desired", "https://git.example.com/estate.git", "--region",
                    "us-east-1", "--endpoint-url", aws.endpoint_url, "--metrics-port", "0",
                    "--git-credentials-secret", "no-such-secret", "--max-attempts", "1"])
    assert missing == 1
    assert "ResourceNotFoundException" in capsys.readouterr().err


def test_an_ssh_key_is_used_with_the_hosts_key_checked_and_removed_afterwards(
        aws, tmp_path, monkeypatch):
    shim, seen = tmp_path / "shim", tmp_path / "ssh.json"
    shim.mkdir()
    # A stand-in for ssh: records how git ran it and what the key file looked like, then
    # fails as an unreachable host would.
    (shim / "ssh").write_text(
        "#!/usr/bin/env python3\nimport json, os, stat, sys\n"
        "args = sys.argv[1:]\nkey = args[args.index('-i') + 1]\n"
        "hosts = [a.split('=', 1)[1] for a in args if a.startswith('UserKnownHostsFile=')][0]\n"
        f"json.dump({{'args': args, 'key_mode': stat.S_IMODE(os.stat(key).st_mode),"
        f"'dir_mode': stat.S_IMODE(os.stat(os.path.dirname(key)).st_mode),"
        f"'key': open(key).read(), 'hosts': open(hosts).read(), 'dir': os.path.dirname(key)}},"
        f" open({str(seen)!r}, 'w'))\nsys.exit(255)\n")
    (shim / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    key = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{TOKEN}\n-----END OPENSSH PRIVATE KEY-----"
    hosts = "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"
    arn = _secret(aws, json.dumps({"sshPrivateKey": key, "knownHosts": hosts}))
    source = GitSource("git@git.example.com:platform/estate.git", tmp_path / "checkout",
                       credentials=_credentials(aws, arn))
    with pytest.raises(SourceError) as failed:
        source.fetch()
    assert TOKEN not in str(failed.value)
    used = json.loads(seen.read_text())
    assert "StrictHostKeyChecking=yes" in used["args"] and "BatchMode=yes" in used["args"]
    assert (used["key_mode"], used["dir_mode"]) == (0o600, 0o700)
    assert (used["key"], used["hosts"]) == (key + "\n", hosts + "\n")
    assert not Path(used["dir"]).exists(), "the key is removed once the fetch is over"


@pytest.mark.parametrize(("secret", "url", "why"), [
    ("", "https://h/r.git", "the secret is empty"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nx", "git@h:r.git", "a bare SSH key"),
    ('{"user": "x"}', "https://h/r.git", "neither token (or password) nor sshPrivateKey"),
    ('{"token": "t"}', "http://git.example.com/r.git", "sent over https only"),
    ('{"sshPrivateKey": "k", "knownHosts": "h k"}', "https://h/r.git", "holds an SSH key"),
])
def test_a_secret_that_cannot_be_used_is_refused_saying_why(secret, url, why):
    with pytest.raises(CredentialsError) as refused:
        GitAuth(parse_secret(secret), url).close()
    assert why in str(refused.value)


def test_a_plain_token_uses_the_default_user_name():
    assert parse_secret(f"  {TOKEN}\n") == GitCredentials("x-access-token", TOKEN)
    assert parse_secret(json.dumps({"password": TOKEN})).token == TOKEN
