"""Issue 15: one upload on several deployments, batches spread with failover, merged
listings, batch files checked at upload. Two OpenAI fakes and an Azure fake, the openai SDK."""

from __future__ import annotations

import io
import json
import logging

import pytest
from openai import (
    BadRequestError,
    InternalServerError,
    PermissionDeniedError,
    RateLimitError,
)

from aiohttp_files_router.ids import Kind, RoutedId, decode_id

from .conftest import MASTER, RouterFactory, chat_rows, client, error_of, jsonl
from .copies_fixtures import (
    DEPLOYMENT,
    SCOPED,
    SECRET,
    TARGETS,
    World,
    stored,
    world,
    world_config,
)

__all__ = ["world"]  # the fixture, from copies_fixtures


def _route(value: str, kind: Kind) -> RoutedId:
    decoded = decode_id(value, kind, [SECRET])
    assert isinstance(decoded, RoutedId), value
    return decoded


async def test_fan_out_upload_content_and_delete(start_router: RouterFactory, world: World) -> None:
    router = await start_router(world_config(world))
    data = jsonl(chat_rows(3))
    async with client(router) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(data)), purpose="batch", extra_body=TARGETS
        )
        routed = _route(f.id, "file")
        assert [d for d, _ in routed.holders] == ["oa-1", "oa-2", "gpt-4o-azure"]
        # The OpenAI copies are the client's bytes; Azure's rows name its deployment.
        assert stored(world.one, "o1") == [data] and stored(world.two, "o2") == [data]
        (az_copy,) = stored(world.azure, "az")
        rows = [json.loads(line) for line in az_copy.splitlines()]
        assert [r["body"]["model"] for r in rows] == [DEPLOYMENT] * 3
        assert [r["custom_id"] for r in rows] == ["req-0", "req-1", "req-2"]
        # The first copy answers; when its account is down, the next one does.
        assert (await sdk.files.retrieve(f.id)).id == f.id
        assert (await sdk.files.content(f.id)).content == data
        await world.servers[0].close()
        assert (await sdk.files.retrieve(f.id)).id == f.id
        assert (await sdk.files.content(f.id)).content == data
        # Delete with one account down: not deleted, the live copies are gone anyway.
        with pytest.raises(InternalServerError) as info:
            await sdk.files.delete(f.id)
        assert info.value.status_code == 502
        assert stored(world.two, "o2") == [] and stored(world.azure, "az") == []
        assert len(stored(world.one, "o1")) == 1


async def test_delete_removes_every_copy(start_router: RouterFactory, world: World) -> None:
    router = await start_router(world_config(world))
    async with client(router) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(chat_rows(1)))), purpose="batch", extra_body=TARGETS
        )
        gone = await sdk.files.delete(f.id)
        assert gone.deleted is True and gone.id == f.id
        assert stored(world.one, "o1") == stored(world.two, "o2") == stored(world.azure, "az") == []


async def test_fan_out_is_all_or_nothing(start_router: RouterFactory, world: World) -> None:
    router = await start_router(world_config(world))
    world.two.refuse_uploads = True
    async with client(router) as sdk:
        with pytest.raises(Exception) as info:
            await sdk.files.create(
                file=("in.jsonl", io.BytesIO(jsonl(chat_rows(50)))),
                purpose="batch",
                extra_body=TARGETS,
            )
        assert getattr(info.value, "status_code", None) == 500
    assert stored(world.one, "o1") == [] and stored(world.azure, "az") == []


