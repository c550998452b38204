"""Rewrite the ID fields of a provider's JSON answer; every other byte is kept.

Objects are decoded to ``dict[str, msgspec.Raw]``: only the ID fields are touched, the rest
of the provider's answer (fields we do not know included) is re-emitted verbatim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from .errors import UpstreamUnavailable
from .ids import Kind
from .jsoncodec import ANY as _value
from .jsoncodec import ENCODER as _json
from .jsoncodec import RAW_ITEMS as _items
from .jsoncodec import RAW_OBJECT as _object

__all__ = ["Encoder", "ListPage", "rewrite_list", "rewrite_object"]

Encoder = Callable[[Kind, str], str]


FILE_ID_FIELDS = ("input_file_id", "output_file_id", "error_file_id")
# A fine-tuning job's files, and the job a checkpoint belongs to.
TUNING_FILE_FIELDS = ("training_file", "validation_file")
FILE_LIST_FIELDS = ("result_files",)
JOB_ID_FIELD = "fine_tuning_job_id"


def _decode_object(body: bytes | msgspec.Raw) -> dict[str, msgspec.Raw]:
    try:
        return _object.decode(body)
    except (msgspec.DecodeError, RecursionError):
        raise UpstreamUnavailable("The upstream account answered with malformed JSON.") from None


def _encoded(raw: msgspec.Raw, kind: Kind, encode: Encoder) -> msgspec.Raw:
    value = _value.decode(raw)
    if isinstance(value, str) and value:
        return msgspec.Raw(_json.encode(encode(kind, value)))
    return raw


def _encoded_list(raw: msgspec.Raw, kind: Kind, encode: Encoder) -> msgspec.Raw:
    value = _value.decode(raw)
    if not isinstance(value, list):
        return raw
    return msgspec.Raw(
        _json.encode([encode(kind, v) if isinstance(v, str) and v else v for v in value])
    )


def _rewrite(obj: dict[str, msgspec.Raw], kind: Kind | None, encode: Encoder) -> None:
    """``kind`` None: the object's own ``id`` is not one we route by (a job's event or
    checkpoint), kept as the provider wrote it."""
    if kind is not None and "id" in obj:
        obj["id"] = _encoded(obj["id"], kind, encode)
    for name in FILE_ID_FIELDS:
        if name in obj:
            obj[name] = _encoded(obj[name], "file", encode)
    if kind == "fine_tuning_job" or JOB_ID_FIELD in obj:
        for name in TUNING_FILE_FIELDS:
            if name in obj:
                obj[name] = _encoded(obj[name], "file", encode)
        for name in FILE_LIST_FIELDS:
            if name in obj:
                obj[name] = _encoded_list(obj[name], "file", encode)
        if JOB_ID_FIELD in obj:
            obj[JOB_ID_FIELD] = _encoded(obj[JOB_ID_FIELD], "fine_tuning_job", encode)


def rewrite_object(body: bytes, kind: Kind, encode: Encoder) -> bytes:
    obj = _decode_object(body)
    _rewrite(obj, kind, encode)
    return _json.encode(obj)


@dataclass
class ListPage:
    """A rewritten list page, still open for the router to adjust ``has_more``."""

    obj: dict[str, msgspec.Raw]
    count: int
    has_more: bool

    def set(self, name: str, value: object) -> None:
        self.obj[name] = msgspec.Raw(_json.encode(value))

    def encode(self) -> bytes:
        return _json.encode(self.obj)


def rewrite_list(body: bytes, kind: Kind | None, encode: Encoder) -> ListPage:
    """A list page's items rewritten; ``kind`` None keeps item IDs and cursors as they are
    (events and checkpoints: the job in the path already names the account)."""
    obj = _decode_object(body)
    items: list[msgspec.Raw] = []
    if "data" in obj:
        try:
            raw_items = _items.decode(obj["data"])
        except msgspec.DecodeError:
            raise UpstreamUnavailable("The upstream list answer has no data array.") from None
        for raw in raw_items:
            item = _decode_object(raw)
            _rewrite(item, kind, encode)
            items.append(msgspec.Raw(_json.encode(item)))
        obj["data"] = msgspec.Raw(_json.encode(items))
    for name in ("first_id", "last_id"):
        if kind is not None and name in obj:
            obj[name] = _encoded(obj[name], kind, encode)
    has_more = "has_more" in obj and _value.decode(obj["has_more"]) is True
    return ListPage(obj, len(items), has_more)
