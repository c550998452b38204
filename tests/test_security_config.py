"""Config that would silently switch security off stops start-up, naming the field."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, PermissionDeniedError

from aiohttp_files_router import ConfigError, create_app, parse_config, setup

from .conftest import KEY_A, MASTER, ServerFactory, base_config

SCRIPT = Path(sys.executable).parent / "aiohttp-files-router"


def openai_entry(name: str, key: str = KEY_A, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "model_name": name,
        "litellm_params": {"model": "openai/gpt-4o", "api_key": key, "api_base": "http://h/v1"},
    }
    entry.update(extra)
    return entry


@pytest.mark.parametrize(
    ("section", "env", "field"),
    [
        ({"general_settings": {"master_key": "os.environ/MK"}}, {"MK": ""}, "master_key"),
        ({"general_settings": {"master_key": "  \t"}}, {}, "master_key"),
        ({"files_router": {"id_secret": "os.environ/IDS"}}, {"IDS": " "}, "id_secret"),
        ({"files_router": {"id_secret": ["good-secret", ""]}}, {}, "id_secret[1]"),
        ({"files_router": {"id_secret": []}}, {}, "id_secret"),
        (
            {"files_router": {"keys": [{"key": "sk-fine"}, {"key": "os.environ/K"}]}},
            {"K": ""},
            "keys[1].key",
        ),
    ],
)
def test_empty_secrets_stop_start_up(
    section: dict[str, Any], env: dict[str, str], field: str
) -> None:
    config = {"model_list": [openai_entry("m")], **section}
    with pytest.raises(ConfigError) as err:
        parse_config(config, "cfg.yaml", env=env)
    assert f"{field} is empty" in str(err.value)
    assert "cfg.yaml" in str(err.value)


async def test_cli_refuses_an_empty_master_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "model_list:\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o}\n"
        "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n"
    )
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        "--config",
        str(config),
        env={**os.environ, "LITELLM_MASTER_KEY": ""},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2, err
    assert b"$.general_settings.master_key is empty" in err and b"Traceback" not in err


def test_model_info_id_equal_to_another_model_name_is_an_error() -> None:
    config = {
        "model_list": [
            openai_entry("gpt-4o-payroll"),
            openai_entry("gpt-4o-public", model_info={"id": "gpt-4o-payroll"}),
        ]
    }
    with pytest.raises(ConfigError) as err:
        parse_config(config, "cfg.yaml")
    assert "$.model_list[1].model_info.id 'gpt-4o-payroll' is the model_name" in str(err.value)
    # Its own model_name, used by no other entry, is fine.
    parse_config({"model_list": [openai_entry("solo", model_info={"id": "solo"})]})
    # Shared by another entry, it is not.
    with pytest.raises(ConfigError):
        parse_config(
            {
                "model_list": [
                    openai_entry("pair", model_info={"id": "pair"}),
                    openai_entry("pair", key="sk-other"),
                ]
            }
        )


async def test_colliding_id_would_have_taken_the_other_models_traffic(
    aiohttp_server: ServerFactory, upstream: TestServer
) -> None:
    """The attack the check prevents: a key scoped to the public model reaching payroll."""
    config = base_config(
        upstream, keys=[{"key": "sk-scoped", "models": ["gpt-4o-other"]}], ownership="shared"
    )
    config["model_list"][1]["model_info"] = {"id": "gpt-4o-litellm"}
    with pytest.raises(ConfigError):
        parse_config(config)
    # Without the collision the scoped key stays out of gpt-4o-litellm.
    del config["model_list"][1]["model_info"]
    server = await aiohttp_server(create_app(parse_config(config)))
    async with AsyncOpenAI(
        api_key="sk-scoped", base_url=str(server.make_url("")), max_retries=0
    ) as client:
        with pytest.raises(PermissionDeniedError):
            await client.files.list(extra_query={"model": "gpt-4o-litellm"})


def test_setup_without_a_proxy_key_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    config = parse_config({"model_list": [openai_entry("m")]})
    with caplog.at_level(logging.WARNING, logger="aiohttp_files_router"):
        setup(web.Application(), config)
    warnings = [r for r in caplog.records if "no proxy key is configured" in r.getMessage()]
    assert len(warnings) == 1 and "/v1" in warnings[0].getMessage()

    caplog.clear()
    keyed = parse_config(
        {"model_list": [openai_entry("m")], "general_settings": {"master_key": MASTER}}
    )
    with caplog.at_level(logging.WARNING, logger="aiohttp_files_router"):
        setup(web.Application(), keyed)
    assert not [r for r in caplog.records if "no proxy key" in r.getMessage()]


def test_deployments_sharing_an_account_across_key_scopes_are_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entries = [
        openai_entry("team-a"),
        openai_entry("team-b"),  # same base and key: one OpenAI file store
        openai_entry("team-c", key="sk-elsewhere"),
        {
            "model_name": "azure-a",
            "litellm_params": {
                "model": "azure/dep-a",
                "api_base": "https://res.openai.azure.com",
                "api_key": "az-key",
                "api_version": "2024-10-21",
            },
        },
        {
            "model_name": "azure-b",
            "litellm_params": {
                "model": "azure/dep-b",
                "api_base": "https://res.openai.azure.com/",
                "api_key": "az-key-2",
                "api_version": "2024-10-21",
            },
        },
    ]
    keys = [
        {"key": "sk-a", "models": ["team-a", "azure-a"]},
        {"key": "sk-all", "models": ["team-a", "team-b", "azure-a", "azure-b"]},
    ]
    with caplog.at_level(logging.WARNING, logger="aiohttp_files_router"):
        create_app(
            parse_config(
                {"model_list": entries, "files_router": {"keys": keys, "ownership": "shared"}}
            )
        )
    shared = [
        r.getMessage() for r in caplog.records if "share one provider store" in r.getMessage()
    ]
    assert len(shared) == 2, shared
    assert any("team-a, team-b" in m for m in shared)
    assert any("azure-a, azure-b" in m and "res.openai.azure.com" in m for m in shared)
    assert not any("team-c" in m for m in shared)
    assert not any(secret in m for m in shared for secret in (KEY_A, "az-key"))

    caplog.clear()
    same_scope = [{"key": "sk-ab", "models": ["team-a", "team-b", "azure-a", "azure-b"]}]
    with caplog.at_level(logging.WARNING, logger="aiohttp_files_router"):
        create_app(
            parse_config(
                {"model_list": entries, "files_router": {"keys": same_scope, "ownership": "shared"}}
            )
        )
    assert not [r for r in caplog.records if "share one provider store" in r.getMessage()]
