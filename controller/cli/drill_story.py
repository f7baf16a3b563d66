"""The drill's story, step by step, against the local emulator and two controllers.

Used by `studioctl drill` and by the failover tests. Starts the emulator and one
controller per region (threads, each with its own gateway, status table and work
queue, following the same git repository), then: waits for the primary to converge and
replicate, writes users' files, waits for them to replicate, notes what had not
replicated yet at the flip, flips, and checks the new region. Then failback: a file is
written in the old region after the failover (its Studio was still up), the old
region's controller fences itself and saves that file into a recovery folder on the new
active copy, replication runs back into the old region until it is in sync, the flag is
flipped back, and the old region is checked Ready again.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from controller.clock import SystemClock
from controller.desired import load_desired_state
from controller.emulator import Emulator, prepare_estate, start_emulator
from controller.fencing import RECOVERY_ROOT
from controller.gateway import AwsGateway
from controller.loop.controller import Controller, Timing
from controller.loop.factory import make_reconciler
from controller.loop.workqueue import Backoff
from controller.model import DesiredState
from controller.source import GitSource

T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class DrillResult:
    new_region: str = ""
    checks: list[Check] = field(default_factory=list)
    recovery_seconds: float | None = None
    recorded_recovery_seconds: float = 0.0
    failback_seconds: float | None = None  # flip back commit -> old region Ready again
    recovery_folder: str = ""  # where the old region's late writes were saved

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)


class Drill:
    def __init__(self, repo: Path, data: Path, timeout: float = 120.0,
                 say: Callable[[str], None] = print, latency_model: Any = False) -> None:
        # False: the emulator's own speed; else AWS's (start_emulator's latency_model)
        self.latency_model = latency_model
        self.repo = repo
        self.data = data
        self.timeout = timeout
        self.say = say
        self.controllers: dict[str, Controller] = {}
        self.emulator: Emulator | None = None  # while the drill runs

    def run(self, flip: Callable[[], str], failback: bool = True) -> DrillResult:
        desired = load_desired_state(self.repo / "desired_state")
        result = DrillResult()
        emulator = start_emulator(self.data / "aws", replication_interval_seconds=0.5,
                                  latency_model=self.latency_model)
        self.emulator = emulator
        threads: list[threading.Thread] = []
        try:
            prepare_estate(emulator.endpoint_url, desired, emulator.efs_root)
            for region in desired.estate.regions:
                self._start(emulator, region, threads)
            primary = desired.estate.active_region
            self.say(f"controllers running for {', '.join(desired.estate.regions)}; "
                     f"{primary} is active")
            self._wait(f"{primary} converged", lambda: self._all_ready(primary, desired))
            written = self._write_users_files(emulator, desired, primary)
            self.say(f"wrote {len(written)} files into users' homes in {primary}")
            replica_root = self._wait("the files replicated",
                                      lambda: self._replica_root(emulator, desired, written))
            behind = _not_replicated(self._mount(emulator, primary), replica_root)
            self._stop(primary, threads)
            self.say(f"{primary} goes down (its controller stops)")
            flipped_at = time.monotonic()
            result.new_region = flip()
            self.say(f"committed: activeRegion {result.new_region}")
            new = self.controllers[result.new_region]
            self._wait(f"failover to {result.new_region} complete",
                       lambda: new.reconciler.failover is not None
                       and new.reconciler.failover.record.phase == "Complete")
            result.recovery_seconds = time.monotonic() - flipped_at
            assert new.reconciler.failover is not None
            result.recorded_recovery_seconds = new.reconciler.failover.record.recovery_seconds
            flipped = new.desired
            assert flipped is not None
            result.checks = self._checks(emulator, flipped, result.new_region, primary,
                                         written, behind)
            if failback:
                result.checks += self._failback(emulator, flip, primary, result, written,
                                                threads)
        except TimeoutError as error:
            result.checks.append(Check("drill completed", False, str(error)))
        finally:
            for controller in self.controllers.values():
                controller.stop()
            for thread in threads:
                thread.join(30)
            emulator.stop()
        return result

    def _stop(self, region: str, threads: list[threading.Thread]) -> None:
        self.controllers[region].stop()
        for thread in threads:
            if thread.name == f"controller-{region}":
                thread.join(30)

    def _start(self, emulator: Emulator, region: str, threads: list[threading.Thread]) -> None:
        controller = self._controller(emulator, region)
        self.controllers[region] = controller
        thread = threading.Thread(target=controller.run, name=f"controller-{region}",
                                  daemon=True)
        thread.start()
        threads.append(thread)

    def _failback(self, emulator: Emulator, flip: Callable[[], str], old: str,
                  result: DrillResult, written: list[str],
                  threads: list[threading.Thread]) -> list[Check]:
        """Writes in the old region while it was cut off, its controller back: fencing,
        saving, replication back, flip back."""
        new = result.new_region
        old_root, new_root = self._mount(emulator, old), self._mount(emulator, new)
        home = Path(written[0]).parent
        late = home / "written-in-old-region-after-failover.txt"
        (old_root / late).write_text("the old region was still up for a moment\n")
        fresh = home / f"written-in-{new}.txt"
        (new_root / fresh).write_text("work done in the new region\n")
        owner = os.lstat(old_root / home)
        for root, path in ((old_root, late), (new_root, fresh)):
            os.lchown(root / path, owner.st_uid, owner.st_gid)
        self.say(f"wrote {late.name} in {old} (after the failover) and {fresh.name} in {new}")
        self._start(emulator, old, threads)
        self.say(f"{old} is back (its controller starts)")
        old_controller = self.controllers[old]
        self._wait(f"{old} fenced, its late writes saved, and back in sync with {new}",
                   lambda: old_controller.reconciler.failover is not None
                   and old_controller.reconciler.failover.record.phase == "InSync")
        saved = sorted((new_root / RECOVERY_ROOT).glob(f"*-{old}-*/{late}"))
        result.recovery_folder = str(saved[0].relative_to(new_root)) if saved else ""
        arrived = self._wait(f"{fresh.name} replicated to {old}",
                             lambda: os.path.lexists(old_root / fresh))
        checks = [Check(f"files written in {old} after the failover saved in {new}",
                        bool(saved), result.recovery_folder or "not found"),
                  Check(f"{old} replicates from {new} again", arrived and _fingerprint(
                      old_root / fresh) == _fingerprint(new_root / fresh), f"{fresh} arrived")]
        flipped_back_at = time.monotonic()
        back = flip()
        self.say(f"committed: activeRegion {back} (failback)")
        self._wait(f"failback to {back} complete",
                   lambda: old_controller.reconciler.failover is not None
                   and old_controller.reconciler.failover.record.phase == "Complete"
                   and old_controller.reconciler.failover.record.active_region == back)
        result.failback_seconds = time.monotonic() - flipped_back_at
        desired = old_controller.desired
        assert desired is not None
        checks.append(Check(f"every resource Ready in {back} again",
                            self._all_ready(back, desired),
                            f"{len(desired.profiles)} profiles; "
                            f"{fresh.name} there: {(old_root / fresh).exists()}"))
        return checks

    def _controller(self, emulator: Emulator, region: str) -> Controller:
        clock = SystemClock()
        # throttled calls (with the latency model on) back off and retry, as on AWS
        gateway = AwsGateway(endpoint_url=emulator.endpoint_url, max_attempts=5)
        reconciler = make_reconciler(gateway, region, emulator.efs_root, clock,
                                     backoff=Backoff(base_seconds=0.5, max_seconds=5))
        source = GitSource(f"file://{self.repo}", self.data / f"checkout-{region}", "main",
                           "desired_state")
        return Controller(source, reconciler, clock, Timing(resync_seconds=2, poll_seconds=0.5,
                                                            follow_up_seconds=0.5))

    def _all_ready(self, region: str, desired: DesiredState) -> bool:
        status = self.controllers[region].reconciler.status
        return status is not None and status.all_ready(desired, region)

    def _wait(self, what: str, done: Callable[[], T | None]) -> T:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            value = done()
            if value:
                self.say(what)
                return value
            time.sleep(0.2)
        raise TimeoutError(f"{what}: not within {self.timeout:.0f} s")

    def _write_users_files(self, emulator: Emulator, desired: DesiredState,
                           region: str) -> list[str]:
        root = self._mount(emulator, region)
        written: list[str] = []
        for share_dir in desired.share_directories():
            if share_dir.share != "home":
                continue
            home = root / share_dir.path.lstrip("/")
            notebook = home / "analysis.ipynb"
            notebook.write_text(f'{{"owner": "{share_dir.path}"}}\n')
            (home / ".bashrc").write_text("export PS1='$ '\n")
            (home / "data").mkdir(exist_ok=True)
            (home / "data" / "results.csv").write_text("a,b\n1,2\n")
            os.link(home / "data" / "results.csv", home / "data" / "latest.csv")
            (home / "link-to-notebook").symlink_to("analysis.ipynb")
            for path in (notebook, home / ".bashrc", home / "data", home / "data/results.csv",
                         home / "link-to-notebook"):
                os.lchown(path, share_dir.owner.uid, share_dir.owner.gid)
            os.chmod(notebook, 0o640)
            written += [str(p.relative_to(root)) for p in (
                notebook, home / ".bashrc", home / "data/results.csv",
                home / "data/latest.csv", home / "link-to-notebook")]
        return written

    def mount(self, region: str) -> Path:
        """The folder that stands in for the region's studio-efs mount."""
        assert self.emulator is not None, "only while the drill runs"
        return self._mount(self.emulator, region)

    def _mount(self, emulator: Emulator, region: str) -> Path:
        efs = AwsGateway(endpoint_url=emulator.endpoint_url).client("efs", region)
        for fs in efs.describe_file_systems()["FileSystems"]:
            if fs.get("Name") == "studio-efs":
                return emulator.efs_root / fs["FileSystemId"]
        raise TimeoutError(f"no studio-efs in {region}")

    def _replica_root(self, emulator: Emulator, desired: DesiredState,
                      written: list[str]) -> Path | None:
        try:
            root = self._mount(emulator, desired.estate.standby_region())
        except TimeoutError:
            return None
        return root if all((root / p).exists() or (root / p).is_symlink()
                           for p in written) else None

    def _checks(self, emulator: Emulator, desired: DesiredState, region: str, old: str,
                written: list[str], behind: list[str]) -> list[Check]:
        source, target = self._mount(emulator, old), self._mount(emulator, region)
        mismatched = [p for p in written if _fingerprint(source / p) != _fingerprint(target / p)]
        checks = [Check("files arrived with the same content, owner and mode",
                        not mismatched, f"{len(written) - len(mismatched)} of {len(written)}"
                        + (f"; differ: {', '.join(mismatched[:5])}" if mismatched else "")),
                  Check("nothing was still to replicate at the flip", not behind,
                        "all replicated" if not behind else
                        f"not yet replicated: {', '.join(behind[:5])}")]
        links = [p for p in written if p.endswith("latest.csv")]
        same_inode = all(os.lstat(target / p).st_ino == os.lstat(
            target / p.replace("latest.csv", "results.csv")).st_ino for p in links)
        checks.append(Check("hard links are still links", same_inode, f"{len(links)} groups"))
        ready = self._all_ready(region, desired)
        checks.append(Check(f"every resource Ready in {region}", ready,
                            f"{len(desired.profiles)} profiles, {len(desired.domains)} domains"))
        sagemaker = AwsGateway(endpoint_url=emulator.endpoint_url).client("sagemaker", region)
        domains = {d["DomainName"]: d["DomainId"] for d in sagemaker.list_domains()["Domains"]}
        wrong = []
        for key, profile in sorted(desired.profiles.items()):
            settings = sagemaker.describe_user_profile(
                DomainId=domains[profile.domain], UserProfileName=profile.name)["UserSettings"]
            posix = settings.get("CustomPosixUserConfig", {})
            if (posix.get("Uid"), posix.get("Gid")) != (profile.posix.uid, profile.posix.gid):
                wrong.append(key)
        checks.append(Check("profiles have the same POSIX ids", not wrong,
                            "all match" if not wrong else ", ".join(wrong)))
        return checks


def _not_replicated(source: Path, replica: Path) -> list[str]:
    """Files (and links) the source holds that the replica does not hold the same yet."""
    behind: list[str] = []
    for folder, dirs, files in os.walk(source):  # never follows links to directories
        for name in sorted(files + [d for d in dirs if os.path.islink(Path(folder, d))]):
            path = Path(folder, name)
            rel = path.relative_to(source)
            mine = os.lstat(path)
            try:
                theirs = os.lstat(replica / rel)
            except FileNotFoundError:
                behind.append(str(rel))
                continue
            if (mine.st_size, mine.st_mtime_ns, stat.S_IFMT(mine.st_mode)) != (
                    theirs.st_size, theirs.st_mtime_ns, stat.S_IFMT(theirs.st_mode)):
                behind.append(str(rel))
    return sorted(behind)


def _fingerprint(path: Path) -> tuple[object, ...]:
    info = os.lstat(path)
    content = os.readlink(path) if stat.S_ISLNK(info.st_mode) else path.read_bytes()
    return (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), content)
