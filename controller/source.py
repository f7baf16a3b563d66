"""Where desired state comes from: a local folder, or a git repository that is polled.

A source hands out (revision, folder) pairs; validating what is in the folder is the
caller's job (controller.desired). For git the revision is the commit sha and the
folder is a checkout of exactly that commit (the git CLI does the work: no hand-written
git). For a folder the revision is the content hash the loader computes.

A private repository is read with credentials (controller.git_credentials), asked for
at the first fetch and again after a fetch fails (a rotated token is picked up without
a restart); they go to git only through its environment and a credential helper or an
SSH key file, and git's error output is shown with them taken out.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from controller.git_credentials import CredentialsError, GitAuth, GitCredentials, redact

_URL = re.compile(r"^(https?://|ssh://|git@|file://)|\.git/?$")


@dataclass(frozen=True)
class Fetched:
    revision: str | None  # None: let the loader hash the content
    path: Path


class Source(Protocol):
    description: str

    def fetch(self) -> Fetched:
        """The newest revision available (may be the same as last time)."""


class SourceError(Exception):
    """The source could not be read (git unreachable, folder missing); retry later."""


class FolderSource:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = f"folder {self.path}"

    def fetch(self) -> Fetched:
        if not self.path.exists():
            raise SourceError(f"{self.path} does not exist")
        return Fetched(None, self.path)


class GitSource:
    """A branch of a git repository, fetched into `workdir` and checked out there."""

    def __init__(self, url: str, workdir: Path, branch: str = "main", subdir: str = "",
                 timeout: float = 60.0,
                 credentials: Callable[[], GitCredentials] | None = None) -> None:
        self.url = url
        self.branch = branch
        self.subdir = subdir.strip("/")
        self.workdir = workdir
        self.timeout = timeout
        self.description = f"git {url} branch {branch}" + (f" folder {self.subdir}"
                                                           if self.subdir else "")
        self._credentials = credentials
        self._auth: GitAuth | None = None

    def fetch(self) -> Fetched:
        if not (self.workdir / ".git").is_dir():
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._git("init", "--quiet")
        try:
            self._git("fetch", "--quiet", "--depth=1", "--no-tags", self.url,
                      f"+refs/heads/{self.branch}:refs/remotes/source/{self.branch}",
                      auth=self._authenticate())
        except SourceError:
            self.close()  # read the credentials again next time: they may have rotated
            raise
        sha = self._git("rev-parse", f"refs/remotes/source/{self.branch}").strip()
        self._git("checkout", "--quiet", "--force", "--detach", sha)
        # Files left from an older revision (deleted since) must not be read.
        self._git("clean", "--quiet", "-fdx")
        path = self.workdir / self.subdir if self.subdir else self.workdir
        return Fetched(sha, path)

    def close(self) -> None:
        """Forget the credentials (and remove an SSH key's folder)."""
        if self._auth is not None:
            self._auth.close()
            self._auth = None

    def _authenticate(self) -> GitAuth | None:
        if self._credentials is None or self._auth is not None:
            return self._auth
        try:
            self._auth = GitAuth(self._credentials(), self.url)
        except CredentialsError as error:
            raise SourceError(f"git credentials: {error}") from None
        except Exception as error:  # the secret could not be read: say so, not what it is
            raise SourceError(f"git credentials could not be read: {type(error).__name__}: "
                              f"{error}") from None
        return self._auth

    def _git(self, *args: str, auth: GitAuth | None = None) -> str:
        config = [part for option in (auth.config if auth else []) for part in ("-c", option)]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(auth.env if auth else {})}
        shown = auth.credentials if auth else None
        try:
            done = subprocess.run(["git", *config, "-C", str(self.workdir), *args],
                                  capture_output=True, text=True, timeout=self.timeout,
                                  check=False, env=env)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SourceError(redact(f"git {args[0]}: {error}", shown)) from None
        if done.returncode != 0:
            raise SourceError(redact(f"git {args[0]} failed: {done.stderr.strip()[:500]}",
                                     shown))
        return done.stdout


def is_git_url(desired: str) -> bool:
    return bool(_URL.search(desired))


def open_source(desired: str, workdir: Path, branch: str = "main", subdir: str = "",
                credentials: Callable[[], GitCredentials] | None = None) -> Source:
    """A GitSource for a URL (https://, ssh://, git@, file://, or ending in .git), else a
    folder (credentials are for git only)."""
    if is_git_url(desired):
        return GitSource(desired, workdir, branch, subdir, credentials=credentials)
    return FolderSource(desired)
