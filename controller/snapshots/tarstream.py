"""A strict reader of the tar streams snapshots hold (POSIX pax, as GNU tar writes them).

It turns a byte stream into entries (name, type, owner, mode, nanosecond mtime, link
target, xattrs, ACL text, sparse map) and the data of each regular file, read in order
without seeking. It understands exactly what `tar --format=posix` produces (ustar
headers, pax extended headers, GNU sparse format 1.0) plus GNU long names; anything else
is refused with a message rather than guessed. Names are returned as raw bytes, never
interpreted as paths: deciding what a name may do is the extractor's job (extract.py).
This module must not touch the file system.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

BLOCK = 512
MAX_META = 1 << 20  # a pax header or long name larger than this is refused
READ_SIZE = 1 << 20

REGULAR, HARD_LINK, SYMLINK, CHAR_DEVICE, BLOCK_DEVICE, DIRECTORY, FIFO = (
    "file", "hardlink", "symlink", "chardev", "blockdev", "directory", "fifo")
_TYPES = {b"0": REGULAR, b"\0": REGULAR, b"7": REGULAR, b"1": HARD_LINK, b"2": SYMLINK,
          b"3": CHAR_DEVICE, b"4": BLOCK_DEVICE, b"5": DIRECTORY, b"6": FIFO}


class TarFormatError(Exception):
    """The stream is not a tar archive this reader accepts (or it is cut short)."""


@dataclass
class Entry:
    name: bytes
    type: str
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    size: int  # bytes of data that follow in the stream (the stored size)
    real_size: int  # the file's size (differs for sparse files)
    link: bytes = b""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)
    acl_access: str | None = None
    acl_default: str | None = None
    # For sparse files: (offset, length) of each data region, in stream order.
    sparse: list[tuple[int, int]] | None = None


def _number(field_bytes: bytes, what: str) -> int:
    if field_bytes and field_bytes[0] & 0x80:  # GNU base-256 for values octal cannot hold
        value = int.from_bytes(field_bytes, "big", signed=False) & ~(
            0x80 << (8 * (len(field_bytes) - 1)))
        return value
    text = field_bytes.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError as error:
        raise TarFormatError(f"bad {what} field {text[:20]!r}") from error


def _checksum_ok(header: bytes) -> bool:
    stored = header[148:156]
    # The checksum field counts as eight spaces: one sum over the block, less the field.
    unsigned = sum(header) - sum(stored) + 8 * 32
    return _number(stored, "checksum") == unsigned


def _time_ns(text: bytes) -> int:
    whole, _, fraction = text.decode("ascii").partition(".")
    sign = -1 if whole.startswith("-") else 1
    fraction = (fraction + "000000000")[:9]
    if not whole.lstrip("-").isdigit() or not fraction.isdigit():
        raise TarFormatError(f"bad pax time {text[:40]!r}")
    return sign * (abs(int(whole)) * 1_000_000_000 + int(fraction))


def parse_pax(data: bytes) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    position = 0
    while position < len(data):
        if data[position] == 0:
            break
        space = data.find(b" ", position)
        if space < 0:
            raise TarFormatError("malformed pax record")
        try:
            length = int(data[position:space])
        except ValueError as error:
            raise TarFormatError("malformed pax record length") from error
        record = data[space + 1:position + length]
        if length <= 0 or position + length > len(data) or not record.endswith(b"\n"):
            raise TarFormatError("malformed pax record")
        key, equals, value = record[:-1].partition(b"=")
        if not equals:
            raise TarFormatError("pax record without '='")
        records[key.decode("utf-8", "surrogateescape")] = value
        position += length
    return records


class TarReader:
    """Iterate entries; for a regular file, read its data with `read_data` before the
    next entry (data left unread is skipped)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        # What was read from the stream and not yet used: one buffer and an offset into
        # it, so that a header or a small file's data is a slice, not a call down the
        # stream's layers (about six per entry: they were a third of a restore's time).
        self._buffer = b""
        self._offset = 0
        self._left = 0  # data bytes of the current entry not yet read
        self._padding = 0
        self.bytes_read = 0

    def _more(self) -> bool:
        """Refill the buffer once it is used up; False at the end of the stream."""
        self._buffer, self._offset = self._stream.read(READ_SIZE), 0
        return bool(self._buffer)

    def _read_exact(self, size: int) -> bytes:
        end = self._offset + size
        if end <= len(self._buffer):  # the usual case: it is all in the buffer
            data = self._buffer[self._offset:end]
            self._offset = end
            self.bytes_read += size
            return data
        chunks, wanted = [], size
        while wanted:
            if self._offset >= len(self._buffer) and not self._more():
                raise TarFormatError("the archive ends in the middle of an entry (truncated)")
            chunk = self._buffer[self._offset:self._offset + wanted]
            self._offset += len(chunk)
            chunks.append(chunk)
            wanted -= len(chunk)
        self.bytes_read += size
        return b"".join(chunks)

    def _skip_rest(self) -> None:
        while self._left:
            self.read_data(min(self._left, 1 << 20))
        if self._padding:
            self._read_exact(self._padding)
            self._padding = 0

    def read_data(self, size: int) -> memoryview:
        """Up to `size` bytes of the entry's data, a view into the buffer (fewer when the
        buffer holds fewer: nothing is copied); empty once the entry's data is all read."""
        size = min(size, self._left)
        if size <= 0:
            return memoryview(b"")
        if self._offset >= len(self._buffer) and not self._more():
            raise TarFormatError("the archive ends in the middle of an entry (truncated)")
        data = memoryview(self._buffer)[self._offset:self._offset + size]
        self._offset += len(data)
        self.bytes_read += len(data)
        self._left -= len(data)
        return data

    def _data_block(self) -> bytes:
        """The next whole block of the entry's data (the sparse map is block-aligned)."""
        pieces, wanted = [], BLOCK
        while wanted:
            piece = self.read_data(wanted)
            pieces.append(piece)
            wanted -= len(piece)
        return b"".join(pieces)

    def _meta(self, size: int) -> bytes:
        if size > MAX_META:
            raise TarFormatError(f"an extended header of {size} bytes is too large")
        data = self._read_exact(size)
        pad = -size % BLOCK
        if pad:
            self._read_exact(pad)
        return data

    def __iter__(self) -> Iterator[Entry]:
        pax: dict[str, bytes] = {}
        global_pax: dict[str, bytes] = {}
        long_name: bytes | None = None
        long_link: bytes | None = None
        while True:
            self._skip_rest()
            header = self._read_exact(BLOCK)
            if header == bytes(BLOCK):
                return  # end of archive (the second zero block is not needed)
            if not _checksum_ok(header):
                raise TarFormatError("a header's checksum does not match (not a tar archive, "
                                     "or damaged)")
            flag = header[156:157]
            size = _number(header[124:136], "size")
            if flag == b"x":
                pax.update(parse_pax(self._meta(size)))
                continue
            if flag == b"g":
                global_pax.update(parse_pax(self._meta(size)))
                continue
            if flag == b"L":
                long_name = self._meta(size).rstrip(b"\0")
                continue
            if flag == b"K":
                long_link = self._meta(size).rstrip(b"\0")
                continue
            kind = _TYPES.get(flag)
            if kind is None:
                raise TarFormatError(f"entry type {flag!r} is not supported")
            records = {**global_pax, **pax}
            entry = self._entry(header, kind, size, records, long_name, long_link)
            pax, long_name, long_link = {}, None, None
            self._left = entry.size if kind == REGULAR else 0
            self._padding = -self._left % BLOCK if kind == REGULAR else 0
            if kind != REGULAR and size:
                # Only regular files carry data in the archives we read.
                self._left, self._padding = size, -size % BLOCK
                self._skip_rest()
            if entry.sparse is not None:
                entry.sparse = self._sparse_map()
            yield entry

    def _entry(self, header: bytes, kind: str, size: int, records: dict[str, bytes],
               long_name: bytes | None, long_link: bytes | None) -> Entry:
        name = header[:100].split(b"\0", 1)[0]
        prefix = header[345:500].split(b"\0", 1)[0]
        if header[257:262] == b"ustar" and prefix:
            name = prefix + b"/" + name
        name = records.get("path", long_name or name)
        link = records.get("linkpath", long_link or header[157:257].split(b"\0", 1)[0])
        uid = int(records["uid"]) if "uid" in records else _number(header[108:116], "uid")
        gid = int(records["gid"]) if "gid" in records else _number(header[116:124], "gid")
        size = int(records["size"]) if "size" in records else size
        mtime_ns = (_time_ns(records["mtime"]) if "mtime" in records
                    else _number(header[136:148], "mtime") * 1_000_000_000)
        device = kind in (CHAR_DEVICE, BLOCK_DEVICE)
        entry = Entry(name=name, type=kind, mode=_number(header[100:108], "mode") & 0o7777,
                      uid=uid, gid=gid, mtime_ns=mtime_ns, size=size, real_size=size,
                      link=link,
                      devmajor=_number(header[329:337], "devmajor") if device else 0,
                      devminor=_number(header[337:345], "devminor") if device else 0)
        for key, value in records.items():
            if key.startswith("SCHILY.xattr."):
                entry.xattrs[key[len("SCHILY.xattr."):]] = value
        if "SCHILY.acl.access" in records:
            entry.acl_access = records["SCHILY.acl.access"].decode("utf-8", "replace")
        if "SCHILY.acl.default" in records:
            entry.acl_default = records["SCHILY.acl.default"].decode("utf-8", "replace")
        major = records.get("GNU.sparse.major")
        if major is not None:
            if (major, records.get("GNU.sparse.minor")) != (b"1", b"0"):
                raise TarFormatError("only GNU sparse format 1.0 is supported")
            entry.name = records.get("GNU.sparse.name", entry.name)
            entry.real_size = int(records["GNU.sparse.realsize"])
            entry.sparse = []
        return entry

    def _sparse_map(self) -> list[tuple[int, int]]:
        """GNU sparse 1.0: decimal numbers, one per line, at the start of the data, padded
        to a block: the count, then offset and length of each region."""
        text = b""
        numbers: list[int] = []
        wanted: int | None = None
        while wanted is None or len(numbers) < 1 + 2 * wanted:
            if self._left < BLOCK:
                raise TarFormatError("sparse map runs past the entry")
            text += self._data_block()
            *lines, text = text.split(b"\n")
            for line in lines:
                if wanted is not None and len(numbers) >= 1 + 2 * wanted:
                    break  # the map is complete: the rest of the block is padding
                if not line.isdigit() or len(line) > 20:
                    raise TarFormatError("malformed sparse map")
                numbers.append(int(line))
                if wanted is None:
                    wanted = numbers[0]
                    if wanted > 1_000_000:
                        raise TarFormatError("sparse map too long")
            if len(text) > 20 and (wanted is None or len(numbers) < 1 + 2 * wanted):
                raise TarFormatError("malformed sparse map")
        regions = [(numbers[1 + 2 * i], numbers[2 + 2 * i]) for i in range(wanted)]
        if sum(length for _, length in regions) != self._left:
            raise TarFormatError("sparse map does not match the entry's data")
        return regions
