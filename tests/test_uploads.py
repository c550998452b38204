"""Uploads: streamed when routing is known, spooled when a routing field trails, bounded."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestServer

from aiohttp_files_router.fake import FakeOpenAI
from aiohttp_files_router.ids import decode_id

from .conftest import KEY_A, KEY_B, MASTER, ONE_ROW, RouterFactory, base_config, error_of

AUTH = {"Authorization": f"Bearer {MASTER}"}


def form(*fields: tuple[str, str | bytes]) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields:
        if isinstance(value, bytes):
            data.add_field(name, value, filename="data.jsonl", content_type="application/jsonl")
        else:
            data.add_field(name, value)
    return data


async def post_file(
    router: TestServer, data: aiohttp.FormData | bytes, path: str = "/v1/files", **headers: str
) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(router.make_url(path), data=data, headers={**AUTH, **headers}) as resp,
    ):
        return resp.status, await resp.json()


async def test_file_part_streams_chunked_to_upstream(router: TestServer, fake: FakeOpenAI) -> None:
    payload = b'{"a": 1}\n' * 50_000
    status, body = await post_file(
        router, form(("model", "gpt-4o-litellm"), ("purpose", "user_data"), ("file", payload))
    )
    assert status == 200, body
    record = fake.requests[-1]
    assert record.chunked and record.bytes == len(payload) and record.key == KEY_A
    assert body["bytes"] == len(payload)


async def test_routing_field_after_file_part_is_spooled(
    router: TestServer, fake: FakeOpenAI
) -> None:
    payload = b"x" * 300_000
    status, body = await post_file(
        router, form(("file", payload), ("purpose", "user_data"), ("model", "gpt-4o-other"))
    )
    assert status == 200, body
    assert fake.requests[-1].key == KEY_B and fake.requests[-1].bytes == len(payload)
    assert decode_id(body["id"], "file").deployment == "gpt-4o-other"  # type: ignore[union-attr]
    assert fake.requests[-1].form == {"purpose": "user_data"}


async def test_purpose_after_file_part_with_query_model(
    router: TestServer, fake: FakeOpenAI
) -> None:
    status, body = await post_file(
        router,
        form(("file", b"abc"), ("purpose", "user_data")),
        path="/v1/files?model=gpt-4o-other",
    )
    assert status == 200, body
    assert body["purpose"] == "user_data" and fake.requests[-1].key == KEY_B


async def test_header_routing_and_expires_after_forwarded(
    router: TestServer, fake: FakeOpenAI
) -> None:
    status, body = await post_file(
        router,
        form(
            ("purpose", "batch"),
            ("expires_after[anchor]", "created_at"),
            ("expires_after[seconds]", "3600"),
            ("file", ONE_ROW),
        ),
        **{"x-litellm-model": "gpt-4o-litellm"},
    )
    assert status == 200, body
    assert body["expires_at"] == body["created_at"] + 3600
    assert fake.requests[-1].form == {
        "purpose": "batch",
        "expires_after[anchor]": "created_at",
        "expires_after[seconds]": "3600",
    }


async def test_trailing_model_that_disagrees_is_refused_and_cleaned_up(
    router: TestServer, fake: FakeOpenAI
) -> None:
    status, body = await post_file(
        router,
        form(("purpose", "batch"), ("file", ONE_ROW), ("model", "gpt-4o-other")),
        path="/v1/files?model=gpt-4o-litellm",
    )
    assert status == 400 and error_of(body)["param"] == "model"
    assert fake.accounts["a"].files == {}  # the streamed copy was removed again


async def test_trailing_model_naming_the_default_account_is_fine(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    router = await start_router(base_config(upstream, default_model="gpt-4o-other"))
    status, body = await post_file(
        router, form(("purpose", "batch"), ("file", ONE_ROW), ("model", "gpt-4o-other"))
    )
    assert status == 200, body
    assert fake.requests[-1].key == KEY_B


async def test_upload_limit_answers_413(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    router = await start_router(base_config(upstream, max_upload_bytes=100_000))
    # Streamed: the cap trips while the file part is flowing upstream.
    status, body = await post_file(
        router,
        form(("model", "gpt-4o-litellm"), ("purpose", "user_data"), ("file", b"x" * 400_000)),
    )
    assert status == 413 and error_of(body)["param"] == "file"
    # Declared: refused before reading anything.
    status, body = await post_file(
        router, b"x" * 200_000, **{"Content-Type": "multipart/form-data; boundary=zz"}
    )
    assert status == 413
    # Spooled: the cap bounds the temp file too.
    status, body = await post_file(
        router, form(("file", b"x" * 400_000), ("purpose", "batch"), ("model", "gpt-4o-litellm"))
    )
    assert status == 413
    assert fake.accounts["a"].files == {}


async def test_bad_uploads_get_400_naming_the_field(router: TestServer) -> None:
    cases = [
        (form(("model", "gpt-4o-litellm"), ("purpose", "batch")), "file"),
        (form(("model", "gpt-4o-litellm"), ("file", b"{}")), "purpose"),
        (form(("model", "gpt-4o-litellm"), ("purpose", "nonsense"), ("file", b"{}")), "purpose"),
        (
            form(
                ("model", "gpt-4o-litellm"),
                ("purpose", "batch"),
                ("expires_after[anchor]", "created_at"),
                ("expires_after[seconds]", "5"),
                ("file", b"{}"),
            ),
            "expires_after[seconds]",
        ),
        (form(("model", "gpt-4o-litellm"), ("purpose", "batch"), ("file", "not a file")), "file"),
        (
            form(("model", "gpt-4o-litellm"), ("purpose", "batch"), ("file", b"1"), ("file", b"2")),
            "file",
        ),
    ]
    for data, param in cases:
        status, body = await post_file(router, data)
        assert status == 400, body
        assert error_of(body)["param"] == param, body


async def test_not_multipart_and_broken_multipart(router: TestServer) -> None:
    status, body = await post_file(
        router, b'{"purpose": "batch"}', **{"Content-Type": "application/json"}
    )
    assert status == 400 and error_of(body)["param"] == "file"
    broken = b'--zz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--zz'
    status, body = await post_file(
        router, broken, **{"Content-Type": "multipart/form-data; boundary=zz"}
    )
    assert status == 400, body
    error_of(body)
    status, body = await post_file(router, b"garbage", **{"Content-Type": "multipart/form-data"})
    assert status == 400, body
    error_of(body)


async def test_oversized_form_field_is_refused(router: TestServer) -> None:
    status, body = await post_file(
        router, form(("model", "gpt-4o-litellm"), ("purpose", "b" * 70_000), ("file", b"{}"))
    )
    assert status == 400 and error_of(body)["param"] == "purpose"
