"""Authenticated encryption of a snapshot stream: AES-256-GCM in numbered frames.

Layout: the 8-byte magic, then frames. A frame is a 1-byte flag (0: more follow, 1:
the last), a 4-byte big-endian length, and that many bytes of ciphertext with its
16-byte tag. Each frame seals at most FRAME_SIZE bytes of plaintext under the
snapshot's own data key (a fresh one from KMS GenerateDataKey per snapshot), with the
nonce made of the frame's index, so no nonce is used twice under one key. The
additional authenticated data binds the stream id (from the manifest), the index and
the flag: frames cannot be dropped, reordered, moved between snapshots or marked last
early, and a stream that ends without its last frame is refused (truncation).

Sealing works part by part (PartSealer): a part's nonce range is fixed by where the part
starts, so the multipart writer's upload threads seal their parts side by side, off the
thread that reads the archive. The cryptography comes from the `cryptography` package;
nothing here is hand-rolled.
This module must not do I/O or know about S3 or KMS.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"STSNAPE1"
FRAME_SIZE = 1 << 20
TAG_SIZE = 16
_HEADER = struct.Struct(">BI")
ALGORITHM = "AES-256-GCM"


class FrameError(Exception):
    """The encrypted stream is damaged, tampered with, truncated or has trailing data."""


def _nonce(index: int) -> bytes:
    return b"\0\0\0\0" + index.to_bytes(8, "big")


def _aad(stream_id: bytes, index: int, last: bool) -> bytes:
    return MAGIC + stream_id + index.to_bytes(8, "big") + (b"\1" if last else b"\0")


class PartSealer:
    """Seals the stream one part at a time, each part on whichever thread uploads it.

    A part is a slice of the plaintext that starts on a frame boundary: its frames'
    indexes (so their nonces) follow from its offset alone, so parts can be sealed in
    any order and at once; only the last part (its last frame flagged last) must be
    known as such when it is sealed. The first part carries the magic. The bytes are
    exactly those a frame-by-frame pass over the whole stream would give: every frame
    holds FRAME_SIZE bytes but the last, which holds 1 to FRAME_SIZE (0 only when the
    whole stream is empty).
    """

    def __init__(self, key: bytes, stream_id: bytes) -> None:
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)
        self._stream_id = stream_id

    def sealed_size(self, offset: int, length: int, last: bool) -> int:
        """The size of the part of `length` plaintext bytes at `offset` once sealed."""
        self._check(offset, length, last)
        frames = max(1, -(-length // FRAME_SIZE))
        return (len(MAGIC) if offset == 0 else 0) + frames * (_HEADER.size + TAG_SIZE) + length

    def seal_into(self, offset: int, plain: memoryview, last: bool, out: bytearray) -> int:
        """Seal the part `plain` (at `offset` of the plaintext) into `out`, which holds at
        least sealed_size(...) bytes; returns the bytes written. Each frame is sealed
        straight into `out` (AESGCM.encrypt_into: no copy of the ciphertext, and the
        GIL is released for frames this large)."""
        self._check(offset, len(plain), last)
        position = 0
        if offset == 0:
            out[:len(MAGIC)] = MAGIC
            position = len(MAGIC)
        view = memoryview(out)
        index = offset // FRAME_SIZE
        start = 0
        while True:
            end = min(start + FRAME_SIZE, len(plain))
            final = last and end == len(plain)
            body = position + _HEADER.size
            _HEADER.pack_into(out, position, 1 if final else 0, end - start + TAG_SIZE)
            self._aead.encrypt_into(_nonce(index), plain[start:end],
                                    _aad(self._stream_id, index, final),
                                    view[body:body + end - start + TAG_SIZE])
            position = body + end - start + TAG_SIZE
            index, start = index + 1, end
            if start >= len(plain):
                return position

    @staticmethod
    def _check(offset: int, length: int, last: bool) -> None:
        # A part off a frame boundary, or a short part that is not the last, would give
        # the next part's frames the wrong indexes: refuse rather than seal a bad stream.
        if offset % FRAME_SIZE or (not last and (length % FRAME_SIZE or not length)) or (
                last and not length and offset):
            raise ValueError(f"a part of {length} bytes at {offset} is not on frame "
                             "boundaries")


class Opener:
    """The reverse of PartSealer: ciphertext in any chunk sizes, authenticated plaintext out.

    Plaintext is released one whole frame at a time, only after its tag verified.
    `finish()` refuses a stream whose last frame never came.
    """

    def __init__(self, key: bytes, stream_id: bytes) -> None:
        self._aead = AESGCM(key)
        self._stream_id = stream_id
        self._index = 0
        self._buffer = bytearray()
        self._magic_seen = False
        self._done = False

    def update(self, data: bytes | memoryview) -> Iterator[bytes]:
        # Frames are cut from the buffer by an offset, the rest kept once at the end:
        # deleting each frame from the front would move the rest of the part every time.
        self._buffer += data
        position = 0
        if not self._magic_seen:
            if len(self._buffer) < len(MAGIC):
                return
            if bytes(self._buffer[:len(MAGIC)]) != MAGIC:
                raise FrameError("not an encrypted snapshot stream (wrong magic)")
            position = len(MAGIC)
            self._magic_seen = True
        view = memoryview(self._buffer)
        try:
            while len(self._buffer) - position >= _HEADER.size:
                if self._done:
                    raise FrameError("data after the last frame")
                flag, length = _HEADER.unpack_from(self._buffer, position)
                if flag not in (0, 1) or length > FRAME_SIZE + TAG_SIZE or length < TAG_SIZE:
                    raise FrameError(f"frame {self._index}: malformed header")
                end = position + _HEADER.size + length
                if len(self._buffer) < end:
                    break
                sealed = view[position + _HEADER.size:end]
                position = end
                try:
                    plain = self._aead.decrypt(_nonce(self._index), sealed,
                                               _aad(self._stream_id, self._index, flag == 1))
                except InvalidTag as error:
                    raise FrameError(f"frame {self._index} failed authentication (tampered, "
                                     "reordered, or another snapshot's)") from error
                finally:
                    sealed.release()
                self._index += 1
                self._done = flag == 1
                yield plain
        finally:
            view.release()
            del self._buffer[:position]

    def finish(self) -> None:
        if not self._done or self._buffer:
            raise FrameError("the encrypted stream is truncated: its last frame is missing"
                             if not self._done else "data after the last frame")


def sealed_size(plain_size: int) -> int:
    """The size of the framed stream for `plain_size` bytes of plaintext."""
    frames = max(1, -(-plain_size // FRAME_SIZE))
    return len(MAGIC) + frames * (_HEADER.size + TAG_SIZE) + plain_size
