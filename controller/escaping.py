r"""One escaping for names in line-oriented output (text reports, lists, status messages).

A file name may hold any byte but "/" and NUL: a newline in it would forge a line (a
fake "error:" or summary line) in a report read line by line. Every name (and every
message that may quote one) is written through `escape` before it goes into a line;
JSON and structured logs carry the exact name instead.

The escaping is C-style, with a backslash:

- a backslash becomes `\\`; newline, tab and carriage return become `\n`, `\t`, `\r`;
- any other character that is not printable (control characters, format characters such
  as right-to-left overrides, line and paragraph separators, unassigned code points)
  becomes `\xHH` below U+0080, else `\uHHHH` or `\UHHHHHHHH`, by its code point;
- a byte that is not valid UTF-8 (kept by Python as a lone surrogate) becomes `\xHH`
  of that byte (always 80 to ff, so never mistaken for a character).

Everything else, including spaces and printable non-ASCII letters, is kept as it is.
`unescape` is the exact inverse (for tools that read these lines back). This module does
no I/O.
"""

from __future__ import annotations

import re

_NAMED = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_UNNAMED = {value: key for key, value in _NAMED.items()}
_SURROGATE_BYTES = range(0xDC80, 0xDD00)  # os.fsdecode's surrogateescape of bytes >= 0x80
_ESCAPE = re.compile(r"\\(\\|n|t|r|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def escape(text: str) -> str:
    """`text` with no character that could end or disguise a line (see the module)."""
    if text.isprintable() and "\\" not in text:
        return text  # the usual case, one pass in C
    return "".join(_escape_char(char) for char in text)


def _escape_char(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    if char.isprintable():
        return char
    point = ord(char)
    if point in _SURROGATE_BYTES:
        return f"\\x{point - 0xDC00:02x}"
    if point < 0x80:
        return f"\\x{point:02x}"
    if point < 0x10000:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def unescape(text: str) -> str:
    """The exact text `escape` was given (bytes >= 0x80 come back as surrogates, as
    os.fsdecode gives them, so os.fsencode returns the name's bytes)."""
    return _ESCAPE.sub(_unescape_match, text)


def _unescape_match(match: re.Match[str]) -> str:
    code = match.group(1)
    if code in ("\\", "n", "t", "r"):
        return _UNNAMED["\\" + code]
    point = int(code[1:], 16)
    if code[0] == "x" and point >= 0x80:
        return chr(0xDC00 + point)  # a byte that was not UTF-8
    return chr(point)
