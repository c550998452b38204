"""The Azure OpenAI fake driven by the official ``openai`` SDK's Azure clients, no router.

The fake is a witness built from Microsoft's documentation (see its module docstring); these
tests hold it to what the documentation says, with ``AsyncAzureOpenAI`` as the client: the
dated API with an api-key and the v1 API with an Entra ID token provider.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncAzureOpenAI, AsyncOpenAI, BadRequestError
from openai.types import Batch, FileObject

from aiohttp_files_router.fake import FakeAzure, FakeOpenAI
from aiohttp_files_router.fake.__main__ import build

KEY = "azure-api-key-0123456789"
TENANT, CLIENT_ID, CLIENT_SECRET = "tenant-1", "client-1", "secret-1"
DEPLOYMENT = "gpt-4o-batch"
OTHER = "gpt-4o-mini-batch"
LIMITED = "gpt-4.1-batch"
PROCESSING = 0.2

ServerFactory = Callable[..., Awaitable[TestServer]]


def rows(n: int, model: str = DEPLOYMENT, url: str = "/v1/chat/completions") -> list[Any]:
    return [
        {
            "custom_id": f"task-{i}",
            "method": "POST",
            "url": url,
            "body": {"model": model, "messages": [{"role": "user", "content": f"q{i}"}]},
        }
        for i in range(n)
    ]


def status(obj: FileObject | Batch) -> str:
    """Azure answers statuses outside the SDK's Literal types ("pending", "Validating", ...)."""
    return obj.status


def jsonl(items: list[Any]) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


@pytest.fixture
def fake(tmp_path: Path) -> FakeAzure:
    return FakeAzure(
        {KEY: "resource"},
        deployments=[DEPLOYMENT, OTHER, LIMITED],
        clients={(TENANT, CLIENT_ID, CLIENT_SECRET): "resource"},
        storage=tmp_path / "azure",
        processing_seconds=PROCESSING,
    )


@pytest.fixture
async def server(aiohttp_server: ServerFactory, fake: FakeAzure) -> TestServer:
    return await aiohttp_server(fake.app())


@pytest.fixture
async def dated(server: TestServer) -> AsyncIterator[AsyncAzureOpenAI]:
    async with AsyncAzureOpenAI(
        azure_endpoint=str(server.make_url("")),
        api_key=KEY,
        api_version="2024-10-21",
        max_retries=0,
    ) as client:
        yield client


@pytest.fixture
async def v1(server: TestServer) -> AsyncIterator[AsyncAzureOpenAI]:
    """The v1 API with a token from the fake's Entra ID endpoint, fetched as azure-identity's
    ClientSecretCredential would (client credentials grant)."""
    async with aiohttp.ClientSession() as session:

        async def token_provider() -> str:
            form = {
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scope": "https://cognitiveservices.azure.com/.default",
            }
            url = server.make_url(f"/{TENANT}/oauth2/v2.0/token")
            async with session.post(url, data=form) as resp:
                assert resp.status == 200
                token: str = (await resp.json())["access_token"]
                return token

        async with AsyncAzureOpenAI(
            base_url=str(server.make_url("/openai/v1/")),
            api_version="preview",
            azure_ad_token_provider=token_provider,
            max_retries=0,
        ) as client:
            yield client


async def wait_processed(client: AsyncAzureOpenAI, file_id: str) -> FileObject:
    """What Microsoft's batch guide does ("Track file upload status"), polled faster."""
    for _ in range(200):
        found = await client.files.retrieve(file_id)
        if found.status not in ("pending", "running", "uploaded"):
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"{file_id} still {found.status}")


async def wait_batch(client: AsyncAzureOpenAI, batch_id: str) -> Batch:
    for _ in range(200):
        batch = await client.batches.retrieve(batch_id)
        if batch.status in ("Completed", "Failed", "Cancelled", "Expired"):
            return batch
        await asyncio.sleep(0.02)
    raise AssertionError(f"{batch_id} still {batch.status}")


async def upload(client: AsyncAzureOpenAI, data: bytes, name: str = "in.jsonl") -> FileObject:
    return await client.files.create(file=(name, data), purpose="batch")


async def create(client: AsyncAzureOpenAI, file_id: str) -> Batch:
    return await client.batches.create(
        input_file_id=file_id,
        # Azure's documented endpoint; the SDK's Literal lists OpenAI's "/v1/..." ones only.
        endpoint="/chat/completions",  # type: ignore[arg-type]  # see the comment above
        completion_window="24h",
    )


