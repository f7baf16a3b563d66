"""Authenticated encryption of a snapshot stream: AES-256-GCM in numbered frames.

Layout: the 8-byte magic, then frames. A frame is a 1-byte flag (0: more follow, 1:
the last), a 4-byte big-endian length, and that many bytes of ciphertext with its
16-byte tag. Each frame seals at most FRAME_SIZE bytes of plaintext under the
snapshot's own data key (a fresh one from KMS GenerateDataKey per snapshot), with the
nonce made of the frame's index, so no nonce is used twice under one key. The
additional authenticated data binds the stream id (from the manifest), the index and
the flag: frames cannot be dropped, reordered, moved between snapshots or marked last
early, and a stream that ends without its last frame is refused (truncation).

The cryptography comes from the `cryptography` package; nothing here is hand-rolled.
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


class Sealer:
    """Turns plaintext, fed in any chunk sizes, into the framed ciphertext stream."""

    def __init__(self, key: bytes, stream_id: bytes) -> None:
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)
        self._stream_id = stream_id
        self._index = 0
        self._pending = bytearray()
        self._started = False
        self._closed = False

    def update(self, data: bytes | memoryview) -> bytes:
        self._pending += data
        out = bytearray()
        if not self._started:
            out += MAGIC
            self._started = True
        # Keep at least one byte back: the last frame must be known to be the last.
        while len(self._pending) > FRAME_SIZE:
            out += self._frame(bytes(self._pending[:FRAME_SIZE]), last=False)
            del self._pending[:FRAME_SIZE]
        return bytes(out)

    def finish(self) -> bytes:
        if self._closed:
            raise ValueError("already finished")
        self._closed = True
        head = b"" if self._started else MAGIC
        return head + self._frame(bytes(self._pending), last=True)

    def _frame(self, plain: bytes, last: bool) -> bytes:
        sealed = self._aead.encrypt(_nonce(self._index), plain,
                                    _aad(self._stream_id, self._index, last))
        self._index += 1
        return _HEADER.pack(1 if last else 0, len(sealed)) + sealed


class Opener:
    """The reverse of Sealer: ciphertext in any chunk sizes, authenticated plaintext out.

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
