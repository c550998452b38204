"""Owner tags kept by a provider in a place of its own (a label, a name) rather than in the
``metadata`` the router sets: read from a batch create body, handed back in an answer.

An adapter that keeps them declares ``Provider.keeps_owner_tags`` (base.py); ownership.py
says what the tags are and how the handlers set and strip them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..ownership import FILE_TAG, OWNER_KEY

__all__ = ["owner_metadata", "owner_tag_of"]


def owner_tag_of(body: Mapping[str, Any]) -> str | None:
    """The owner tag the router put in a batch create body (``metadata[OWNER_KEY]``), for an
    adapter that keeps it in its provider's own place (a label, a name)."""
    metadata = body.get("metadata")
    tag = metadata.get(OWNER_KEY) if isinstance(metadata, Mapping) else None
    return tag if isinstance(tag, str) and FILE_TAG.fullmatch(f"fro-{tag}.") else None


def owner_metadata(tag: str | None) -> dict[str, str] | None:
    """The answer's ``metadata`` handing a kept owner tag back to the router (None: none)."""
    return None if tag is None else {OWNER_KEY: tag}