async def test_fan_out_limits(start_router: RouterFactory, world: World) -> None:
    config = world_config(world)
    entry = config["model_list"][0]
    config["model_list"] += [
        {**entry, "model_name": "many", "model_info": {"id": f"many-{i}"}} for i in range(9)
    ]
    router = await start_router(config)
    async with client(router) as sdk, client(router, SCOPED) as scoped:
        with pytest.raises(BadRequestError) as info:
            await sdk.files.create(
                file=("in.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
                purpose="batch",
                extra_body={"target_model_names": "many"},
            )
        assert error_of(info.value.response.json())["param"] == "target_model_names"
        with pytest.raises(PermissionDeniedError):
            await scoped.files.create(
                file=("in.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
                purpose="batch",
                extra_body=TARGETS,  # oa-2 is not the scoped key's
            )
    assert stored(world.one, "o1") == stored(world.azure, "az") == []


async def test_batches_spread_and_fail_over(
    start_router: RouterFactory, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    router = await start_router(world_config(world))
    async with client(router) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
            purpose="batch",
            extra_query=TARGETS,
        )
        spread = []
        for _ in range(3):
            b = await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            spread.append(_route(b.id, "batch").deployment)
        assert sorted(spread) == ["gpt-4o-azure", "oa-1", "oa-2"]
        # One account at its quota: its turn passes to the next holder, and the log says so.
        world.one.refuse_batches = True
        caplog.set_level(logging.INFO, logger="aiohttp_files_router")
        for _ in range(3):
            b = await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            assert _route(b.id, "batch").deployment != "oa-1"
            assert (await sdk.batches.retrieve(b.id)).status == "completed"
        assert "refused (429), trying the next holder" in caplog.text
        # `model` narrows the holders; when every one refuses, the last refusal is the answer.
        world.two.refuse_batches = True
        with pytest.raises(RateLimitError):
            await sdk.batches.create(
                input_file_id=f.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                extra_body={"model": "gpt-4o-batch"},
            )


async def test_merged_listing_walks_the_keys_accounts(
    start_router: RouterFactory, world: World
) -> None:
    router = await start_router(world_config(world))
    async with client(router) as sdk, client(router, SCOPED) as scoped:
        made: dict[str, list[str]] = {}
        for model in ("oa-1", "oa-2", "gpt-4o-azure"):
            made[model] = [
                (
                    await sdk.files.create(
                        file=(f"{i}.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
                        purpose="batch",
                        extra_body={"model": model},
                    )
                ).id
                for i in range(3)
            ]
        every = [f.id async for f in sdk.files.list(limit=2)]
        assert sorted(every) == sorted(made["oa-1"] + made["oa-2"] + made["gpt-4o-azure"])
        mine = [f.id async for f in scoped.files.list(limit=2)]
        assert sorted(mine) == sorted(made["oa-1"] + made["gpt-4o-azure"])
        assert not set(mine) & set(made["oa-2"])
        # A cursor naming the other account is refused, not followed.
        with pytest.raises(PermissionDeniedError):
            await scoped.files.list(after=made["oa-2"][0])
        # With a model, as before: that account only.
        only = [f.id async for f in sdk.files.list(extra_query={"model": "oa-2"})]
        assert sorted(only) == sorted(made["oa-2"])
        for model in ("oa-1", "gpt-4o-azure"):
            await sdk.batches.create(
                input_file_id=made[model][0],
                endpoint="/v1/chat/completions",
                completion_window="24h",
            )
        batches = [b.id async for b in scoped.batches.list(limit=1)]
        assert len(batches) == 2


BAD_LINES = [
    (b"not json", "is not a JSON object"),
    (b'{"method": "POST"}', "'custom_id'"),
    (
        b'{"custom_id": "req-0", "method": "POST", "url": "/v1/chat/completions", "body": {}}',
        "'custom_id' repeats",
    ),
    (b'{"custom_id": "x", "method": "GET", "url": "/v1/chat/completions", "body": {}}', "'method'"),
    (b'{"custom_id": "x", "method": "POST", "url": "/v1/images", "body": {}}', "'url'"),
    (
        b'{"custom_id": "x", "method": "POST", "url": "/v1/responses", "body": {"model": "m"}}',
        "differs",
    ),
    (b'{"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", "body": 3}', "'body'"),
    (
        b'{"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", "body": {}}',
        "'body.model'",
    ),
]


@pytest.mark.parametrize(("line", "words"), BAD_LINES)
async def test_batch_file_checked_at_upload(
    start_router: RouterFactory, world: World, line: bytes, words: str
) -> None:
    router = await start_router(world_config(world))
    data = jsonl(chat_rows(2)) + line + b"\n" + jsonl(chat_rows(1))
    async with client(router) as sdk:
        for extra in ({"model": "oa-1"}, TARGETS):
            with pytest.raises(BadRequestError) as info:
                await sdk.files.create(
                    file=("in.jsonl", io.BytesIO(data)), purpose="batch", extra_body=extra
                )
            err = error_of(info.value.response.json())
            assert err["message"].startswith("Line 3 of the batch file") and words in err["message"]
            assert err["code"] == "invalid_batch_line"
    assert stored(world.one, "o1") == stored(world.two, "o2") == stored(world.azure, "az") == []


async def test_batch_file_limits_and_switch(start_router: RouterFactory, world: World) -> None:
    router = await start_router(world_config(world))
    rows = chat_rows(50_001)
    async with client(router) as sdk:
        with pytest.raises(BadRequestError) as info:
            await sdk.files.create(
                file=("in.jsonl", io.BytesIO(jsonl(rows))),
                purpose="batch",
                extra_body={"model": "oa-1"},
            )
        assert "Line 50001" in info.value.message and "50000" in info.value.message
        # Azure rows need no model: the adapter sets it.
        no_model = [{**r, "body": {"messages": []}} for r in chat_rows(2)]
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(no_model))),
            purpose="batch",
            extra_body={"model": "gpt-4o-azure"},
        )
        assert f.id
    off = await start_router(world_config(world, validate_batch_files=False))
    async with client(off) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(b"not json\n")),
            purpose="batch",
            extra_body={"model": "oa-1"},
        )
        assert (await sdk.files.content(f.id)).content == b"not json\n"


