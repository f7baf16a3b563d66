"""The multipart writer's memory bound and its parts, through the emulator's S3: parts
are filled in reused buffers, so what it holds stays (IN_FLIGHT + 1) x part size however
much is written and however the producer cuts its chunks."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

from controller.snapshots import s3stream
from controller.snapshots.s3stream import IN_FLIGHT, PART_SIZE, MultipartWriter
from tests.snapshots.helpers import BUCKET


def test_memory_stays_within_the_part_buffers_and_the_object_is_exact(s3):
    block = os.urandom(1 << 20)
    writer = MultipartWriter(s3, BUCKET, "snapshots/w/archive.tar.zst")
    expected = hashlib.sha256()
    held = []  # bytes the writer's module holds (the emulator shares this process)
    only_writer = [tracemalloc.Filter(True, s3stream.__file__)]
    tracemalloc.start()
    try:
        for index in range(72):  # 9 parts; odd chunk sizes cross part boundaries
            chunk = memoryview(block)[: (1 << 20) - 4093 * (index % 3)]
            writer.write(chunk)
            expected.update(chunk)
            if index % 6 == 5:
                snapshot = tracemalloc.take_snapshot().filter_traces(only_writer)
                held.append(sum(stat.size for stat in snapshot.statistics("filename")))
        parts = writer.complete()
    finally:
        tracemalloc.stop()
    assert max(held) <= (IN_FLIGHT + 1) * PART_SIZE + (1 << 20), held
    assert max(held) >= 2 * PART_SIZE  # it did hold parts: the measure sees them
    assert [p.number for p in parts] == list(range(1, len(parts) + 1))
    assert all(p.size == PART_SIZE for p in parts[:-1]) and 0 < parts[-1].size <= PART_SIZE
    assert sum(p.size for p in parts) == writer.bytes_written
    stored = s3.get_object(Bucket=BUCKET, Key="snapshots/w/archive.tar.zst")["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == expected.hexdigest()
    offset = 0
    for part in parts:
        assert hashlib.sha256(stored[offset:offset + part.size]).hexdigest() == part.sha256
        offset += part.size


def test_an_empty_stream_is_one_empty_part(s3):
    writer = MultipartWriter(s3, BUCKET, "snapshots/e/archive.tar.zst")
    parts = writer.complete()
    assert [(p.number, p.size) for p in parts] == [(1, 0)]
    assert s3.head_object(Bucket=BUCKET, Key="snapshots/e/archive.tar.zst")["ContentLength"] == 0
    assert s3stream.part_size_for(1) == PART_SIZE
