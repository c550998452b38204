"""Teams on Vertex AI, Gemini, Bedrock, Anthropic and Mistral deployments, as the attack
(test_teams.py does OpenAI and Azure OpenAI): team B with team A's IDs, raw provider IDs and
listings.

What each adapter keeps upstream (providers/base.py, ``keeps_owner_tags``) decides what a
listing shows a team; the signed IDs keep teams apart on every provider regardless.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from openai import NotFoundError

from aiohttp_files_router.fake import FakeGemini, FakeVertex
from aiohttp_files_router.ids import RoutedId, decode_id

from .conftest import MASTER, RouterFactory, ServerFactory, chat_rows, client, jsonl

SECRET = "teams-providers-secret"
ALPHA, BETA, ADMIN = "sk-alpha", "sk-beta", "sk-admin"


def teams(*entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_list": list(entries),
        "general_settings": {"master_key": MASTER},
        "files_router": {
            "id_secret": SECRET,
            "keys": [
                {"key": ALPHA, "team": "alpha"},
                {"key": BETA, "team": "beta"},
                {"key": ADMIN, "admin": True},
            ],
        },
    }


def raw(routed: str, kind: str = "file") -> str:
    decoded = decode_id(routed, "file" if kind == "file" else "batch", [SECRET])
    assert isinstance(decoded, RoutedId) and decoded.owner is not None
    return decoded.provider_id


async def attack(router: TestServer, model: str, rows: int, *, batch_tags: bool) -> None:
    """Team A creates a file and a batch on ``model``; team B tries everything of theirs."""
    pick = {"model": model}
    async with client(router, ALPHA) as alpha, client(router, BETA) as beta:
        file = await alpha.files.create(
            file=("rows.jsonl", io.BytesIO(jsonl(chat_rows(rows)))),
            purpose="batch",
            extra_body=pick,
        )
        assert file.filename == "rows.jsonl"
        batch = await alpha.batches.create(
            input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert batch.metadata is None  # the tag is not shown
        for call in (
            beta.files.retrieve(file.id),
            beta.files.content(file.id),
            beta.files.delete(file.id),
            beta.batches.retrieve(batch.id),
            beta.batches.cancel(batch.id),
            beta.files.retrieve(raw(file.id), extra_query=pick),
            beta.batches.retrieve(raw(batch.id, "batch"), extra_query=pick),
            beta.batches.create(
                input_file_id=raw(file.id),
                endpoint="/v1/chat/completions",
                completion_window="24h",
                extra_body=pick,
            ),
        ):
            with pytest.raises(NotFoundError):
                await call
        assert (await beta.files.list(extra_query=pick)).data == []
        assert (await beta.batches.list(extra_query=pick)).data == []
        mine = (await alpha.files.list(extra_query=pick)).data
        assert [(f.id, f.filename) for f in mine] == [(file.id, "rows.jsonl")]
        assert (await alpha.files.retrieve(raw(file.id), extra_query=pick)).id == file.id
        batches = (await alpha.batches.list(extra_query=pick)).data
        assert [b.id for b in batches] == ([batch.id] if batch_tags else [])
        assert (await alpha.batches.retrieve(batch.id)).id == batch.id
    async with client(router, ADMIN) as admin:
        assert file.id in [f.id for f in (await admin.files.list(extra_query=pick)).data]
        assert [b.id for b in (await admin.batches.list(extra_query=pick)).data] == [batch.id]


async def test_vertex_teams(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    from .vertex_fixtures import BUCKET, EMAIL, PUBLIC, vertex_entry

    fake = FakeVertex({EMAIL: PUBLIC}, buckets=[BUCKET], storage=tmp_path / "gcs")
    server = await aiohttp_server(fake.app())
    router = await start_router(teams(vertex_entry(server)))
    await attack(router, "gemini-batch", 2, batch_tags=True)


async def test_gemini_teams(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    from .gemini_fixtures import GEMINI_KEY, gemini_entry

    fake = FakeGemini({GEMINI_KEY: "project-a"}, storage=tmp_path / "gemini")
    server = await aiohttp_server(fake.app())
    router = await start_router(teams(gemini_entry(server)))
    await attack(router, "gemini-api", 2, batch_tags=True)


async def test_bedrock_teams(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    from aiohttp_files_router.fake import AwsCredential, FakeBedrock

    from .bedrock_fixtures import ACCOUNT, BUCKET, KEY_ID, MIN, REGION, entry
    from .bedrock_fixtures import SECRET as AWS_SECRET

    fake = FakeBedrock(
        {KEY_ID: AwsCredential(AWS_SECRET, ACCOUNT)},
        {BUCKET: ACCOUNT},
        region=REGION,
        storage=tmp_path / "aws",
    )
    server = await aiohttp_server(fake.app())
    router = await start_router(teams(entry(server)))
    await attack(router, "claude-batch", MIN, batch_tags=True)


async def test_anthropic_teams(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    from aiohttp_files_router.fake import FakeAnthropic

    from .anthropic_fixtures import KEY_A, entry

    fake = FakeAnthropic({KEY_A: "a"}, storage=tmp_path / "anthropic")
    server = await aiohttp_server(fake.app())
    router = await start_router(teams(entry(server, tmp_path / "store")))
    await attack(router, "claude-batch", 2, batch_tags=True)


async def test_mistral_teams(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    from aiohttp_files_router.fake import FakeMistral

    from .mistral_fixtures import KEY_A, entry

    fake = FakeMistral({KEY_A: "a"}, storage=tmp_path / "mistral")
    server = await aiohttp_server(fake.app())
    router = await start_router(teams(entry(server)))
    await attack(router, "mistral-batch", 2, batch_tags=True)


async def test_mistral_teams_with_a_file_store(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    from aiohttp_files_router.fake import FakeMistral

    from .mistral_fixtures import KEY_A, entry

    fake = FakeMistral({KEY_A: "a"}, storage=tmp_path / "mistral")
    server = await aiohttp_server(fake.app())
    stored = entry(server)
    stored["litellm_params"]["file_store"] = (tmp_path / "store").as_uri()
    router = await start_router(teams(stored))
    await attack(router, "mistral-batch", 2, batch_tags=True)