def test_copy_ids_round_trip_and_are_signed_whole() -> None:
    import base64

    from aiohttp_files_router.ids import InvalidId, encode_id

    copies = [("oa-2", "file-two"), ("gpt-4o-azure", "file-three")]
    value = encode_id("file", "file-one", "oa-1", SECRET, copies)
    routed = _route(value, "file")
    assert routed.holders == (("oa-1", "file-one"), *copies)
    text = base64.urlsafe_b64decode(value[5:] + "=" * (-len(value[5:]) % 4)).decode()
    # LiteLLM reads the first pair: "litellm:<id>;model,<deployment>" leads the text.
    assert text.startswith("litellm:file-one;model,oa-1;model2,oa-2;id2,file-two;")

    def forged(t: str) -> str:
        raw = base64.urlsafe_b64encode(t.encode()).rstrip(b"=").decode()
        return "file-" + raw

    for bad in (
        text.replace("file-two", "file-other"),  # a copy swapped: the signature no longer fits
        text.replace(";model3,gpt-4o-azure;id3,file-three", ""),  # a copy dropped
        text.replace(";id2,file-two", ""),  # half a pair
        text.replace(";sig,", ";model2,oa-9;sig,"),  # a field twice
    ):
        with pytest.raises(InvalidId):
            decode_id(forged(bad), "file", [SECRET])


async def test_targets_after_the_file_part_are_spooled_then_fanned_out(
    start_router: RouterFactory, world: World
) -> None:
    import aiohttp

    router = await start_router(world_config(world))
    data = jsonl(chat_rows(2))
    form = aiohttp.FormData()
    form.add_field("file", data, filename="in.jsonl")
    form.add_field("purpose", "batch")
    form.add_field("target_model_names", "oa-1,oa-2")
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {MASTER}"}) as http,
        http.post(router.make_url("/v1/files"), data=form) as resp,
    ):
        assert resp.status == 200, await resp.text()
        routed = _route((await resp.json())["id"], "file")
    assert [d for d, _ in routed.holders] == ["oa-1", "oa-2"]
    assert stored(world.one, "o1") == [data] and stored(world.two, "o2") == [data]


async def test_targets_after_a_streamed_file_are_refused_and_nothing_kept(
    start_router: RouterFactory, world: World
) -> None:
    import aiohttp

    router = await start_router(world_config(world))
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("file", jsonl(chat_rows(2)), filename="in.jsonl")
    form.add_field("target_model_names", "oa-1,oa-2")
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {MASTER}"}) as http,
        http.post(router.make_url("/v1/files?model=oa-1"), data=form) as resp,
    ):
        assert resp.status == 400
        assert error_of(await resp.json())["param"] == "target_model_names"
    assert stored(world.one, "o1") == [] and stored(world.two, "o2") == []


async def test_byte_cap_and_merged_rules() -> None:
    from collections.abc import AsyncIterator

    from aiohttp_files_router.batchcheck import check_batch_file
    from aiohttp_files_router.errors import BadRequest
    from aiohttp_files_router.providers.base import BatchRules

    async def chunks(data: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(data), 100):
            yield data[i : i + 100]

    data = jsonl(chat_rows(5))
    loose = BatchRules(frozenset(("/v1/chat/completions", "/v1/embeddings")), needs_model=False)
    tight = BatchRules(frozenset(("/v1/chat/completions",)), max_bytes=len(data) - 1)
    merged = loose.merge(tight)
    assert merged.endpoints == {"/v1/chat/completions"} and merged.needs_model
    assert [c async for c in check_batch_file(chunks(data), loose)] == list(
        [c async for c in chunks(data)]
    )
    with pytest.raises(BadRequest, match="more than 3 requests"):
        [c async for c in check_batch_file(chunks(data), BatchRules(loose.endpoints, max_lines=3))]
    with pytest.raises(BadRequest, match=f"limit of {len(data) - 1} bytes"):
        [c async for c in check_batch_file(chunks(data), merged)]
