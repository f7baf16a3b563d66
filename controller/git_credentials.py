"""Git credentials for a private desired-state repository, from AWS Secrets Manager.

The secret's SecretString is one of:
  {"username": "ci", "token": "..."}       HTTPS (also "password"; username defaults to
  "a plain token"                           x-access-token, which GitHub, GitLab and
                                            Bitbucket accept with a token)
  {"sshPrivateKey": "-----BEGIN ...", "knownHosts": "<host> <key type> <key>"}
                                            SSH; knownHosts is required: the host's key is
                                            always checked, never trusted on first use.

Secrets never reach an argument list, a URL, a log line or a repr: HTTPS credentials go
to git through a credential helper that reads them from the git process's environment,
an SSH key through a file only root can read, in a folder only root can enter, removed
on close. A token is sent only over https (or to a loopback address: tests and local
mode). `redact` takes them out of any text that is shown (git's own error output).
The secret is read through the gateway; this module must not log.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from controller.gateway import AwsGateway

DEFAULT_USERNAME = "x-access-token"
_USER_ENV, _TOKEN_ENV = "STUDIO_OPERATOR_GIT_USERNAME", "STUDIO_OPERATOR_GIT_TOKEN"
# git runs this with "get", "store" or "erase"; only "get" answers, from the environment.
_HELPER = (f'!f() {{ test "$1" = get || exit 0; echo "username=${{{_USER_ENV}}}"; '
           f'echo "password=${{{_TOKEN_ENV}}}"; }}; f')


class CredentialsError(Exception):
    """The secret cannot be used (wrong shape, or wrong for the repository's URL)."""


@dataclass(frozen=True)
class GitCredentials:
    username: str = ""
    token: str = field(default="", repr=False)
    ssh_private_key: str = field(default="", repr=False)
    known_hosts: str = field(default="", repr=False)

    @property
    def kind(self) -> str:
        return "ssh" if self.ssh_private_key else "https"

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.token, self.ssh_private_key) if s)


def parse_secret(text: str) -> GitCredentials:
    """GitCredentials from a SecretString (see the module for the shapes)."""
    stripped = text.strip()
    if not stripped:
        raise CredentialsError("the secret is empty")
    if not stripped.startswith("{"):
        if stripped.startswith("-----BEGIN"):
            raise CredentialsError("the secret is a bare SSH key: store it as JSON with "
                                   "sshPrivateKey and knownHosts (the host's key is checked)")
        return GitCredentials(DEFAULT_USERNAME, stripped)
    try:
        data = json.loads(stripped)
    except ValueError:
        raise CredentialsError("the secret starts with '{' but is not JSON") from None
    if not isinstance(data, dict):
        raise CredentialsError("the secret's JSON must be an object")
    key, hosts = data.get("sshPrivateKey"), data.get("knownHosts")
    token = data.get("token", data.get("password"))
    if key:
        if not hosts:
            raise CredentialsError("sshPrivateKey needs knownHosts (lines as in ~/.ssh/"
                                   "known_hosts: the repository host's public key)")
        return GitCredentials(ssh_private_key=str(key).strip() + "\n",
                              known_hosts=str(hosts).strip() + "\n")
    if token:
        return GitCredentials(str(data.get("username") or DEFAULT_USERNAME), str(token))
    raise CredentialsError("the secret's JSON has neither token (or password) nor "
                           "sshPrivateKey")


def read_git_credentials(gateway: AwsGateway, secret_id: str, region: str) -> GitCredentials:
    """Read and parse the secret (its ARN's region, else `region`). ClientError and
    CredentialsError propagate: the caller says which secret, never what it holds."""
    if secret_id.startswith("arn:"):
        region = secret_id.split(":")[3] or region
    answer = gateway.client("secretsmanager", region).get_secret_value(SecretId=secret_id)
    text = answer.get("SecretString")
    if text is None:
        text = bytes(answer.get("SecretBinary") or b"").decode("utf-8", "replace")
    return parse_secret(text)


class SecretCredentials:
    """The credentials in one secret, read when asked (each time: a rotated secret is
    picked up), except that a read made at start (`prefetch`, to fail fast) is used once."""

    def __init__(self, gateway: AwsGateway, secret_id: str, region: str) -> None:
        self.gateway = gateway
        self.secret_id = secret_id
        self.region = region
        self._ready: GitCredentials | None = None

    def prefetch(self) -> None:
        self._ready = read_git_credentials(self.gateway, self.secret_id, self.region)

    def __call__(self) -> GitCredentials:
        ready, self._ready = self._ready, None
        return ready or read_git_credentials(self.gateway, self.secret_id, self.region)


def redact(text: str, credentials: GitCredentials | None) -> str:
    if credentials is None:
        return text
    for secret in credentials.secrets():
        text = text.replace(secret.strip(), "***")
    return text


class GitAuth:
    """What a git process needs to use the credentials: `config` (-c options, no secret in
    them) and `env`. close() removes the SSH key's folder."""

    def __init__(self, credentials: GitCredentials, url: str) -> None:
        self.credentials = credentials
        self._folder: Path | None = None
        self.config: list[str] = []
        self.env: dict[str, str] = {}
        if credentials.kind == "ssh":
            if _scheme(url) in ("http", "https", "file"):
                raise CredentialsError(f"the secret holds an SSH key, but the repository is "
                                       f"{_scheme(url)}: give its ssh:// or git@ URL")
            self._write_ssh_files()
        else:
            scheme = _scheme(url)
            if scheme != "https" and not (scheme == "http" and _loopback(url)):
                raise CredentialsError(f"the secret holds a token, which is sent over https "
                                       f"only; the repository is {scheme}")
            # An empty helper first: no helper from the system's git config (a keychain,
            # a store) gets these credentials or answers instead.
            self.config = ["credential.helper=", f"credential.helper={_HELPER}"]
            self.env = {_USER_ENV: credentials.username, _TOKEN_ENV: credentials.token}

    def _write_ssh_files(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="studio-operator-ssh-"))  # 0700
        key = self._folder / "key"
        hosts = self._folder / "known_hosts"
        for path, content in ((key, self.credentials.ssh_private_key),
                              (hosts, self.credentials.known_hosts)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
        self.env = {"GIT_SSH_COMMAND": shlex.join([
            "ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={hosts}", "-o", "GlobalKnownHostsFile=/dev/null"])}

    def close(self) -> None:
        if self._folder is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self._folder)
            self._folder = None


def _scheme(url: str) -> str:
    if "://" not in url:
        return "ssh" if "@" in url.split(":", 1)[0] else "file"  # git@host:path, or a path
    return urlsplit(url).scheme.lower()


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
