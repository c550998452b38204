"""A batch row's ``custom_id`` carried in the Vertex request's ``labels``.

Vertex batch prediction keeps nothing of an input row but its ``request``, and its output
lines are not in input order; the request (its ``labels`` included) is echoed into every
output line, so that is where the ``custom_id`` travels. The format is LiteLLM's, so jobs
made by either side read back on the other: BerriAI/litellm issue 14044 (no custom_id in
Vertex output), PR 22723 (an ``instanceConfig.keyField`` mapping, closed unmerged), PR 25627
(merged: these labels), as ``_set_litellm_batch_custom_id_labels`` and
``_get_litellm_batch_custom_id_from_labels`` in ``litellm/llms/vertex_ai/files/transformation.py``
write and read them:

- ``litellm_custom_id``: lowercased, every character outside ``[a-z0-9_-]`` made ``_``, cut
  to 63 characters; readable in billing exports, and lossy;
- ``litellm_custom_id_raw``, ``litellm_custom_id_raw_1``, ...: the UTF-8 custom_id in
  base32, lowercase, unpadded, cut into pieces of 59 characters, each written ``b32_<piece>``.

Google's rules for labels on a generateContent call (the 64-label limit, 63-character keys
and values, lowercase letters, international letters, digits, ``_`` and ``-``):
https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/add-labels-to-api-calls
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Mapping

__all__ = [
    "LOSSY_KEY",
    "MAX_LABELS",
    "RAW_KEY",
    "custom_id_from_labels",
    "custom_id_labels",
    "label_problem",
]

LOSSY_KEY = "litellm_custom_id"
RAW_KEY = "litellm_custom_id_raw"
RAW_PREFIX = "b32_"
MAX_LABELS = 64
MAX_LENGTH = 63
PIECE = MAX_LENGTH - len(RAW_PREFIX)  # 59 base32 characters per label value

_LOSSY = re.compile(r"[^a-z0-9_-]")
_RAW_INDEX = re.compile(r"[1-9][0-9]*")
# Letters in Unicode's lowercase and caseless categories, marks that belong to them, digits.
_ALLOWED = frozenset({"Ll", "Lo", "Lm", "Mn", "Mc", "Nd", "Nl", "No"})
_FIRST = frozenset({"Ll", "Lo"})


def lossy_value(custom_id: str) -> str:
    return _LOSSY.sub("_", custom_id.lower())[:MAX_LENGTH]


def raw_values(custom_id: str) -> list[str]:
    encoded = base64.b32encode(custom_id.encode()).decode("ascii").rstrip("=").lower()
    if len(encoded) <= PIECE:  # custom_ids up to 36 bytes: one piece (most rows)
        return [RAW_PREFIX + encoded]
    return [RAW_PREFIX + encoded[i : i + PIECE] for i in range(0, len(encoded), PIECE)]


def custom_id_labels(custom_id: str) -> dict[str, str]:
    """The labels that carry ``custom_id``, in LiteLLM's format."""
    labels = {LOSSY_KEY: lossy_value(custom_id)}
    for index, value in enumerate(raw_values(custom_id)):
        labels[RAW_KEY if index == 0 else f"{RAW_KEY}_{index}"] = value
    return labels


def is_reserved(key: str) -> bool:
    return key.startswith(LOSSY_KEY)


def _fits(text: str, *, key: bool) -> bool:
    if len(text) > MAX_LENGTH or (key and not text):
        return False
    if key and unicodedata.category(text[0]) not in _FIRST:
        return False
    return all(c in "_-" or unicodedata.category(c) in _ALLOWED for c in text)


def label_problem(labels: object) -> str | None:
    """Why a row's own ``labels`` would be refused by Vertex, or None."""
    if not isinstance(labels, dict):
        return "body.labels must be an object of strings"
    for key, value in labels.items():
        if not isinstance(value, str):
            return f"body.labels.{key} must be a string"
        if not _fits(key, key=True):
            return (
                f"body.labels key {key!r} breaks Vertex's label rules (1 to 63 lowercase letters, "
                "digits, '_' or '-', starting with a letter)"
            )
        if not _fits(value, key=False):
            return (
                f"body.labels.{key} value breaks Vertex's label rules (at most 63 lowercase "
                "letters, digits, '_' or '-')"
            )
        if is_reserved(key):
            return f"body.labels key {key!r} is reserved for the row's custom_id"
    return None


def _decode_raw(labels: Mapping[str, object]) -> str | None:
    first = labels.get(RAW_KEY)
    if not isinstance(first, str):
        return None
    extra: dict[int, object] = {}
    for key, value in labels.items():
        suffix = key[len(RAW_KEY) + 1 :] if key.startswith(RAW_KEY + "_") else ""
        if _RAW_INDEX.fullmatch(suffix):
            extra[int(suffix)] = value
    # A missing piece in the middle would still decode, to the wrong text: refuse gaps.
    if sorted(extra) != list(range(1, len(extra) + 1)):
        return None
    pieces = [first] + [extra[i] for i in range(1, len(extra) + 1)]
    if not all(isinstance(p, str) and p.startswith(RAW_PREFIX) for p in pieces):
        return None
    encoded = "".join(str(p)[len(RAW_PREFIX) :] for p in pieces).upper()
    try:
        return base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode()
    except (binascii.Error, ValueError):
        return None


def custom_id_from_labels(labels: object) -> str | None:
    """The custom_id the labels carry: the raw pieces, else the lossy label, else None."""
    if not isinstance(labels, dict):
        return None
    raw = _decode_raw(labels)
    if raw is not None:
        return raw
    lossy = labels.get(LOSSY_KEY)
    return lossy if isinstance(lossy, str) and lossy else None
