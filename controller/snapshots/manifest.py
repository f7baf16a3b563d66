"""A snapshot's manifest, its id and where its objects live in S3. Pure.

A snapshot is one archive of one source (a profile's home, or a share directory) and
its manifest, under `<prefix>/<policy>/<source>/<stamp>/`:

    archive.tar.zst        (unencrypted: `aws s3 cp ... - | zstd -d | tar -x` restores it)
    archive.tar.zst.aes    (encrypted: AES-256-GCM frames, see frames.py)
    manifest.json          written last: a snapshot without it is incomplete, never listed

The id is the path below the prefix, `<policy>/<source>/<stamp>`, with source
`home/<domain>/<profile>/<share>`, `share/<share>[/<domain>]` or `notebook/<name>`:
readable, unambiguous (names are SageMaker names, which have no slash) and enough to
find every object.

A notebook instance's snapshots are made on the instance by the lifecycle script of
controller/notebooks, with the tools the instance has: the same layout and manifest,
compressed with gzip where the instance has no zstd (archive.tar.gz), never with the
client-side frames (S3 server-side encryption with the policy's KMS key instead, which
the manifest's `server_side_encryption` records), and a COMPLETE marker after the
manifest. They are listed, shown and pruned like the controller's own.
This module must not do I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

FORMAT = "studio-operator-snapshot/v1"
MANIFEST_NAME = "manifest.json"
ARCHIVE_NAME = "archive.tar.zst"
ENCRYPTED_ARCHIVE_NAME = "archive.tar.zst.aes"
GZIP_ARCHIVE_NAME = "archive.tar.gz"  # a notebook instance's, where it has no zstd
ARCHIVE_NAMES = (ARCHIVE_NAME, ENCRYPTED_ARCHIVE_NAME, GZIP_ARCHIVE_NAME)
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_NAME = r"[A-Za-z0-9](?:-*[A-Za-z0-9])*"
_SOURCE = rf"(?:home/{_NAME}/{_NAME}/{_NAME}|share/{_NAME}(?:/{_NAME})?|notebook/{_NAME})"
_STAMP = r"\d{8}T\d{6}Z(?:-[0-9a-f]{4,8})?"
SNAPSHOT_ID = re.compile(rf"(?P<policy>{_NAME})/(?P<source>{_SOURCE})/(?P<stamp>{_STAMP})")


class ManifestError(Exception):
    """A manifest that cannot be read or does not describe a usable snapshot."""


def home_source(domain: str, profile: str, share: str) -> str:
    return f"home/{domain}/{profile}/{share}"


def share_source(share: str, domain: str | None = None) -> str:
    return f"share/{share}/{domain}" if domain else f"share/{share}"


def notebook_source(notebook: str) -> str:
    """A NotebookInstance's snapshots (its document's name, whichever instance made them)."""
    return f"notebook/{notebook}"


def stamp_of(epoch: float, suffix: str = "") -> str:
    stamp = datetime.fromtimestamp(epoch, UTC).strftime(STAMP_FORMAT)
    return f"{stamp}-{suffix}" if suffix else stamp


def time_of_stamp(stamp: str) -> float:
    return datetime.strptime(stamp[:16], STAMP_FORMAT).replace(tzinfo=UTC).timestamp()


def snapshot_id(policy: str, source: str, stamp: str) -> str:
    made = f"{policy}/{source}/{stamp}"
    if not SNAPSHOT_ID.fullmatch(made):
        raise ManifestError(f"not a valid snapshot id: {made!r}")
    return made


def parse_id(text: str) -> tuple[str, str, str]:
    """(policy, source, stamp) of a snapshot id; ManifestError when it is not one."""
    match = SNAPSHOT_ID.fullmatch(text)
    if match is None:
        raise ManifestError(f"{text!r} is not a snapshot id (<policy>/home/<domain>/<profile>/"
                            "<share>/<stamp>, <policy>/share/<share>[/<domain>]/<stamp> or "
                            "<policy>/notebook/<name>/<stamp>)")
    return match["policy"], match["source"], match["stamp"]


def object_key(prefix: str, snapshot: str, name: str) -> str:
    return f"{prefix.strip('/')}/{snapshot}/{name}" if prefix.strip("/") else (
        f"{snapshot}/{name}")


def policy_prefix(prefix: str, policy: str) -> str:
    """The key prefix every object of one policy lives under (ends with a slash)."""
    base = prefix.strip("/")
    return f"{base}/{policy}/" if base else f"{policy}/"


def composite_sha256(part_digests: list[str]) -> str:
    """The whole-archive checksum: SHA-256 over the parts' SHA-256 digests, in order
    (S3's composite-checksum idea): any changed, missing, extra or reordered part
    changes it, and it costs no second pass over the data."""
    outer = hashlib.sha256()
    for digest in part_digests:
        outer.update(bytes.fromhex(digest))
    return outer.hexdigest()


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    sha256: str  # hex


@dataclass(frozen=True)
class Source:
    kind: str  # "home", "share" or "notebook"
    file_system: str  # the logical FileSystem name
    file_system_id: str
    path: str  # absolute inside the file system
    region: str
    profile: str | None = None  # "domain/profile" for homes
    share: str | None = None
    domain: str | None = None
    # A notebook instance's snapshot: the NotebookInstance, the instance that made it, and
    # the volume owner's "uid:gid" on its platform (ec2-user: 500 on AL1, 1000 after).
    notebook: str | None = None
    instance: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class Encryption:
    algorithm: str  # "AES-256-GCM"
    key_id: str  # the KMS key ARN that wrapped the data key
    wrapped_key: str  # base64 CiphertextBlob from GenerateDataKey
    stream_id: str  # hex, bound into every frame
    frame_size: int
    context: dict[str, str] = field(default_factory=dict)  # the KMS encryption context


@dataclass(frozen=True)
class Manifest:
    id: str
    policy: str
    source: Source
    created_at: float  # when the archive began (epoch seconds)
    completed_at: float
    revision: str  # the desired-state revision in force
    bucket: str
    archive_key: str
    compression: str  # "zstd"
    compression_level: int
    parts: tuple[Part, ...]
    sha256: str  # composite_sha256 of the parts
    bytes_in: int  # the tar stream's size, before compression
    bytes_out: int  # the stored archive's size
    counts: dict[str, int]  # files, directories, symlinks, hard_links, other
    uids: tuple[int, ...]
    gids: tuple[int, ...]
    encryption: Encryption | None = None
    format: str = FORMAT
    # A notebook instance's: {"algorithm": "aws:kms", "key_id": ...} when S3 encrypted it
    # server-side with the policy's key; and what made the snapshot.
    server_side_encryption: dict[str, str] | None = None
    made_by: str = ""

    def to_json(self) -> str:
        body = asdict(self)
        body["parts"] = [asdict(p) for p in self.parts]
        # The controller's manifests stay as they were: the notebook fields only when set.
        for name in ("server_side_encryption", "made_by"):
            if not body[name]:
                del body[name]
        for name in ("notebook", "instance", "owner"):
            if body["source"][name] is None:
                del body["source"][name]
        return json.dumps(body, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        try:
            body = json.loads(text)
            if body.get("format") != FORMAT:
                raise ManifestError(f"unknown snapshot format {body.get('format')!r}")
            encryption = body.get("encryption")
            manifest = cls(
                id=body["id"], policy=body["policy"], source=Source(**body["source"]),
                created_at=float(body["created_at"]),
                completed_at=float(body["completed_at"]), revision=body["revision"],
                bucket=body["bucket"], archive_key=body["archive_key"],
                compression=body["compression"],
                compression_level=int(body["compression_level"]),
                parts=tuple(Part(int(p["number"]), int(p["size"]), str(p["sha256"]))
                            for p in body["parts"]),
                sha256=body["sha256"], bytes_in=int(body["bytes_in"]),
                bytes_out=int(body["bytes_out"]), counts=dict(body["counts"]),
                uids=tuple(int(u) for u in body["uids"]),
                gids=tuple(int(g) for g in body["gids"]),
                encryption=Encryption(**encryption) if encryption else None,
                server_side_encryption=_sse(body.get("server_side_encryption")),
                made_by=str(body.get("made_by") or ""))
        except ManifestError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ManifestError(f"unreadable manifest: {type(error).__name__}: {error}") from error
        manifest.check()
        return manifest

    def check(self) -> None:
        """The manifest is coherent with itself (its parts add up, its checksum matches)."""
        parse_id(self.id)
        numbers = [p.number for p in self.parts]
        if numbers != list(range(1, len(self.parts) + 1)):
            raise ManifestError(f"{self.id}: parts are not numbered 1..{len(self.parts)}")
        if sum(p.size for p in self.parts) != self.bytes_out:
            raise ManifestError(f"{self.id}: part sizes do not add up to {self.bytes_out}")
        if self.compression not in ("zstd", "gzip"):
            raise ManifestError(f"{self.id}: unknown compression {self.compression!r}")
        if composite_sha256([p.sha256 for p in self.parts]) != self.sha256:
            raise ManifestError(f"{self.id}: the whole-archive checksum does not match its "
                                "parts")

    def summary(self) -> dict[str, Any]:
        """What `snapshot list` shows."""
        summary = {"id": self.id, "created": stamp_of(self.created_at), "bytes": self.bytes_out,
                   "bytesBeforeCompression": self.bytes_in,
                   "files": self.counts.get("files", 0),
                   "encrypted": (self.encryption is not None
                                 or self.server_side_encryption is not None),
                   "source": self.source.path, "fileSystemId": self.source.file_system_id,
                   "region": self.source.region}
        if self.source.kind == "notebook":
            summary.update(notebook=self.source.notebook, instance=self.source.instance,
                           compression=self.compression)
        return summary


def _sse(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ManifestError(f"unreadable server_side_encryption: {value!r}")
    return {str(k): v for k, v in value.items()}
