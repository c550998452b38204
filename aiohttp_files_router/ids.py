"""The ID codec: provider IDs <-> IDs that carry their route.

Format (LiteLLM's): ``file-``, ``batch_`` or ``ftjob-`` + base64url, no padding, of
``litellm:<provider id>;model,<deployment>``. When secrets are configured the text gets
``;sig,<tag>`` appended before encoding: an HMAC-SHA256 over kind, provider id and deployment,
truncated to 128 bits. Pure functions only: no aiohttp, no configuration objects.

A file uploaded to several deployments at once carries every copy: the first pair in
LiteLLM's place, each further one as ``;model<n>,<deployment>;id<n>,<provider id>`` (n = 2..8),
before ``;sig``. LiteLLM reads the first pair and ignores the rest; the signature covers all.

An object that belongs to a team carries ``;own,<tag>`` (an opaque tag of the team, made by
ownership.py) after the copies, before ``;sig``. The signature covers it, so an owner cannot
be moved, stripped or forged; an ID without one (or unsigned) has no owner.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COPY_FIELDS",
    "KIND_PREFIX",
    "MAX_COPIES",
    "InvalidId",
    "Kind",
    "RawId",
    "RoutedId",
    "decode_id",
    "encode_id",
    "kind_prefix",
    "sign",
]

Kind = Literal["file", "batch", "fine_tuning_job"]

_MAGIC = "litellm:"
_MODEL = ";model,"
_SIG = ";sig,"  # our signature field; a deployment name never contains ";"
_OWN = ";own,"
_PREFIXES = ("file-", "batch_", "ftjob-")
# The prefix an ID of each kind gets when its provider ID starts with none of _PREFIXES.
KIND_PREFIX: dict[Kind, str] = {"file": "file-", "batch": "batch_", "fine_tuning_job": "ftjob-"}
_TAG_BYTES = 16
MAX_COPIES = 8
# The extra-pair field names, declared once: ("model2", "id2"), ... ("model8", "id8").
COPY_FIELDS = tuple((f"model{n}", f"id{n}") for n in range(2, MAX_COPIES + 1))


class InvalidId(ValueError):
    """An ID that claims to be ours but cannot be trusted or read."""


@dataclass(frozen=True)
class RawId:
    """A provider's own ID: routed by the request's explicit selectors."""

    provider_id: str


@dataclass(frozen=True)
class RoutedId:
    provider_id: str
    deployment: str
    signed: bool
    # Further (deployment, provider id) copies of the same file, in upload order.
    copies: tuple[tuple[str, str], ...] = ()
    # The owner's tag, when the ID carries one and its signature holds; else None.
    owner: str | None = None

    @property
    def holders(self) -> tuple[tuple[str, str], ...]:
        """Every (deployment, provider id) pair, the first one first."""
        return ((self.deployment, self.provider_id), *self.copies)


def sign(secret: str, kind: Kind, routed: RoutedId) -> str:
    """The ``;sig`` tag of an ID of ``kind`` carrying ``routed``: its route, every copy and
    its owner (``routed.signed`` is not part of it)."""
    extra = [part for pair in routed.copies for part in pair]
    # An owned ID's message starts with "own" and the tag, an unowned one with its kind: no
    # owned ID signs the same message as an unowned one (IDs signed before owners stay valid).
    owned = ("own", routed.owner) if routed.owner is not None else ()
    msg = "\x00".join((*owned, kind, routed.provider_id, routed.deployment, *extra)).encode()
    digest = hmac.new(secret.encode(), msg, hashlib.sha256).digest()[:_TAG_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def kind_prefix(kind: Kind) -> str:
    """The prefix this router's IDs of ``kind`` start with when the provider's own has none."""
    return _prefix_for(kind, "")


def _prefix_for(kind: Kind, provider_id: str) -> str:
    for prefix in _PREFIXES:
        if provider_id.startswith(prefix):
            return prefix
    return KIND_PREFIX[kind]


def encode_id(
    kind: Kind,
    provider_id: str,
    deployment: str,
    secret: str | None = None,
    copies: Sequence[tuple[str, str]] = (),
    owner: str | None = None,
) -> str:
    """An ID for ``provider_id`` on ``deployment``; ``copies`` are further (deployment, id);
    ``owner`` is the owner's tag (kept only in a signed ID: unsigned, nothing vouches for it)."""
    if len(copies) > MAX_COPIES - 1:
        raise ValueError(f"an ID carries at most {MAX_COPIES} copies")
    text = f"{_MAGIC}{provider_id}{_MODEL}{deployment}"
    for (model_field, id_field), (copy_deployment, copy_id) in zip(
        COPY_FIELDS[: len(copies)], copies, strict=True
    ):
        if ";" in copy_id or ";" in copy_deployment:
            raise ValueError("a copy's deployment or ID contains ';'")
        text += f";{model_field},{copy_deployment};{id_field},{copy_id}"
    if secret is None:
        owner = None
    elif owner is not None:
        if not owner or ";" in owner:
            raise ValueError("an owner tag is non-empty and without ';'")
        text += _OWN + owner
    if secret is not None:
        routed = RoutedId(provider_id, deployment, signed=True, copies=tuple(copies), owner=owner)
        text += _SIG + sign(secret, kind, routed)
    b64 = base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()
    return _prefix_for(kind, provider_id) + b64


