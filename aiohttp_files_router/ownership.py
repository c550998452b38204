"""Who owns an object, with no database: tags of the owner in IDs and in the provider's objects.

An owner is a team (``keys[].team``, a JWT's team claim, a host's ``Identity.team``) or, for a
key without a team, that key alone. The router never writes the owner's name anywhere: it
writes tags, HMAC-SHA256 of the owner under ``files_router.id_secret`` (128 bits, as hex, so a
tag fits every provider's label and metadata alphabet). The same tag goes in two places:

- the ``;own,`` field of a signed ID (ids.py), checked with no upstream call;
- the provider's own object, for listings and raw provider IDs. The router always writes its
  tag first (the no-owner tag for a creator without one), so a client-chosen filename or
  metadata that imitates another team's tag is never read as the owner.

Where an upstream tag lives is the same for every provider, in the OpenAI shape the adapters
answer with: a batch's ``metadata[OWNER_KEY]``, and a file's ``filename`` prefixed with
``fro-<tag>.``. An adapter declares ``Provider.keeps_owner_tags`` when it stores both and gives
them back in its answers; the handlers add them on create and strip them from every answer.

Several secrets (rotation): the first writes, every one is accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "FILE_TAG",
    "NO_OWNER",
    "OWNER_KEY",
    "file_tag_of",
    "is_sealed",
    "open_cursor",
    "owner_tags",
    "seal_cursor",
    "tagged_filename",
    "untag_filename",
]

# A batch's metadata key holding the owner's tag: 18 characters, the tag 32 (each adapter
# that keeps tags says where its provider's limits are; providers/base.py).
OWNER_KEY = "files_router_owner"
# The tag written for an object whose creator has no owner (the master key, an open router):
# a client's own filename or metadata can then never stand in the tag's place.
NO_OWNER = "0" * 32
FILE_TAG = re.compile(r"fro-([0-9a-f]{32})\.")


def _tag(secret: str, owner: str) -> str:
    msg = f"files_router owner\x00{owner}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()[:32]


def tagged_filename(filename: str, tag: str) -> str:
    """The filename stored upstream: the router's tag first, whatever the client named."""
    return f"fro-{tag}.{filename}"


def file_tag_of(filename: Any) -> str | None:
    """The tag a stored filename starts with (only the first: the router's own)."""
    if not isinstance(filename, str):
        return None
    m = FILE_TAG.match(filename)
    return m[1] if m else None


def untag_filename(filename: str) -> str:
    """The filename as the client named it."""
    m = FILE_TAG.match(filename)
    return filename[m.end() :] if m else filename


def owner_tags(owner: str, secrets: Sequence[str]) -> tuple[str, ...]:
    """``owner``'s tag under each secret (the first is the one written)."""
    return tuple(_tag(s, owner) for s in secrets)


# A listing's cursor when a filtered page came back empty: it must say where the scan
# stopped without naming the object there (another team's). Sealed with AES-GCM under a key
# derived from the first id_secret, bound to the caller's tag: opaque to everyone, and useless
# to another team. The prefix keeps the kind's, so clients pass it on as any cursor.
_SEALED = "frc."


def _cursor_key(secret: str) -> AESGCM:
    key = HKDF(hashes.SHA256(), 32, None, b"files_router list cursor").derive(secret.encode())
    return AESGCM(key)


def seal_cursor(prefix: str, secret: str, tag: str, route: str, position: str) -> str:
    """An opaque cursor: continue the listing of ``route`` after ``position``."""
    nonce = os.urandom(12)
    text = f"{route}\x00{position}".encode()
    sealed = _cursor_key(secret).encrypt(nonce, text, tag.encode())
    return prefix + _SEALED + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


def is_sealed(value: str, prefix: str) -> bool:
    return value.startswith(prefix + _SEALED)


def open_cursor(
    value: str, prefix: str, secrets: Sequence[str], tags: Sequence[str]
) -> tuple[str, str] | None:
    """(route, position) of a sealed cursor this caller was given; None otherwise."""
    payload = value[len(prefix + _SEALED) :]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 12 + 16:
        return None
    for secret in secrets:
        aead = _cursor_key(secret)
        for tag in tags:
            try:
                text = aead.decrypt(raw[:12], raw[12:], tag.encode()).decode()
            except (InvalidTag, UnicodeDecodeError):
                continue
            route, _, position = text.partition("\x00")
            return route, position
    return None
