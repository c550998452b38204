"""The ID codec: LiteLLM's format, signatures, and that any input decodes or fails one way."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiohttp_files_router.ids import InvalidId, Kind, RawId, RoutedId, decode_id, encode_id

LITELLM_EXAMPLE = "file-bGl0ZWxsbTpmaWxlLWFiYzEyMzttb2RlbCxncHQtNG8taWZvb2Q"

provider_ids = st.text(min_size=1).filter(lambda s: ";model," not in s)
deployments = st.text(min_size=1).filter(lambda s: ";" not in s)
kinds: st.SearchStrategy[Kind] = st.sampled_from(["file", "batch"])


def test_litellm_example_decodes() -> None:
    assert decode_id(LITELLM_EXAMPLE, "file") == RoutedId("file-abc123", "gpt-4o-ifood", False)


def test_encoding_matches_litellm_exactly() -> None:
    assert encode_id("file", "file-abc123", "gpt-4o-ifood") == LITELLM_EXAMPLE


@pytest.mark.parametrize(
    ("kind", "provider_id", "prefix"),
    [
        ("file", "file-abc", "file-"),
        ("batch", "batch_abc", "batch_"),
        ("file", "gs://bucket/x.jsonl", "file-"),
        ("batch", "1234567890", "batch_"),
    ],
)
def test_prefix_follows_provider_id_else_kind(kind: Kind, provider_id: str, prefix: str) -> None:
    encoded = encode_id(kind, provider_id, "m")
    assert encoded.startswith(prefix)
    assert decode_id(encoded, kind) == RoutedId(provider_id, "m", False)


@given(kinds, provider_ids, deployments)
def test_round_trip_unsigned(kind: Kind, provider_id: str, deployment: str) -> None:
    encoded = encode_id(kind, provider_id, deployment)
    assert decode_id(encoded, kind) == RoutedId(provider_id, deployment, False)


@given(kinds, provider_ids, deployments, st.text(min_size=1))
def test_round_trip_signed(kind: Kind, provider_id: str, deployment: str, secret: str) -> None:
    encoded = encode_id(kind, provider_id, deployment, secret)
    decoded = decode_id(encoded, kind, [secret])
    assert decoded == RoutedId(provider_id, deployment, True)


def test_rotation_first_secret_signs_all_verify() -> None:
    old = encode_id("file", "file-1", "m", "old-secret")
    new = encode_id("file", "file-1", "m", "new-secret")
    for value in (old, new):
        decoded = decode_id(value, "file", ["new-secret", "old-secret"])
        assert isinstance(decoded, RoutedId) and decoded.signed
    with pytest.raises(InvalidId):
        decode_id(old, "file", ["new-secret"])


def _payload(encoded: str) -> str:
    body = encoded.split("-", 1)[1] if encoded.startswith("file-") else encoded.split("_", 1)[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def _reencode(prefix: str, text: str) -> str:
    return prefix + base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@given(provider_ids, deployments, deployments)
def test_tampered_route_is_rejected(provider_id: str, deployment: str, other: str) -> None:
    encoded = encode_id("file", provider_id, deployment, "s3cret")
    text = _payload(encoded)
    forged = text.replace(f";model,{deployment};sig,", f";model,{deployment}{other};sig,")
    with pytest.raises(InvalidId):
        decode_id(_reencode("file-", forged), "file", ["s3cret"])


def test_tampered_provider_id_and_kind_are_rejected() -> None:
    encoded = encode_id("file", "file-aaa", "m", "s3cret")
    forged = _payload(encoded).replace("file-aaa", "file-bbb")
    with pytest.raises(InvalidId):
        decode_id(_reencode("file-", forged), "file", ["s3cret"])
    with pytest.raises(InvalidId):  # a file ID is not a batch ID
        decode_id(encoded, "batch", ["s3cret"])


def test_unsigned_rejected_when_secrets_set_unless_allowed() -> None:
    unsigned = encode_id("file", "file-1", "m")
    with pytest.raises(InvalidId):
        decode_id(unsigned, "file", ["s"])
    assert decode_id(unsigned, "file", ["s"], allow_unsigned=True) == RoutedId("file-1", "m", False)


@given(st.text(), kinds)
def test_any_string_decodes_or_raises_invalid_id(value: str, kind: Kind) -> None:
    try:
        result = decode_id(value, kind, ["secret"])
    except InvalidId:
        return
    assert isinstance(result, (RawId, RoutedId))
    if isinstance(result, RawId):
        assert result.provider_id == value


@given(st.text(), kinds)
def test_any_litellm_payload_decodes_or_raises_invalid_id(payload: str, kind: Kind) -> None:
    value = _reencode("file-", "litellm:" + payload)
    try:
        result = decode_id(value, kind)
    except InvalidId:
        return
    assert isinstance(result, RoutedId)


def test_litellm_identity_bound_ids_are_read_but_not_trusted() -> None:
    value = _reencode("file-", "litellm:file-abc;model,gpt-4o-litellm;sub,u1;tid,t1;sig,Zm9v")
    assert decode_id(value, "file") == RoutedId("file-abc", "gpt-4o-litellm", False)
    with pytest.raises(InvalidId):
        decode_id(value, "file", ["ours"])
    assert decode_id(value, "file", ["ours"], allow_unsigned=True) == RoutedId(
        "file-abc", "gpt-4o-litellm", False
    )


def test_plain_provider_ids_are_raw() -> None:
    for value in ("file-abc123", "batch_abc", "file-", "gs://b/o", "12345", "file-!!"):
        assert decode_id(value, "file") == RawId(value)