_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9_+/-]")
# Fields after the deployment: our "sig", LiteLLM's identity-bound "sub", "tid" (and "sig").
# Every field an ID may carry after its deployment, each once: our signature, LiteLLM's
# identity fields, and the further copies of a file on several deployments.
_FIELDS = frozenset({"sig", "own", "sub", "tid", *(f for pair in COPY_FIELDS for f in pair)})


def _unwrap(value: str) -> str | None:
    """The decoded text if ``value`` is one of our IDs, else None (a provider ID).

    One spelling per ID: anything that a lenient decoder would read as ours but that is not
    exactly what ``encode_id`` writes (padding, characters outside base64url, non-zero
    trailing bits) is refused, so two different texts never name the same object.
    """
    for prefix in _PREFIXES:
        if value.startswith(prefix):
            payload = value[len(prefix) :]
            break
    else:
        return None
    if not payload:
        return None
    try:
        # Lenient, as LiteLLM and most decoders read it: drops what is not base64.
        kept = _NOT_BASE64.sub("", payload)
        raw = base64.urlsafe_b64decode(kept + "=" * (-len(kept) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.startswith(_MAGIC.encode()):
        return None  # a provider's own ID that happens to share our prefix
    canonical = (
        _ALPHABET.fullmatch(payload) is not None
        and base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == payload
    )
    if not canonical:
        raise InvalidId("the ID is not in canonical base64url")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise InvalidId("the ID is not UTF-8") from None
    return text[len(_MAGIC) :]


def _copies(fields: dict[str, str]) -> tuple[tuple[str, str], ...]:
    copies: list[tuple[str, str]] = []
    for model_field, id_field in COPY_FIELDS:
        copy_deployment, copy_id = fields.get(model_field), fields.get(id_field)
        if copy_deployment is None and copy_id is None:
            break
        if not copy_deployment or not copy_id:
            raise InvalidId(f"the ID's copy '{model_field}' is incomplete")
        copies.append((copy_deployment, copy_id))
    rest = {f for pair in COPY_FIELDS[len(copies) :] for f in pair}
    if rest & fields.keys():
        raise InvalidId("the ID's copies are not numbered in order")
    return tuple(copies)


def decode_id(
    value: str,
    kind: Kind,
    secrets: Sequence[str] = (),
    *,
    allow_unsigned: bool = False,
) -> RawId | RoutedId:
    """Read an ID a client sent.

    Returns RawId for anything that is not ours, RoutedId for a valid one; raises InvalidId
    when it is ours but malformed, unsigned where signatures are required, or forged.
    """
    body = _unwrap(value)
    if body is None:
        return RawId(value)
    cut = body.rfind(_MODEL)
    if cut <= 0:
        raise InvalidId("the ID carries no route")
    provider_id, rest = body[:cut], body[cut + len(_MODEL) :]
    # After the deployment come ";key,value" fields: our "sig", or the "sub"/"tid"/"sig" of
    # LiteLLM's identity-bound IDs, whose signature only LiteLLM can check.
    deployment, *extras = rest.split(";")
    if not deployment:
        raise InvalidId("the ID carries no deployment")
    fields: dict[str, str] = {}
    for extra in extras:
        name, comma, text = extra.partition(",")
        if not comma or name not in _FIELDS or name in fields or not text:
            raise InvalidId("the ID carries an unknown or repeated field")
        fields[name] = text
    copies = _copies(fields)
    tag = fields.get("sig")
    if tag is None or "sub" in fields or "tid" in fields:
        if secrets and not allow_unsigned:
            raise InvalidId("the ID is not signed by this router")
        return RoutedId(provider_id, deployment, signed=False, copies=copies)
    if not secrets:
        # Nothing to verify against: the route is still readable, as LiteLLM reads it.
        return RoutedId(provider_id, deployment, signed=False, copies=copies)
    # What the ID claims, returned once one of the secrets vouches for it.
    claimed = RoutedId(provider_id, deployment, signed=True, copies=copies, owner=fields.get("own"))
    for secret in secrets:
        if hmac.compare_digest(tag.encode(), sign(secret, kind, claimed).encode()):
            return claimed
    raise InvalidId("the ID's signature does not match")
