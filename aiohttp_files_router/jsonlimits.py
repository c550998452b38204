"""How deep a caller's JSON may nest: checked before decoding, in linear time.

msgspec recurses per level and stops only at Python's recursion limit, with a RecursionError
(a 500 if nothing catches it); the API's own objects nest a handful of levels.
"""

from __future__ import annotations

import re

__all__ = ["MAX_JSON_DEPTH", "too_deep"]

MAX_JSON_DEPTH = 64
# A JSON string (brackets inside it do not count) or one bracket.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


def too_deep(raw: bytes | bytearray, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``raw`` opens more than ``limit`` arrays/objects inside one another."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # the common case: not even that many brackets in all
    depth = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False
