"""Encryption off the feeding thread: the multipart writer's upload threads seal the
parts, and the stream they make is the one frames.py documents, byte for byte, so an
archive sealed before (frame by frame, on the feeding thread) still restores and one
sealed now restores with anything that read the old ones. A frame moved or dropped is
refused before anything is written, even when the manifest was rewritten to match."""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import tracemalloc
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from controller.snapshots import frames, s3stream
from controller.snapshots.frames import FRAME_SIZE, MAGIC, Opener, PartSealer
from controller.snapshots.manifest import Part, composite_sha256, object_key
from controller.snapshots.restore import SnapshotRefused
from controller.snapshots.s3stream import IN_FLIGHT, PART_SIZE, MultipartWriter
from controller.snapshots.snapshot import take_snapshot
from tests.snapshots.helpers import BUCKET, PREFIX, generate_tree, listing
from tests.snapshots.test_refusals import _restore
from tests.snapshots.test_round_trip import request

KEY, STREAM = bytes(range(32)), b"s" * 16


def sealed_frame_by_frame(plain: bytes) -> bytes:
    """The layout frames.py documents, written out plainly (as the feeding thread's
    sealer made it before): magic, then frames of FRAME_SIZE bytes, the last one 1 to
    FRAME_SIZE bytes (empty only for an empty stream) and flagged last; nonce and
    additional data from the frame's index."""
    aead, out = AESGCM(KEY), bytearray(MAGIC)
    count = max(1, -(-len(plain) // FRAME_SIZE))
    for index in range(count):
        last = index == count - 1
        aad = MAGIC + STREAM + index.to_bytes(8, "big") + (b"\1" if last else b"\0")
        sealed = aead.encrypt(b"\0" * 4 + index.to_bytes(8, "big"),
                              plain[index * FRAME_SIZE:(index + 1) * FRAME_SIZE], aad)
        out += struct.pack(">BI", int(last), len(sealed)) + sealed
    return bytes(out)


class ThreadNotingSealer(PartSealer):
    """The product's sealer, noting which thread sealed each part."""

    def __init__(self) -> None:
        super().__init__(KEY, STREAM)
        self.threads: list[str] = []

    def seal_into(self, offset: int, plain: memoryview, last: bool, out: bytearray) -> int:
        self.threads.append(threading.current_thread().name)
        return super().seal_into(offset, plain, last, out)


@pytest.mark.parametrize("size", [0, 5, FRAME_SIZE, 2 * PART_SIZE, 2 * PART_SIZE + 3 * FRAME_SIZE
                                  + 12_345], ids=["empty", "tiny", "one-frame",
                                                  "whole-parts", "ragged"])
def test_the_upload_threads_seal_the_documented_frame_stream(s3, size):
    plain = os.urandom(size)
    sealer = ThreadNotingSealer()
    writer = MultipartWriter(s3, BUCKET, f"snapshots/s/{size}", transform=sealer)
    position = 0
    while position < size:  # odd chunk sizes: parts are cut across them
        step = 777_777 if position % 2 else 1 << 20
        writer.write(memoryview(plain)[position:position + step])
        position += step
    parts = writer.complete()
    stored = s3.get_object(Bucket=BUCKET, Key=f"snapshots/s/{size}")["Body"].read()
    assert stored == sealed_frame_by_frame(plain)
    assert sealer.threads and all(name.startswith("s3-part") for name in sealer.threads)
    assert sum(p.size for p in parts) == len(stored)
    offset = 0
    for part in parts:  # each part's checksum is of what was uploaded: the sealed bytes
        assert hashlib.sha256(stored[offset:offset + part.size]).hexdigest() == part.sha256
        offset += part.size
    opener = Opener(KEY, STREAM)
    assert b"".join(opener.update(stored)) == plain
    opener.finish()


def test_a_part_off_a_frame_boundary_is_refused_rather_than_sealed_wrong():
    sealer, out = PartSealer(KEY, STREAM), bytearray(4 * FRAME_SIZE)
    with pytest.raises(ValueError, match="frame boundaries"):
        sealer.seal_into(FRAME_SIZE // 2, memoryview(bytes(FRAME_SIZE)), False, out)
    with pytest.raises(ValueError, match="frame boundaries"):  # short, yet not the last
        sealer.seal_into(FRAME_SIZE, memoryview(bytes(10)), False, out)


def test_sealing_memory_stays_within_the_part_and_output_buffers(s3):
    """Two input buffers (one filling, one waiting for an upload thread) and one output
    buffer per upload thread: nothing grows with the amount written."""
    block = os.urandom(1 << 20)
    writer = MultipartWriter(s3, BUCKET, "snapshots/m/archive.tar.zst.enc",
                             transform=PartSealer(KEY, STREAM))
    held = []
    ours = [tracemalloc.Filter(True, s3stream.__file__), tracemalloc.Filter(True, frames.__file__)]
    tracemalloc.start()
    try:
        for index in range(96):  # 12 parts
            writer.write(block)
            if index % 6 == 5:
                snapshot = tracemalloc.take_snapshot().filter_traces(ours)
                held.append(sum(stat.size for stat in snapshot.statistics("filename")))
        writer.complete()
    finally:
        tracemalloc.stop()
    sealed_part = PART_SIZE + PART_SIZE // FRAME_SIZE * 21 + len(MAGIC)
    assert max(held) <= (IN_FLIGHT + 2) * sealed_part + (1 << 20), held
    assert max(held) >= 3 * PART_SIZE  # it did hold parts and outputs: the measure sees them


def _frames(body: bytes) -> list[bytes]:
    found, position = [], len(MAGIC)
    while position < len(body):
        _, length = struct.unpack_from(">BI", body, position)
        found.append(body[position:position + 5 + length])
        position += 5 + length
    return found


@pytest.mark.parametrize("damage", ["moved", "dropped", "duplicated"])
def test_a_frame_moved_dropped_or_repeated_is_refused_before_anything_is_written(
        s3, kms, kms_key, mount, damage):
    """Whoever changes the frames also rewrites the manifest's checksums to match: the
    frames' authentication alone refuses the stream."""
    generate_tree(mount / "home/research/alice", files=300, mib=6)
    manifest = take_snapshot(s3, kms, request("/home/research/alice", kms_key=kms_key), mount)
    body = s3.get_object(Bucket=BUCKET, Key=manifest.archive_key)["Body"].read()
    found = _frames(body)
    assert len(found) >= 3
    if damage == "moved":
        found[0], found[1] = found[1], found[0]
    elif damage == "dropped":
        del found[1]
    else:
        found.insert(1, found[0])
    changed = MAGIC + b"".join(found)
    s3.put_object(Bucket=BUCKET, Key=manifest.archive_key, Body=changed)
    parts = (Part(1, len(changed), hashlib.sha256(changed).hexdigest()),)
    rewritten = replace(manifest, parts=parts, bytes_out=len(changed),
                        sha256=composite_sha256([parts[0].sha256]))
    s3.put_object(Bucket=BUCKET, Key=object_key(PREFIX, manifest.id, "manifest.json"),
                  Body=rewritten.to_json().encode())
    with pytest.raises(SnapshotRefused, match="authentication"):
        _restore(s3, kms, rewritten, mount)
    assert listing(mount / "home/analytics/dave") == {}
