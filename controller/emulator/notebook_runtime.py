"""What a notebook instance is in local mode: a folder for its volume, and its lifecycle
scripts run for real.

On AWS an instance's ML storage volume is mounted at /home/ec2-user/SageMaker, owned by
ec2-user (uid 500 on Amazon Linux 1 platforms, 1000 on Amazon Linux 2 and later), and its
lifecycle scripts run as root with PATH=/sbin:bin:/usr/sbin:/usr/bin, each for at most 5
minutes, while the instance is Pending. Here each instance has a folder

    <data dir>/notebook-instances/<account>/<region>/<name>/
        SageMaker/        the volume (owned by the platform's ec2-user ids when run as root)
        metadata/resource-metadata.json   {"ResourceArn", "ResourceName"}, as on the instance
        state/            the instance's own disk: scripts keep their state here
        logs/<hook>.log   what each lifecycle script printed (CloudWatch Logs on AWS)

and each script runs as `bash <script>` in a session of its own, as the emulator's user,
with the instance's fixed paths given through the variables the operator's scripts read
(STUDIO_OPERATOR_VOLUME, STUDIO_OPERATOR_METADATA_FILE, STUDIO_OPERATOR_STATE_DIR,
STUDIO_OPERATOR_EC2_USER) and the emulator standing in for the instance's network and
role (AWS_ENDPOINT_URL, dummy credentials, the region). What a script leaves running in
the background belongs to the instance: stopping or deleting the instance ends every
process of that session, as a stopped machine would. This module must not answer API
calls or decide statuses; sagemaker_notebooks.py does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The PATH AWS documents for notebook lifecycle scripts (CreateNotebookInstanceLifecycleConfig).
AWS_SCRIPT_PATH = "/sbin:bin:/usr/sbin:/usr/bin"
# ec2-user's POSIX ids per platform generation: the write-ups' 500 -> 1000 remapping.
# "Lifecycle configuration scripts cannot run for longer than 5 minutes" (API reference).
DEFAULT_SCRIPT_TIMEOUT = 300.0
EC2_USER_IDS = {"al1": (500, 500), "al2": (1000, 1000), "al2023": (1000, 1000)}


def platform_generation(platform: str) -> str:
    """notebook-al2-v3 -> "al2"; the generation decides ec2-user's ids and what an
    in-place platform update may change."""
    return platform.removeprefix("notebook-").rsplit("-", 1)[0]


@dataclass(frozen=True)
class ScriptOutcome:
    ok: bool
    seconds: float
    reason: str = ""


class NotebookRuntime:
    """Folders and processes of the local notebook instances."""

    def __init__(self, root: Path, endpoint_url: str,
                 script_timeout_seconds: float = DEFAULT_SCRIPT_TIMEOUT) -> None:
        self.root = Path(root)
        self.endpoint_url = endpoint_url
        self.script_timeout_seconds = script_timeout_seconds
        self._lock = threading.Lock()
        self._sessions: dict[str, set[int]] = {}  # instance folder -> session ids

    def folder(self, account: str, region: str, name: str) -> Path:
        return self.root / account / region / name

    def volume(self, account: str, region: str, name: str) -> Path:
        return self.folder(account, region, name) / "SageMaker"

    def prepare(self, account: str, region: str, name: str, arn: str, platform: str) -> Path:
        """A new instance's folders: an empty volume owned by its platform's ec2-user."""
        folder = self.folder(account, region, name)
        if folder.exists():  # an instance of the same name deleted earlier
            shutil.rmtree(folder)
        for part in ("SageMaker", "metadata", "state", "logs"):
            (folder / part).mkdir(parents=True, exist_ok=True)
        (folder / "metadata" / "resource-metadata.json").write_text(
            json.dumps({"ResourceArn": arn, "ResourceName": name}), encoding="utf-8")
        if os.geteuid() == 0:
            uid, gid = EC2_USER_IDS.get(platform_generation(platform), (1000, 1000))
            os.chown(folder / "SageMaker", uid, gid)
        return folder

    def run_script(self, account: str, region: str, name: str, hook: str, script: bytes,
                   platform: str) -> ScriptOutcome:
        """Run one lifecycle script to its end, or kill the instance's processes when it
        overruns the time limit (the instance then fails to start, as on AWS)."""
        folder = self.folder(account, region, name)
        path = folder / "state" / f"lifecycle-{hook}.sh"
        path.write_bytes(script)
        uid, gid = EC2_USER_IDS.get(platform_generation(platform), (1000, 1000))
        env = {
            "PATH": _script_path(),
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "STUDIO_OPERATOR_VOLUME": str(folder / "SageMaker"),
            "STUDIO_OPERATOR_METADATA_FILE": str(folder / "metadata" / "resource-metadata.json"),
            "STUDIO_OPERATOR_STATE_DIR": str(folder / "state"),
            "STUDIO_OPERATOR_EC2_USER": f"{uid}:{gid}",
            "TMPDIR": str(folder / "state"),
        }
        started = time.monotonic()
        # The script's output is a pipe, read to its end: a job the script leaves in the
        # background still holding it keeps the hook running (the stricter reading of
        # how AWS collects the output for CloudWatch Logs), so background jobs must
        # redirect their output, as the lifecycle config samples do.
        process = subprocess.Popen(["bash", str(path)], cwd=folder / "state", env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        with self._lock:
            self._sessions.setdefault(str(folder), set()).add(process.pid)
        assert process.stdout is not None
        reader = threading.Thread(target=_copy_to, args=(process.stdout, folder / "logs" /
                                                         f"{hook}.log"), daemon=True)
        reader.start()
        deadline = started + self.script_timeout_seconds
        try:
            code = process.wait(timeout=self.script_timeout_seconds)
        except subprocess.TimeoutExpired:
            code = None
        reader.join(max(0.0, deadline - time.monotonic()))
        if code is None or reader.is_alive():
            self.stop_processes(account, region, name)
            process.wait()
            reader.join()
            limit = self.script_timeout_seconds
            shown = f"{limit / 60:g} minutes" if limit >= 60 else f"{limit:g} seconds"
            return ScriptOutcome(False, time.monotonic() - started, f"took longer than {shown}")
        seconds = time.monotonic() - started
        if code != 0:
            return ScriptOutcome(False, seconds, f"exited with status {code}")
        return ScriptOutcome(True, seconds)

    def stop_processes(self, account: str, region: str, name: str) -> int:
        """End everything the instance's scripts started; returns how many processes."""
        with self._lock:
            sessions = self._sessions.pop(str(self.folder(account, region, name)), set())
        return _kill_sessions(sessions)

    def remove(self, account: str, region: str, name: str) -> None:
        self.stop_processes(account, region, name)
        shutil.rmtree(self.folder(account, region, name), ignore_errors=True)

    def stop_all(self) -> int:
        """End every instance's processes (the emulator stops)."""
        with self._lock:
            sessions = {sid for ids in self._sessions.values() for sid in ids}
            self._sessions.clear()
        return _kill_sessions(sessions)

    def reset(self) -> None:
        self.stop_all()
        self.script_timeout_seconds = DEFAULT_SCRIPT_TIMEOUT
        shutil.rmtree(self.root, ignore_errors=True)


def _copy_to(stream: Any, path: Path) -> None:
    with stream, open(path, "ab") as log:
        while chunk := stream.read1(65536):
            log.write(chunk)
            log.flush()


def _script_path() -> str:
    """AWS's PATH, plus where this machine's aws CLI lives (the instance has one)."""
    found = shutil.which("aws")
    extra = [str(Path(found).parent)] if found else []
    return ":".join([AWS_SCRIPT_PATH, *extra])


def _kill_sessions(sessions: set[int]) -> int:
    """SIGKILL every process whose session is one of `sessions` (a script's background
    jobs make process groups of their own, but stay in its session)."""
    if not sessions:
        return 0
    killed: set[int] = set()
    for _attempt in range(20):
        found = [pid for pid in _pids() if _session_of(pid) in sessions]
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    return len(killed)


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _session_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: read after it.
    fields = text[text.rfind(")") + 2:].split()
    return int(fields[3]) if len(fields) > 3 else None