async def test_dated_api_key_flow(dated: AsyncAzureOpenAI, fake: FakeAzure) -> None:
    raw = await dated.files.with_raw_response.create(
        file=("in.jsonl", jsonl(rows(5))), purpose="batch"
    )
    assert raw.status_code == 201  # Files - Upload, REST reference 2024-10-21
    uploaded = raw.parse()
    assert status(uploaded) == "pending"
    assert uploaded.status_details is None

    # Batch create right after the upload: refused as the Q&A thread reports.
    with pytest.raises(BadRequestError) as refused:
        await create(dated, uploaded.id)
    assert refused.value.status_code == 400
    assert refused.value.code == "invalidPayload"
    assert isinstance(refused.value.body, dict)
    message = refused.value.body["message"]
    assert f"The input file '{uploaded.id}' is in 'pending' state." in message
    assert "Only files with status 'Processed' are accepted" in message

    ready = await wait_processed(dated, uploaded.id)
    assert ready.status == "processed"
    assert ready.status_details is None

    raw_batch = await dated.batches.with_raw_response.create(
        input_file_id=uploaded.id,
        endpoint="/chat/completions",  # type: ignore[arg-type]  # Azure's; see create()
        completion_window="24h",
    )
    assert "endpoint" not in raw_batch.http_response.json()  # the REST samples, dated API
    created = raw_batch.parse()
    assert status(created) == "Validating"
    assert created.request_counts is not None
    assert created.request_counts.model_dump() == {
        "total": None,
        "completed": None,
        "failed": None,
    }
    assert isinstance(created.created_at, str) and created.created_at.endswith(".0000000+00:00")
    assert created.output_file_id == "" and created.error_file_id == ""

    done = await wait_batch(dated, created.id)
    assert status(done) == "Completed"
    assert done.endpoint == "/chat/completions"
    assert done.request_counts is not None
    assert done.request_counts.model_dump() == {"total": 5, "completed": 5, "failed": 0}
    assert done.output_file_id and done.error_file_id

    output = [
        json.loads(line)
        for line in (await dated.files.content(done.output_file_id)).text.splitlines()
    ]
    ids = [row["custom_id"] for row in output]
    assert sorted(ids) == [f"task-{i}" for i in range(5)]
    assert ids != sorted(ids)  # "Responses won't be returned in identical order"
    assert all(row["response"]["status_code"] == 200 for row in output)
    assert all(row["response"]["body"]["model"] == DEPLOYMENT for row in output)

    # A batch with no failed row still has an error file, empty.
    error_file = await dated.files.retrieve(done.error_file_id)
    assert error_file.bytes == 0 and error_file.status == "processed"
    assert (await dated.files.content(done.error_file_id)).content == b""

    listed = [b.id async for b in dated.batches.list()]
    assert listed == [created.id]
    assert all(r.key == KEY and r.account == "resource" for r in fake.requests)


async def test_v1_entra_flow(v1: AsyncAzureOpenAI, fake: FakeAzure) -> None:
    items = rows(4)
    del items[2]["body"]["messages"]  # this row fails when run: "'messages' is required"
    uploaded = await v1.files.create(
        file=("in.jsonl", jsonl(items)),
        purpose="batch",
        expires_after={"anchor": "created_at", "seconds": 1209600},
    )
    assert status(uploaded) == "pending"

    with pytest.raises(BadRequestError) as refused:
        await create(v1, uploaded.id)
    assert refused.value.code == "invalidPayload"

    await wait_processed(v1, uploaded.id)
    listed = [f async for f in v1.files.list()]
    assert [(f.id, f.status) for f in listed] == [(uploaded.id, "processed")]

    created = await create(v1, uploaded.id)
    assert created.endpoint is None
    done = await wait_batch(v1, created.id)
    assert status(done) == "Completed"
    assert done.request_counts is not None
    assert done.request_counts.model_dump() == {"total": 4, "completed": 3, "failed": 1}
    assert done.output_file_id and done.error_file_id
    output = (await v1.files.content(done.output_file_id)).text.splitlines()
    errors = (await v1.files.content(done.error_file_id)).text.splitlines()
    assert sorted(json.loads(line)["custom_id"] for line in output) == [
        "task-0",
        "task-1",
        "task-3",
    ]
    assert [json.loads(line)["custom_id"] for line in errors] == ["task-2"]
    assert json.loads(errors[0])["response"]["status_code"] == 400

    # Every call went out with the Entra token, on the v1 paths.
    assert fake.token_requests >= 1
    served = [r for r in fake.requests if not r.path.endswith("/token")]
    assert served and all(r.path.startswith("/openai/v1/") for r in served)
    assert all(r.account == "resource" and r.key in fake.tokens for r in served)


