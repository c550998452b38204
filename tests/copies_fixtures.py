"""Fan-out copies' side of tests: a world of two OpenAI accounts that can refuse and an Azure
account, its config with a scoped key, and the files each account holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiohttp_files_router.fake import FakeAzure, FakeOpenAI
from aiohttp_files_router.fake.openai import Answer

from .conftest import MASTER, ServerFactory

K1, K2, AZ = "sk-oa-one", "sk-oa-two", "azure-key-0123456789abcdef"
DEPLOYMENT = "my-batch-deployment"
SCOPED = "sk-proxy-scoped"
SECRET = "id-secret-for-tests-0123456789"


class Refusing(FakeOpenAI):
    """An OpenAI account that turns some calls away (a full quota, a broken upload path)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.refuse_batches = False
        self.refuse_uploads = False

    def refuse(self, request: web.Request, key: str | None, account: str | None) -> None:
        super().refuse(request, key, account)
        if request.method == "POST" and request.path.endswith("/batches") and self.refuse_batches:
            raise Answer(
                self.error(429, "Enqueued token limit reached.", code="rate_limit_exceeded")
            )
        if request.method == "POST" and request.path.endswith("/files") and self.refuse_uploads:
            raise Answer(self.error(500, "The server had an error processing your request."))


class World:
    def __init__(self, one: Refusing, two: Refusing, azure: FakeAzure):
        self.one, self.two, self.azure = one, two, azure
        self.servers: list[TestServer] = []


@pytest.fixture
async def world(aiohttp_server: ServerFactory, tmp_path: Path) -> World:
    w = World(
        Refusing({K1: "o1"}, storage=tmp_path / "one"),
        Refusing({K2: "o2"}, storage=tmp_path / "two"),
        FakeAzure({AZ: "az"}, deployments=[DEPLOYMENT], storage=tmp_path / "az"),
    )
    for fake in (w.one, w.two, w.azure):
        w.servers.append(await aiohttp_server(fake.app()))
    return w


def world_config(w: World, **files_router: Any) -> dict[str, Any]:
    one, two, az = w.servers
    return {
        "model_list": [
            {
                "model_name": "gpt-4o-batch",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": K1,
                    "api_base": str(one.make_url("/v1")),
                },
                "model_info": {"id": "oa-1"},
            },
            {
                "model_name": "gpt-4o-batch",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": K2,
                    "api_base": str(two.make_url("/v1")),
                },
                "model_info": {"id": "oa-2"},
            },
            {
                "model_name": "gpt-4o-azure",
                "litellm_params": {
                    "model": f"azure/{DEPLOYMENT}",
                    "api_key": AZ,
                    "api_base": str(az.make_url("")),
                    "api_version": "2024-10-21",
                },
            },
        ],
        "general_settings": {"master_key": MASTER},
        "files_router": {
            "id_secret": SECRET,
            "keys": [{"key": SCOPED, "models": ["oa-1", "gpt-4o-azure"]}],
            "ownership": "shared",
            **files_router,
        },
    }


TARGETS = {"target_model_names": "gpt-4o-batch, gpt-4o-azure"}


def stored(fake: FakeOpenAI, account: str) -> list[bytes]:
    return [f.path.read_bytes() for f in fake.accounts[account].files.values()]
