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
from .ownership import NO_OWNER, OWNER_KEY, file_tag_of, untag_filename

__all__ = ["Encoder", "ListPage", "Owned", "rewrite_list", "rewrite_object", "take_tag"]

Encoder = Callable[[Kind, str], str]
# For a listing item's owner tag: the encoder for its IDs, or None to leave it out.
Owned = Callable[[str | None], Encoder | None]


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


def take_tag(obj: dict[str, msgspec.Raw], kind: Kind) -> str | None:
    """Remove the router's owner tag from an answer's object; return it (ownership.py).

    A file's tag leads its ``filename``; a batch's or a fine-tuning job's is its
    ``metadata[OWNER_KEY]`` (emptied metadata reads null, as for one created without any;
    an adapter keeping the tag elsewhere, in a label, answers it there).
    """
    if kind == "file":
        raw = obj.get("filename")
        if raw is None:
            return None
        name = _value.decode(raw)
        tag = file_tag_of(name)
        if tag is not None and isinstance(name, str):
            obj["filename"] = msgspec.Raw(_json.encode(untag_filename(name)))
        return tag
    raw = obj.get("metadata")
    if raw is None:
        return None
    meta = _value.decode(raw)
    if not isinstance(meta, dict) or OWNER_KEY not in meta:
        return None
    tag = meta.pop(OWNER_KEY)
    obj["metadata"] = msgspec.Raw(_json.encode(meta or None))
    return tag if isinstance(tag, str) else NO_OWNER


def rewrite_object(body: bytes, kind: Kind, encode: Encoder, *, tagged: bool = False) -> bytes:
    """``body`` with its IDs encoded; ``tagged``: the owner tag removed too."""
    obj = _decode_object(body)
    if tagged:
        take_tag(obj, kind)
    _rewrite(obj, kind, encode)
    return _json.encode(obj)


def tag_of(body: bytes, kind: Kind) -> str | None:
    """The owner tag an answer's object carries (None: none)."""
    return take_tag(_decode_object(body), kind)


@dataclass
class ListPage:
    """A rewritten list page, still open for the router to adjust ``has_more``."""

    obj: dict[str, msgspec.Raw]
    count: int
    has_more: bool
    # The provider IDs: of the upstream page's last item (to continue after), and of the
    # kept items' first and last (encoded), when a filter left items out.
    upstream_last: str | None = None
    items: list[msgspec.Raw] | None = None
    kept_ids: list[str] | None = None

    def set(self, name: str, value: object) -> None:
        self.obj[name] = msgspec.Raw(_json.encode(value))

    def encode(self) -> bytes:
        return _json.encode(self.obj)


def rewrite_list(
    body: bytes, kind: Kind | None, encode: Encoder, owned: Owned | None = None
) -> ListPage:
    """A list page with its IDs encoded. With ``owned``: each item's owner tag is removed and
    decides its encoder, or leaves the item out; ``first_id``/``last_id`` then name kept
    items only (the caller sets them once it has filled its page). ``kind`` None keeps item
    IDs and cursors as they are (events and checkpoints: the job in the path names the
    account)."""
    obj = _decode_object(body)
    items: list[msgspec.Raw] = []
    kept_ids: list[str] = []
    last: str | None = None
    if "data" in obj:
        try:
            raw_items = _items.decode(obj["data"])
        except msgspec.DecodeError:
            raise UpstreamUnavailable("The upstream list answer has no data array.") from None
        for raw in raw_items:
            item = _decode_object(raw)
            item_encode = encode
            if owned is not None and kind is not None:
                pid = _value.decode(item["id"]) if "id" in item else None
                last = pid if isinstance(pid, str) else last
                chosen = owned(take_tag(item, kind))
                if chosen is None:
                    continue
                item_encode = chosen
            _rewrite(item, kind, item_encode)
            if owned is not None:
                kept_ids.append(_value.decode(item["id"]) if "id" in item else "")
            items.append(msgspec.Raw(_json.encode(item)))
        obj["data"] = msgspec.Raw(_json.encode(items))
    has_more = "has_more" in obj and _value.decode(obj["has_more"]) is True
    if owned is not None:
        return ListPage(obj, len(items), has_more, last, items, kept_ids)
    for name in ("first_id", "last_id"):
        if kind is not None and name in obj:
            obj[name] = _encoded(obj[name], kind, encode)
    return ListPage(obj, len(items), has_more)