async def test_validating_batch_on_retrieve(
    dated: AsyncAzureOpenAI, v1: AsyncAzureOpenAI, fake: FakeAzure
) -> None:
    fake.phase_seconds = 30.0  # stays validating for the whole test
    uploaded = await upload(dated, jsonl(rows(2)))
    await wait_processed(dated, uploaded.id)
    created = await create(dated, uploaded.id)
    dated_body = (await dated.batches.with_raw_response.retrieve(created.id)).http_response.json()
    v1_body = (await v1.batches.with_raw_response.retrieve(created.id)).http_response.json()
    for body in (dated_body, v1_body):
        assert body["status"] == "Validating"
        assert body["request_counts"] == {"total": None, "completed": None, "failed": None}
        assert body["output_file_id"] == "" and body["error_file_id"] == ""
    assert "endpoint" not in dated_body
    assert v1_body["endpoint"] == "/chat/completions"


async def test_file_goes_pending_running_processed(
    dated: AsyncAzureOpenAI, fake: FakeAzure
) -> None:
    now = [0.0]
    fake.processing_clock = lambda: now[0]
    uploaded = await upload(dated, jsonl(rows(1)))
    seen = [uploaded.status]
    for moment in (PROCESSING / 4, PROCESSING * 3 / 4, PROCESSING):
        now[0] = moment
        seen.append((await dated.files.retrieve(uploaded.id)).status or "")
    assert seen == ["pending", "pending", "running", "processed"]


async def test_running_file_is_refused_too(dated: AsyncAzureOpenAI, fake: FakeAzure) -> None:
    now = [0.0]
    fake.processing_clock = lambda: now[0]
    uploaded = await upload(dated, jsonl(rows(1)))
    now[0] = PROCESSING * 3 / 4
    with pytest.raises(BadRequestError) as refused:
        await create(dated, uploaded.id)
    assert isinstance(refused.value.body, dict)
    assert "is in 'running' state" in refused.value.body["message"]


async def test_file_that_fails_processing(dated: AsyncAzureOpenAI) -> None:
    data = jsonl(rows(1)) + b'{"custom_id": "task-9", "method": "POST"\n'
    uploaded = await upload(dated, data)
    failed = await wait_processed(dated, uploaded.id)
    assert failed.status == "error"
    assert failed.status_details is not None and "line 2" in failed.status_details

    with pytest.raises(BadRequestError) as refused:
        await create(dated, uploaded.id)
    assert isinstance(refused.value.body, dict)
    assert f"'{uploaded.id}' is in 'error' state" in refused.value.body["message"]


@pytest.mark.parametrize(
    ("items", "code", "line"),
    [
        (rows(2, model="not-a-deployment"), "model_not_found", 1),
        (rows(1) + rows(2, model=OTHER)[1:], "model_mismatch", 2),
        (rows(1) + rows(1), "duplicate_custom_id", 2),
        (rows(1) + rows(2, url="/v1/responses")[1:], "url_mismatch", 2),
        (rows(1, url="/v1/embeddings"), "url_mismatch", 1),
        ([{"method": "POST", "url": "/v1/chat/completions", "body": {}}], "invalid_request", 1),
        ([], "empty_file", None),
    ],
    ids=["not-found", "mismatch", "duplicate", "url-mixed", "embeddings", "no-custom-id", "empty"],
)
async def test_validation_failures(
    dated: AsyncAzureOpenAI, items: list[Any], code: str, line: int | None
) -> None:
    uploaded = await upload(dated, jsonl(items))
    await wait_processed(dated, uploaded.id)
    created = await create(dated, uploaded.id)
    failed = await wait_batch(dated, created.id)
    assert status(failed) == "Failed"
    assert failed.errors is not None and failed.errors.data
    assert (failed.errors.data[0].code, failed.errors.data[0].line) == (code, line)
    assert failed.request_counts is not None
    assert failed.request_counts.completed is None and failed.request_counts.failed is None
    # The failed batch in Microsoft's troubleshooting sample carries both file IDs too.
    assert failed.output_file_id and failed.error_file_id
    assert (await dated.files.retrieve(failed.error_file_id)).bytes == 0


