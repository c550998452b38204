"""One spelling per ID: every other spelling of a valid ID is a 404, on every route."""

from __future__ import annotations

import base64

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from aiohttp_files_router.ids import InvalidId, RawId, RoutedId, decode_id, encode_id, sign

from .conftest import MASTER, RouterFactory, base_config, error_of

SECRET = "id-secret-for-tests"
AUTH = {"Authorization": f"Bearer {MASTER}"}


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def respellings(good: str) -> list[str]:
    """Texts a lenient base64 decoder reads as ``good``."""
    prefix, payload = good[:5], good[5:]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    out = [
        prefix + payload + "=" * (-len(payload) % 4 or 4),  # padded
        prefix + payload[:4] + "." + payload[4:],  # a character outside the alphabet
        prefix + payload[:4] + "\n" + payload[4:],
        prefix + base64.b64encode(raw).rstrip(b"=").decode(),  # standard alphabet
    ]
    if len(payload) % 4:
        # Same bytes, non-zero trailing bits.
        last = payload[-1]
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        out.append(prefix + payload[:-1] + alphabet[alphabet.index(last) + 1])
    return [o for o in out if o != good]


def test_every_other_spelling_is_refused() -> None:
    for provider_id in ("file-abc123", "file-abc1234", "file-abc12345"):
        good = encode_id("file", provider_id, "gpt-4o-litellm", SECRET)
        assert isinstance(decode_id(good, "file", [SECRET]), RoutedId)
        spellings = respellings(good)
        assert len(spellings) >= 3
        for bad in spellings:
            if base64.urlsafe_b64decode(bad[5:] + "===").startswith(b"litellm:"):
                with pytest.raises(InvalidId):
                    decode_id(bad, "file", [SECRET])


def test_repeated_or_unknown_fields_after_the_route_are_refused() -> None:
    tag = sign(SECRET, "file", RoutedId("file-abc", "gpt-4o-litellm", signed=True))
    base = "litellm:file-abc;model,gpt-4o-litellm"
    assert isinstance(decode_id("file-" + b64(f"{base};sig,{tag}"), "file", [SECRET]), RoutedId)
    for text in (
        f"{base};sig,{tag};sig,{tag}",
        f"{base};sig,forged;sig,{tag}",
        f"{base};sig,{tag};admin,1",
        f"{base};sig,{tag};",
        f"{base};sig",
        f"{base};sig,",
    ):
        with pytest.raises(InvalidId):
            decode_id("file-" + b64(text), "file", [SECRET])
    # Unsigned routers too: a second field spelling is not another ID.
    with pytest.raises(InvalidId):
        decode_id("file-" + b64(f"{base};extra,1"), "file", [])
    # A provider's own ID that shares our prefix stays a provider ID.
    assert decode_id("file-abc123", "file", [SECRET]) == RawId("file-abc123")


async def test_respelled_ids_are_404_on_the_wire(
    start_router: RouterFactory, upstream: TestServer
) -> None:
    router = await start_router(base_config(upstream, id_secret=SECRET))
    async with aiohttp.ClientSession(headers=AUTH) as http:
        form = aiohttp.FormData()
        form.add_field("purpose", "user_data")
        form.add_field("file", b"secret", filename="a.txt")
        async with http.post(router.make_url("/v1/files?model=gpt-4o-litellm"), data=form) as r:
            assert r.status == 200
            good = (await r.json())["id"]
        async with http.get(router.make_url(f"/v1/files/{good}")) as r:
            assert r.status == 200
        text = base64.urlsafe_b64decode(good[5:] + "===").decode()
        doubled = "file-" + b64(text + ";" + text.rsplit(";", 1)[1])
        for bad in [*respellings(good), doubled]:
            for method, path in (
                ("GET", f"/v1/files/{bad}"),
                ("GET", f"/v1/files/{bad}/content"),
                ("DELETE", f"/v1/files/{bad}"),
            ):
                url = router.make_url(path.replace("\n", "%0A"))
                async with http.request(method, url) as r:
                    assert r.status == 404, (method, bad, await r.text())
                    error_of(await r.json())
        async with http.get(router.make_url(f"/v1/files/{good}")) as r:
            assert r.status == 200  # nothing was deleted through a respelling
