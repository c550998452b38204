"""The provider contract: one seed flow, written once, run against every provider's fake with
the openai SDK through the router. Each provider brings only small hooks (``Case``): how to
make its fake and its deployment entries, and whether two of its deployments keep separate
stores.

The flow: upload a batch file, retrieve and list it, create two batches on it, cancel one,
let the other finish, read its output rows back, check a second deployment of the same
provider does not see the first one's objects, delete the file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, NotFoundError

from aiohttp_files_router.fake import (
    AwsCredential,
    FakeAnthropic,
    FakeAzure,
    FakeBedrock,
    FakeGemini,
    FakeMistral,
    FakeOpenAI,
    FakeVertex,
)
from aiohttp_files_router.ids import Kind, RoutedId, decode_id

from .common import Clock
from .conftest import KEY_A, KEY_B, MASTER, RouterFactory, ServerFactory, chat_rows, jsonl

PHASE = 10.0  # seconds of the fakes' clock per batch phase


class Fake(Protocol):
    def app(self) -> web.Application: ...


Entry = Callable[[TestServer, str, bool, Path], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """One provider's hooks: its fake, and a deployment entry (``other``: a second
    deployment, on another account where the provider shares one store per account; a
    directory of its own where it needs a ``file_store``)."""

    name: str
    fake: Callable[[Path, Clock], Fake]
    entry: Entry
    rows: int = 3


def _openai(server: TestServer, name: str, other: bool, tmp: Path) -> dict[str, Any]:
    params = {"model": "openai/gpt-4o", "api_key": KEY_B if other else KEY_A}
    return {
        "model_name": name,
        "litellm_params": {**params, "api_base": str(server.make_url("/v1"))},
    }


AZ_KEY, AZ_OTHER, DEPLOYMENT = "azure-key-0123456789abcdef", "azure-key-other-0123456789", "dep"


def _azure(server: TestServer, name: str, other: bool, tmp: Path) -> dict[str, Any]:
    params = {
        "model": f"azure/{DEPLOYMENT}",
        "api_key": AZ_OTHER if other else AZ_KEY,
        "api_base": str(server.make_url("")),
        "api_version": "2024-10-21",
    }
    return {"model_name": name, "litellm_params": params}


def _vertex(server: TestServer, name: str, other: bool, tmp: Path) -> dict[str, Any]:
    from .vertex_fixtures import service_account, vertex_entry

    return vertex_entry(server, service_account(server), name)


def _gemini(server: TestServer, name: str, other: bool, tmp: Path) -> dict[str, Any]:
    from .gemini_fixtures import GEMINI_KEY, gemini_entry

    return gemini_entry(server, name, GEMINI_KEY)


def _bedrock(server: TestServer, name: str, other: bool, tmp: Path) -> dict[str, Any]:
    from .bedrock_fixtures import MIN, entry

    return entry(server, name, batch_min_records=MIN)


def _make_bedrock(root: Path, clock: Clock) -> Fake:
    from .bedrock_fixtures import ACCOUNT, BUCKET, KEY_ID, MIN, REGION, SECRET

    return FakeBedrock(
        {KEY_ID: AwsCredential(SECRET, ACCOUNT)},
        {BUCKET: ACCOUNT},
        region=REGION,
        storage=root,
        phase_seconds=PHASE,
        clock=clock,
        min_records=MIN,
    )


def _make_vertex(root: Path, clock: Clock) -> Fake:
    from .vertex_fixtures import BUCKET, EMAIL, PUBLIC

    return FakeVertex(
        {EMAIL: PUBLIC}, buckets=[BUCKET], storage=root, phase_seconds=PHASE, clock=clock
    )


def _mistral(server: TestServer, name: str, other: bool, tmp: Path) -> dict[str, Any]:
    params = {"model": "mistral/mistral-small-latest", "api_key": KEY_B if other else KEY_A}
    return {
        "model_name": name,
        "litellm_params": {**params, "api_base": str(server.make_url("/v1"))},
    }


def _anthropic(server: TestServer, name: str, other: bool, tmp: Path) -> dict[str, Any]:
    # The Message Batches API keeps no uploads: the router holds them in a file_store.
    params = {
        "model": "anthropic/claude-sonnet-4-5",
        "api_key": KEY_B if other else KEY_A,
        "file_store": (tmp / f"store-{name}").as_uri(),
    }
    return {"model_name": name, "litellm_params": {**params, "api_base": str(server.make_url(""))}}


CASES = [
    Case(
        "openai",
        lambda root, clock: FakeOpenAI(
            {KEY_A: "a", KEY_B: "b"}, storage=root, phase_seconds=PHASE, clock=clock
        ),
        _openai,
    ),
    Case(
        "azure",
        lambda root, clock: FakeAzure(
            {AZ_KEY: "az", AZ_OTHER: "other"},
            deployments=[DEPLOYMENT],
            storage=root,
            phase_seconds=PHASE,
            clock=clock,
            processing_seconds=0.0,
        ),
        _azure,
    ),
    Case("vertex", _make_vertex, _vertex),
    Case(
        "gemini",
        lambda root, clock: FakeGemini(
            {"AIza-fake-gemini-key-0123456789": "project-a"},
            storage=root,
            phase_seconds=PHASE,
            clock=clock,
        ),
        _gemini,
    ),
    Case("bedrock", _make_bedrock, _bedrock),
    Case(
        "mistral",
        lambda root, clock: FakeMistral(
            {KEY_A: "a", KEY_B: "b"}, storage=root, phase_seconds=PHASE, clock=clock
        ),
        _mistral,
    ),
    Case(
        "anthropic",
        lambda root, clock: FakeAnthropic(
            {KEY_A: "a", KEY_B: "b"}, storage=root, phase_seconds=PHASE, clock=clock
        ),
        _anthropic,
    ),
]


def _pid(value: str, kind: Kind) -> str:
    decoded = decode_id(value, kind)
    assert isinstance(decoded, RoutedId), value
    return decoded.provider_id


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_seed_flow(
    case: Case, start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    clock = Clock()
    fake = case.fake(tmp_path / "upstream", clock)
    server = await aiohttp_server(fake.app())
    config = {
        "model_list": [
            case.entry(server, "first", False, tmp_path),
            case.entry(server, "second", True, tmp_path),
        ],
        "general_settings": {"master_key": MASTER},
    }
    router = await start_router(config)
    rows = chat_rows(case.rows)
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(rows))),
            purpose="batch",
            extra_body={"model": "first"},
        )
        assert f.purpose == "batch" and f.filename.endswith("in.jsonl")
        again = await sdk.files.retrieve(f.id)
        assert (again.id, again.purpose) == (f.id, "batch")
        listed = [x.id for x in (await sdk.files.list(extra_query={"model": "first"})).data]
        assert f.id in listed

        kept = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        dropped = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert kept.input_file_id == f.id and kept.status not in ("completed", "failed")
        cancelled = await sdk.batches.cancel(dropped.id)
        assert cancelled.status in ("cancelling", "cancelled")

        clock.now += 100 * PHASE
        done = await sdk.batches.retrieve(kept.id)
        assert done.status == "completed", done
        assert done.output_file_id is not None
        content = await sdk.files.content(done.output_file_id)
        out = [json.loads(line) for line in content.text.splitlines() if line.strip()]
        assert sorted(r["custom_id"] for r in out) == sorted(r["custom_id"] for r in rows)
        assert all(r["response"]["status_code"] == 200 for r in out)
        assert (await sdk.batches.retrieve(dropped.id)).status in ("cancelling", "cancelled")

        # The second deployment sees none of the first one's objects.
        theirs = await sdk.files.list(extra_query={"model": "second"})
        assert _pid(f.id, "file") not in [_pid(x.id, "file") for x in theirs.data]
        batches = await sdk.batches.list(extra_query={"model": "second"})
        assert _pid(kept.id, "batch") not in [_pid(x.id, "batch") for x in batches.data]

        assert (await sdk.files.delete(f.id)).deleted is True
        with pytest.raises(NotFoundError):
            await sdk.files.retrieve(f.id)