async def test_token_limit_fail(dated: AsyncAzureOpenAI, fake: FakeAzure) -> None:
    fake.token_limit = {LIMITED: "fail"}
    uploaded = await upload(dated, jsonl(rows(3, model=LIMITED)))
    await wait_processed(dated, uploaded.id)
    created = await create(dated, uploaded.id)  # accepted: the old behaviour
    assert status(created) == "Validating"
    failed = await wait_batch(dated, created.id)
    assert status(failed) == "Failed"
    assert failed.errors is not None and failed.errors.data is not None
    [error] = failed.errors.data
    assert error.code == "token_limit_exceeded"
    assert error.line is None and error.param is None
    assert f"configured limit of 30K for the deployment '{LIMITED}'" in (error.message or "")

    # Another deployment of the same resource is not limited.
    other = await upload(dated, jsonl(rows(2, model=OTHER)))
    await wait_processed(dated, other.id)
    assert status(await wait_batch(dated, (await create(dated, other.id)).id)) == "Completed"


async def test_token_limit_fail_fast(v1: AsyncAzureOpenAI, fake: FakeAzure) -> None:
    fake.token_limit = {LIMITED: "fail_fast"}
    uploaded = await upload(v1, jsonl(rows(3, model=LIMITED)))
    await wait_processed(v1, uploaded.id)
    with pytest.raises(BadRequestError) as refused:
        await create(v1, uploaded.id)
    assert refused.value.status_code == 400
    assert refused.value.code == "token_limit_exceeded"
    assert not [b async for b in v1.batches.list()]

    other = await upload(v1, jsonl(rows(2, model=OTHER)))
    await wait_processed(v1, other.id)
    assert status(await wait_batch(v1, (await create(v1, other.id)).id)) == "Completed"


async def test_embeddings_endpoint_refused(dated: AsyncAzureOpenAI) -> None:
    uploaded = await upload(dated, jsonl(rows(1)))
    await wait_processed(dated, uploaded.id)
    with pytest.raises(BadRequestError):
        await dated.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
        )


async def test_expiry_bounds_per_api(dated: AsyncAzureOpenAI, v1: AsyncAzureOpenAI) -> None:
    # v1: the current REST reference's 3600 to 2592000; dated: the batch guide's 14 to 30 days.
    three_days = {"anchor": "created_at", "seconds": 259200}
    made = await v1.files.create(
        file=("in.jsonl", jsonl(rows(1))),
        purpose="batch",
        expires_after=three_days,  # type: ignore[arg-type]
    )
    assert made.expires_at == made.created_at + 259200
    with pytest.raises(BadRequestError):
        await v1.files.create(
            file=("in.jsonl", jsonl(rows(1))),
            purpose="batch",
            expires_after={"anchor": "created_at", "seconds": 3599},
        )
    with pytest.raises(BadRequestError):
        await dated.files.create(
            file=("in.jsonl", jsonl(rows(1))),
            purpose="batch",
            # The dated API reads the dotted fields.
            extra_body={"expires_after.anchor": "created_at", "expires_after.seconds": "259200"},
        )


async def test_openai_fake_keeps_openai_behaviour(
    aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    """The hooks the Azure fake uses leave the OpenAI fake as it was: a file is processed
    at upload, rows keep input order, no error file without a failed row."""
    server = await aiohttp_server(FakeOpenAI({"sk-a": "a"}, storage=tmp_path / "openai").app())
    async with AsyncOpenAI(
        api_key="sk-a", base_url=str(server.make_url("/v1")), max_retries=0
    ) as client:
        uploaded = await client.files.create(file=("in.jsonl", jsonl(rows(5))), purpose="batch")
        assert uploaded.status == "processed"
        created = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert created.endpoint == "/v1/chat/completions"
        done = await client.batches.retrieve(created.id)
        assert done.status == "completed" and done.error_file_id is None
        assert done.output_file_id is not None
        text = (await client.files.content(done.output_file_id)).text
        assert [json.loads(line)["custom_id"] for line in text.splitlines()] == [
            f"task-{i}" for i in range(5)
        ]


def test_command_line_knobs(tmp_path: Path) -> None:
    fake, host, port = build(
        [
            "--flavour=azure",
            f"--key={KEY}=resource",
            f"--deployment={DEPLOYMENT}",
            f"--storage={tmp_path}",
            "--processing-seconds=2.5",
            f"--token-limit={DEPLOYMENT}=fail_fast",
            f"--token-limit={OTHER}=fail",
        ]
    )
    assert isinstance(fake, FakeAzure)
    assert (host, port) == ("127.0.0.1", 4100)
    assert fake.processing_seconds == 2.5
    assert fake.token_limit == {DEPLOYMENT: "fail_fast", OTHER: "fail"}
    with pytest.raises(SystemExit):
        build(["--flavour=azure", f"--storage={tmp_path}", f"--token-limit={DEPLOYMENT}=slow"])
