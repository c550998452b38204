"""Fine-tuning through the router, the parts decided before any job reaches a provider:
upload checks of purpose=fine-tune files, routing of a create by its files, the 400 of
providers without fine-tuning, job IDs and the job fields rewritten on the way out."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

import msgspec
import openai
import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from aiohttp_files_router.ids import RoutedId, decode_id, encode_id
from aiohttp_files_router.rewrite import rewrite_list, rewrite_object

from .conftest import MASTER, RouterFactory, base_config, error_of, jsonl
from .fine_tuning_fixtures import chat_example, training


async def upload_error(sdk: AsyncOpenAI, data: bytes, model: str = "gpt-4o-litellm") -> Any:
    with pytest.raises(openai.BadRequestError) as err:
        await sdk.files.create(
            file=("train.jsonl", data), purpose="fine-tune", extra_body={"model": model}
        )
    return error_of(err.value.response.json())


async def test_a_valid_training_file_uploads(sdk: AsyncOpenAI) -> None:
    f = await sdk.files.create(
        file=("train.jsonl", training()),
        purpose="fine-tune",
        extra_body={"model": "gpt-4o-litellm"},
    )
    assert f.purpose == "fine-tune"
    assert f.id.startswith("file-")
    assert await (await sdk.files.content(f.id)).aread() == training()


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant turn"),
        (
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "x", "weight": 0},
                ]
            },
            "no assistant turn",
        ),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "'messages[0].role'"),
        ({"messages": []}, "non-empty list"),
        ({"prompt": "hi", "completion": "there"}, "line 1 is a supervised one"),
        ({"prompt": "hi", "completion": 3}, "must be strings"),
        (
            {
                "messages": [
                    {"role": "user", "content": "hi", "weight": 1},
                    {"role": "assistant", "content": "x"},
                ]
            },
            "weight' must be 0 or 1, on an assistant turn",
        ),
        ({"input": {"messages": []}, "preferred_output": []}, "non-empty list"),
        ({"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}, "no 'content'"),
    ],
)
async def test_a_bad_line_is_a_400_naming_it(
    sdk: AsyncOpenAI, line: dict[str, Any], says: str
) -> None:
    rows = [chat_example(i) for i in range(12)]
    data = jsonl(rows[:4]) + json.dumps(line).encode() + b"\n" + jsonl(rows[4:])
    err = await upload_error(sdk, data)
    assert err["code"] == "invalid_fine_tuning_line"
    assert err["param"] == "file"
    assert err["message"].startswith("Line 5 of the fine-tuning file")
    assert says in err["message"]


async def test_not_json_and_too_few_examples(sdk: AsyncOpenAI) -> None:
    err = await upload_error(sdk, training(3) + b"{not json\n" + training(8))
    assert err["message"].startswith("Line 4 of the fine-tuning file: is not a JSON object")
    err = await upload_error(sdk, training(9))
    assert err["message"] == (
        "The fine-tuning file has 9 examples; this account needs at least 10."
    )


async def test_preference_and_reinforcement_examples(sdk: AsyncOpenAI) -> None:
    dpo = {
        "input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
        "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
    }
    f = await sdk.files.create(
        file=("dpo.jsonl", jsonl([dpo] * 10)),
        purpose="fine-tune",
        extra_body={"model": "gpt-4o-litellm"},
    )
    assert f.purpose == "fine-tune"
    rft = {"messages": [{"role": "user", "content": "2+2?"}], "reference_answer": "4"}
    f = await sdk.files.create(
        file=("rft.jsonl", jsonl([rft] * 10)),
        purpose="fine-tune",
        extra_body={"model": "gpt-4o-litellm"},
    )
    assert f.purpose == "fine-tune"
    # One format per file: a DPO line among chat examples names both lines.
    err = await upload_error(sdk, training(10) + jsonl([dpo]))
    assert "Line 11" in err["message"] and "line 1 is a supervised one" in err["message"]
    legacy = {"prompt": "Capital of France?", "completion": " Paris"}
    f = await sdk.files.create(
        file=("old.jsonl", jsonl([legacy] * 10)),
        purpose="fine-tune",
        extra_body={"model": "gpt-4o-litellm"},
    )
    assert f.purpose == "fine-tune"
    bad = {**dpo, "preferred_output": [{"role": "user", "content": "x"}]}
    err = await upload_error(sdk, jsonl([bad] * 10))
    assert "'preferred_output' must hold assistant messages only" in err["message"]


async def test_checks_can_be_turned_off(start_router: RouterFactory, upstream: TestServer) -> None:
    router = await start_router(base_config(upstream, validate_tuning_files=False))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        f = await sdk.files.create(
            file=("t.jsonl", b'{"anything": 1}\n'),
            purpose="fine-tune",
            extra_body={"model": "gpt-4o-litellm"},
        )
        assert f.bytes == len(b'{"anything": 1}\n')


async def test_validation_file_must_be_on_the_training_files_deployment(
    sdk: AsyncOpenAI,
) -> None:
    train = await sdk.files.create(
        file=("t.jsonl", training()), purpose="fine-tune", extra_body={"model": "gpt-4o-litellm"}
    )
    valid = await sdk.files.create(
        file=("v.jsonl", training()), purpose="fine-tune", extra_body={"model": "gpt-4o-other"}
    )
    with pytest.raises(openai.BadRequestError) as err:
        await sdk.fine_tuning.jobs.create(
            training_file=train.id, validation_file=valid.id, model="gpt-4o-mini-2024-07-18"
        )
    body = error_of(err.value.response.json())
    assert body["param"] == "validation_file"
    assert "gpt-4o-litellm" in body["message"]


async def test_create_needs_model_and_training_file(sdk: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await sdk.fine_tuning.jobs.create(training_file="", model="gpt-4o-mini")
    assert error_of(err.value.response.json())["param"] == ("training_file")
    # A raw provider file ID with no account named: how to choose one. The body's "model" is
    # the base model to tune, never a deployment.
    with pytest.raises(openai.BadRequestError) as err:
        await sdk.fine_tuning.jobs.create(training_file="file-raw", model="gpt-4o-litellm")
    assert error_of(err.value.response.json())["code"] == ("model_required")


def gemini_and_bedrock_config() -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "gemini-api",
                "litellm_params": {
                    "model": "gemini/gemini-2.5-flash",
                    "api_key": "AIza-fake",
                    "api_base": "http://127.0.0.1:9",
                },
            },
            {
                "model_name": "claude-batch",
                "litellm_params": {
                    "model": "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
                    "aws_region_name": "us-east-1",
                    "aws_access_key_id": "AKIDEXAMPLE",
                    "aws_secret_access_key": "secret-example",
                    "aws_batch_role_arn": "arn:aws:iam::123456789012:role/batch",
                    "s3_bucket_name": "bucket",
                    "api_base": "http://127.0.0.1:9",
                    "s3_endpoint_url": "http://127.0.0.1:9",
                },
            },
        ],
        "general_settings": {"master_key": MASTER},
    }


@pytest.mark.parametrize(
    ("model", "provider"), [("gemini-api", "gemini"), ("claude-batch", "bedrock")]
)
async def test_providers_without_fine_tuning_say_so(
    start_router: RouterFactory, model: str, provider: str
) -> None:
    router = await start_router(gemini_and_bedrock_config())
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        calls: list[Awaitable[Any]] = [
            sdk.fine_tuning.jobs.create(
                training_file="files/abc", model="base", extra_query={"model": model}
            ),
            sdk.fine_tuning.jobs.retrieve("ftjob-raw", extra_query={"model": model}),
            sdk.fine_tuning.jobs.cancel("ftjob-raw", extra_query={"model": model}),
            sdk.fine_tuning.jobs.list(extra_query={"model": model}),
        ]
        for call in calls:
            with pytest.raises(openai.BadRequestError) as err:
                await call
            body = error_of(err.value.response.json())
            assert body["message"] == f"fine-tuning is not supported on {provider} accounts."
            assert body["code"] == "fine_tuning_not_supported"
        # With nothing selected, a merged listing skips accounts that run no jobs.
        page = await sdk.fine_tuning.jobs.list()
        assert page.data == [] and page.has_more is False


def test_job_ids_are_ftjob_ids() -> None:
    for provider_id in ("ftjob-abc123", "1234567890"):
        encoded = encode_id("fine_tuning_job", provider_id, "ft-dep", "s3cret")
        assert encoded.startswith("ftjob-")
        assert decode_id(encoded, "fine_tuning_job", ["s3cret"]) == RoutedId(
            provider_id, "ft-dep", signed=True
        )
    # Signed for its kind: a job ID is not a file or batch ID.
    encoded = encode_id("fine_tuning_job", "ftjob-abc123", "ft-dep", "s3cret")
    with pytest.raises(ValueError, match="signature"):
        decode_id(encoded, "batch", ["s3cret"])
    # A provider's own job ID is not ours.
    assert decode_id("ftjob-abc123", "fine_tuning_job", ["s3cret"]).provider_id == "ftjob-abc123"


def _encode(kind: str, value: str) -> str:
    return f"<{kind}:{value}>"


def test_job_answers_name_our_files() -> None:
    job = {
        "object": "fine_tuning.job",
        "id": "ftjob-1",
        "training_file": "file-t",
        "validation_file": None,
        "result_files": ["file-r", ""],
        "model": "gpt-4o-mini",
        "unknown": {"kept": [1, 2]},
    }
    out = msgspec.json.decode(rewrite_object(json.dumps(job).encode(), "fine_tuning_job", _encode))
    assert out == {
        **job,
        "id": "<fine_tuning_job:ftjob-1>",
        "training_file": "<file:file-t>",
        "result_files": ["<file:file-r>", ""],
    }
    checkpoints = {
        "object": "list",
        "data": [{"id": "ftckpt-1", "fine_tuning_job_id": "ftjob-1", "step_number": 3}],
        "first_id": "ftckpt-1",
        "last_id": "ftckpt-1",
        "has_more": False,
    }
    page = rewrite_list(json.dumps(checkpoints).encode(), None, _encode)
    assert msgspec.json.decode(page.encode()) == {
        **checkpoints,
        "data": [
            {
                "id": "ftckpt-1",
                "fine_tuning_job_id": "<fine_tuning_job:ftjob-1>",
                "step_number": 3,
            }
        ],
    }
