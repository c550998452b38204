"""Amazon Bedrock accounts: files on S3, batches as model invocation jobs, OpenAI shapes outside."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from openai import (
    AsyncOpenAI,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
)

from aiohttp_files_router.fake import AwsCredential, FakeBedrock
from aiohttp_files_router.ids import RoutedId, decode_id, encode_id

from .conftest import MASTER, RouterFactory, ServerFactory, chat_rows, error_of, jsonl
from .spec import check

REGION = "us-west-2"
KEY_ID, SECRET = "AKIAFAKEACCOUNTA0001", "secret-of-account-a-xyz"
ACCOUNT = "111122223333"
BUCKET = "batch-bucket"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/BedrockBatch"
CLAUDE = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
NOVA = "amazon.nova-lite-v1:0"
MIN = 3
MOTO_BUCKET = "files-router-bedrock-test"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bedrock(tmp_path: Path, clock: Clock) -> FakeBedrock:
    return FakeBedrock(
        {KEY_ID: AwsCredential(SECRET, ACCOUNT)},
        {BUCKET: ACCOUNT},
        region=REGION,
        storage=tmp_path / "aws",
        phase_seconds=10,
        clock=clock,
        min_records=MIN,
    )


@pytest.fixture
async def bedrock_server(aiohttp_server: ServerFactory, bedrock: FakeBedrock) -> TestServer:
    return await aiohttp_server(bedrock.app())


def entry(
    server: TestServer,
    name: str = "claude-batch",
    model: str = CLAUDE,
    **extra: Any,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": f"bedrock/{model}",
        "aws_region_name": REGION,
        "aws_access_key_id": KEY_ID,
        "aws_secret_access_key": SECRET,
        "s3_bucket_name": f"{BUCKET}/team-a",
        "aws_batch_role_arn": ROLE,
        "api_base": str(server.make_url("")),
        "s3_endpoint_url": str(server.make_url("")),
        "batch_min_records": MIN,
    }
    params.update(extra)
    return {
        "model_name": name,
        "litellm_params": {k: v for k, v in params.items() if v is not None},
    }


def config(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"model_list": list(entries), "general_settings": {"master_key": MASTER}}


def sdk_for(router: TestServer) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0)


AWKWARD = [
    "a/b?c=d&e#f",
    "x" * 200,
    "ünïcødé-✓-日本",
    "  spaced  ",
    "line\nbreak",
    "req-0",
    *(f"plain-{i}" for i in range(10)),
]


def awkward_rows(model: str = "gpt-4o") -> list[dict[str, Any]]:
    rows = chat_rows(len(AWKWARD), model)
    for row, custom_id in zip(rows, AWKWARD, strict=True):
        row["custom_id"] = custom_id
    rows[0]["body"]["messages"].insert(0, {"role": "system", "content": "Be terse."})
    rows[0]["body"].update(temperature=0.2, top_p=0.9, stop=["END"], max_tokens=50)
    rows[1]["body"]["messages"][0]["content"] = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    return rows


async def run_to_end(
    sdk: AsyncOpenAI, clock: Clock, model_name: str, rows: list[dict[str, Any]]
) -> Any:
    f = await sdk.files.create(
        file=("my batch (1).jsonl", io.BytesIO(jsonl(rows))),
        purpose="batch",
        extra_body={"model": model_name},
    )
    batch = await sdk.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "validating"
    clock.now += 100
    done = await sdk.batches.retrieve(batch.id)
    return f, batch, done


async def output_rows(sdk: AsyncOpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    content = await sdk.files.content(file_id)
    return [json.loads(line) for line in content.text.splitlines() if line]


@pytest.mark.parametrize("model", [CLAUDE, NOVA])
async def test_seed_flow_to_completion(
    start_router: RouterFactory, bedrock_server: TestServer, clock: Clock, model: str
) -> None:
    router = await start_router(config(entry(bedrock_server, model=model)))
    async with sdk_for(router) as sdk:
        f, batch, done = await run_to_end(sdk, clock, "claude-batch", awkward_rows())
        decoded = decode_id(f.id, "file")
        assert isinstance(decoded, RoutedId)
        provider_id = decoded.provider_id
        assert provider_id.startswith(f"s3://{BUCKET}/team-a/files-router/claude-batch/")
        assert provider_id.endswith(".jsonl") and "batch" not in provider_id.rsplit("/", 1)[1]
        assert f.filename == "my batch (1).jsonl" and f.purpose == "batch"
        got = await sdk.files.retrieve(f.id)
        assert got.filename == f.filename and got.bytes == f.bytes
        assert done.status == "completed", done
        assert done.request_counts is not None
        assert done.request_counts.total == len(AWKWARD)
        assert done.request_counts.completed == len(AWKWARD)
        assert done.error_file_id is None
        rows = await output_rows(sdk, done.output_file_id)
        assert sorted(r["custom_id"] for r in rows) == sorted(AWKWARD)
        # Bedrock writes records in no promised order: the fake shuffles them.
        assert [r["custom_id"] for r in rows] != AWKWARD
        for row in rows:
            assert row["response"]["status_code"] == 200
            body = row["response"]["body"]
            assert body["object"] == "chat.completion"
            assert body["choices"][0]["finish_reason"] == "stop"
            assert body["choices"][0]["message"]["content"].startswith("Fake answer")
            assert body["usage"]["completion_tokens"] > 0
            assert body["created"] >= 1_800_000_000  # when the fake wrote the output
        listed = await sdk.batches.list(extra_query={"model": "claude-batch"})
        assert [b.id for b in listed.data] == [batch.id]
        files = await sdk.files.list(extra_query={"model": "claude-batch"})
        assert f.id in [x.id for x in files.data]
        deleted = await sdk.files.delete(f.id)
        assert deleted.deleted


async def test_error_rows_split_views(
    start_router: RouterFactory, bedrock_server: TestServer, clock: Clock
) -> None:
    router = await start_router(config(entry(bedrock_server)))
    rows = chat_rows(4)
    # Claude refuses temperature above 1 per record: an error record, not a failed job.
    rows[2]["body"]["temperature"] = 1.7
    async with sdk_for(router) as sdk:
        _, _, done = await run_to_end(sdk, clock, "claude-batch", rows)
        assert done.status == "completed"
        assert done.request_counts is not None and done.request_counts.failed == 1
        good = await output_rows(sdk, done.output_file_id)
        bad = await output_rows(sdk, done.error_file_id)
        assert sorted(r["custom_id"] for r in good) == ["req-0", "req-1", "req-3"]
        assert [r["custom_id"] for r in bad] == ["req-2"]
        assert bad[0]["response"]["status_code"] == 400
        assert "temperature" in bad[0]["response"]["body"]["error"]["message"]


async def test_too_few_records_and_missing_role(
    start_router: RouterFactory, bedrock_server: TestServer
) -> None:
    router = await start_router(
        config(
            entry(bedrock_server),
            entry(bedrock_server, name="no-role", aws_batch_role_arn=None),
        )
    )
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("few.jsonl", io.BytesIO(jsonl(chat_rows(MIN - 1)))),
            purpose="batch",
            extra_body={"model": "claude-batch"},
        )
        with pytest.raises(BadRequestError) as err:
            await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        message = str(err.value)
        assert f"{MIN - 1} records" in message and f"at least {MIN}" in message
        g = await sdk.files.create(
            file=("ok.jsonl", io.BytesIO(jsonl(chat_rows(MIN)))),
            purpose="batch",
            extra_body={"model": "no-role"},
        )
        with pytest.raises(BadRequestError) as err:
            await sdk.batches.create(
                input_file_id=g.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        assert "aws_batch_role_arn" in str(err.value)


async def test_unknown_family_is_refused_at_upload(
    start_router: RouterFactory, bedrock_server: TestServer
) -> None:
    router = await start_router(
        config(entry(bedrock_server, name="llama", model="meta.llama3-70b-instruct-v1:0"))
    )
    async with sdk_for(router) as sdk:
        with pytest.raises(BadRequestError) as err:
            await sdk.files.create(
                file=("x.jsonl", io.BytesIO(jsonl(chat_rows(3)))),
                purpose="batch",
                extra_body={"model": "llama"},
            )
        assert "'meta'" in str(err.value)


async def test_outside_namespace_is_404(
    start_router: RouterFactory, bedrock_server: TestServer
) -> None:
    router = await start_router(config(entry(bedrock_server)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("x.jsonl", io.BytesIO(jsonl(chat_rows(3)))),
            purpose="batch",
            extra_body={"model": "claude-batch"},
        )
        assert f.id
        for other in (
            f"s3://{BUCKET}/team-a/other.jsonl",
            f"s3://{BUCKET}/team-a/files-router/claude-batch-2/x.jsonl",
            "s3://other-bucket/team-a/files-router/claude-batch/x.jsonl",
        ):
            forged = encode_id("file", other, "claude-batch")
            with pytest.raises(NotFoundError):
                await sdk.files.retrieve(forged)
            with pytest.raises(NotFoundError):
                await sdk.files.delete(forged)
            with pytest.raises(NotFoundError):
                await sdk.files.content(forged)


def big_rows(n: int, size: int) -> list[dict[str, Any]]:
    rows = chat_rows(n)
    for row in rows:
        row["body"]["messages"][0]["content"] = "x" * size
    return rows


async def test_multipart_upload_over_10_mib(
    start_router: RouterFactory, bedrock_server: TestServer, bedrock: FakeBedrock
) -> None:
    router = await start_router(config(entry(bedrock_server)))
    data = jsonl(big_rows(12, 1024 * 1024))
    assert len(data) > 10 * 1024 * 1024
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("big.jsonl", io.BytesIO(data)),
            purpose="batch",
            extra_body={"model": "claude-batch"},
        )
        assert f.bytes > 10 * 1024 * 1024
    parts = [r for r in bedrock.requests if "partNumber" in r.query]
    assert len(parts) >= 2
    assert not bedrock.buckets[BUCKET].uploads  # ListMultipartUploads would list none


async def test_upload_failing_midway_is_aborted(
    start_router: RouterFactory, bedrock_server: TestServer, bedrock: FakeBedrock
) -> None:
    router = await start_router(config(entry(bedrock_server)))
    data = jsonl(big_rows(8, 1024 * 1024)) + b"this is not json\n"
    async with sdk_for(router) as sdk:
        with pytest.raises(BadRequestError) as err:
            await sdk.files.create(
                file=("broken.jsonl", io.BytesIO(data)),
                purpose="batch",
                extra_body={"model": "claude-batch"},
            )
        assert "Line 9" in str(err.value)
    assert [r for r in bedrock.requests if "partNumber" in r.query]  # a part went up
    assert [r for r in bedrock.requests if r.method == "DELETE" and "uploadId" in r.query]
    assert not bedrock.buckets[BUCKET].uploads
    assert not [k for k in bedrock.buckets[BUCKET].objects if k.endswith(".jsonl")]


async def test_isolation_between_deployments_sharing_a_prefix(
    start_router: RouterFactory, bedrock_server: TestServer, clock: Clock
) -> None:
    router = await start_router(
        config(entry(bedrock_server), entry(bedrock_server, name="claude-batch-2"))
    )
    async with sdk_for(router) as sdk:
        f, batch, _ = await run_to_end(sdk, clock, "claude-batch", chat_rows(MIN))
        mine = decode_id(f.id, "file")
        job = decode_id(batch.id, "batch")
        assert isinstance(mine, RoutedId) and isinstance(job, RoutedId)
        assert job.provider_id.startswith(f"arn:aws:bedrock:{REGION}:{ACCOUNT}:")
        other_files = await sdk.files.list(extra_query={"model": "claude-batch-2"})
        assert other_files.data == []
        other_batches = await sdk.batches.list(extra_query={"model": "claude-batch-2"})
        assert other_batches.data == []
        with pytest.raises(NotFoundError):
            await sdk.files.retrieve(encode_id("file", mine.provider_id, "claude-batch-2"))
        with pytest.raises(NotFoundError):
            await sdk.batches.retrieve(encode_id("batch", job.provider_id, "claude-batch-2"))
        with pytest.raises(NotFoundError):
            await sdk.batches.cancel(encode_id("batch", job.provider_id, "claude-batch-2"))
        # The owner still sees both.
        assert (await sdk.files.retrieve(f.id)).id == f.id
        assert (await sdk.batches.retrieve(batch.id)).id == batch.id


async def test_cancel_maps_stopping_and_stopped(
    start_router: RouterFactory, bedrock_server: TestServer, clock: Clock, bedrock: FakeBedrock
) -> None:
    """StopModelInvocationJob leaves a job Stopping, later Stopped (the fake shows Stopping
    at least once, for ``cancel_seconds`` at least): ``cancelling``, then ``cancelled``."""
    router = await start_router(config(entry(bedrock_server)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("x.jsonl", io.BytesIO(jsonl(chat_rows(MIN)))),
            purpose="batch",
            extra_body={"model": "claude-batch"},
        )

        async def new_batch() -> Any:
            return await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )

        # cancel_seconds=0: Stopped as soon as the Stopping state has been seen once.
        batch = await new_batch()
        stop_at = int(clock.now)
        cancelling = await sdk.batches.cancel(batch.id)
        assert cancelling.status == "cancelling" and cancelling.id == batch.id
        assert cancelling.cancelling_at == stop_at and cancelling.cancelled_at is None
        check("Batch", cancelling.model_dump(exclude_none=True))
        clock.now += 1
        cancelled = await sdk.batches.retrieve(batch.id)
        assert cancelled.status == "cancelled" and cancelled.cancelled_at == stop_at
        check("Batch", cancelled.model_dump(exclude_none=True))
        # Cancelling again is Bedrock's ConflictException, passed through as a 400.
        with pytest.raises(BadRequestError) as info:
            await sdk.batches.cancel(batch.id)
        assert "cannot be stopped" in info.value.message

        # A job that takes a minute to stop stays cancelling, in retrieve and list alike.
        bedrock.cancel_seconds = 60
        slow = await new_batch()
        stop_at = int(clock.now)
        assert (await sdk.batches.cancel(slow.id)).status == "cancelling"
        clock.now += 30
        assert (await sdk.batches.retrieve(slow.id)).status == "cancelling"
        listed = {b.id: b.status async for b in sdk.batches.list()}
        assert listed == {batch.id: "cancelled", slow.id: "cancelling"}
        clock.now += 30
        stopped = await sdk.batches.retrieve(slow.id)
        assert stopped.status == "cancelled" and stopped.cancelled_at == stop_at + 60
        assert stopped.output_file_id is None  # a stopped job leaves no output behind


async def test_failed_job_carries_bedrock_message(
    start_router: RouterFactory, bedrock_server: TestServer, clock: Clock, bedrock: FakeBedrock
) -> None:
    router = await start_router(config(entry(bedrock_server)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("x.jsonl", io.BytesIO(jsonl(chat_rows(MIN)))),
            purpose="batch",
            extra_body={"model": "claude-batch"},
        )
        batch = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        bedrock.min_records = 50  # Bedrock's own minimum is higher than the router was told
        clock.now += 100
        done = await sdk.batches.retrieve(batch.id)
        assert done.status == "failed"
        assert done.errors is not None and done.errors.data
        assert "minimum number of records" in (done.errors.data[0].message or "")


async def test_wrong_credentials_are_openai_shaped_without_secrets(
    start_router: RouterFactory, bedrock_server: TestServer
) -> None:
    wrong = "wrong-secret-value-123"
    router = await start_router(config(entry(bedrock_server, aws_secret_access_key=wrong)))
    async with sdk_for(router) as sdk:
        with pytest.raises(PermissionDeniedError) as err:
            await sdk.files.create(
                file=("x.jsonl", io.BytesIO(jsonl(chat_rows(3)))),
                purpose="batch",
                extra_body={"model": "claude-batch"},
            )
        body = err.value.response.json()
        message = error_of(body)["message"]
        assert "signature" in message.lower()
        assert wrong not in err.value.response.text
        with pytest.raises(PermissionDeniedError) as err:
            await sdk.batches.list(extra_query={"model": "claude-batch"})
        assert wrong not in err.value.response.text
        err_obj = error_of(err.value.response.json())
        assert err_obj["code"] and "Exception" in err_obj["code"]  # AWS's x-amzn-ErrorType
        assert "signature" in err_obj["message"].lower()


async def test_missing_extra_is_503(
    start_router: RouterFactory, bedrock_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore absent: its imports fail (a None entry in sys.modules makes import raise).
    for name in ("botocore", "botocore.auth", "botocore.credentials"):
        monkeypatch.setitem(sys.modules, name, None)
    router = await start_router(config(entry(bedrock_server)))
    monkeypatch.undo()  # the fake itself needs botocore; the router decided at start
    async with sdk_for(router) as sdk:
        with pytest.raises(InternalServerError) as err:
            await sdk.files.create(
                file=("x.jsonl", io.BytesIO(jsonl(chat_rows(3)))),
                purpose="batch",
                extra_body={"model": "claude-batch"},
            )
        assert err.value.status_code == 503
        assert "pip install 'aiohttp_files_router[bedrock]'" in str(err.value)
        with pytest.raises(InternalServerError) as err:
            await sdk.batches.list(extra_query={"model": "claude-batch"})
        assert err.value.status_code == 503 and "[bedrock]" in str(err.value)


async def test_s3_calls_against_moto(
    start_router: RouterFactory, bedrock_server: TestServer
) -> None:
    """Our S3 calls judged by moto's S3 server too, not only by our fake."""
    import asyncio

    import boto3  # type: ignore[import-untyped]  # ships no type hints
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        s3_url = f"http://{host}:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=s3_url,
            region_name=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )
        # moto keeps its state per process, whichever server instance: a bucket of our own.
        await asyncio.to_thread(
            s3.create_bucket,
            Bucket=MOTO_BUCKET,
            CreateBucketConfiguration={"LocationConstraint": REGION},
        )
        router = await start_router(
            config(
                entry(
                    bedrock_server, s3_endpoint_url=s3_url, s3_bucket_name=f"{MOTO_BUCKET}/team-a"
                )
            )
        )
        data = jsonl(big_rows(7, 1024 * 1024))
        async with sdk_for(router) as sdk:
            f = await sdk.files.create(
                file=("moto.jsonl", io.BytesIO(data)),
                purpose="batch",
                extra_body={"model": "claude-batch"},
            )
            got = await sdk.files.retrieve(f.id)
            assert got.filename == "moto.jsonl" and got.bytes == f.bytes > 5 * 1024 * 1024
            listed = await sdk.files.list(extra_query={"model": "claude-batch"})
            assert [x.id for x in listed.data] == [f.id]
            # The client's bytes come back; the records Bedrock reads are beside them.
            assert (await sdk.files.content(f.id)).content == data and got.bytes == len(data)
            key = decode_id(f.id, "file").provider_id.removeprefix(f"s3://{MOTO_BUCKET}/")
            stored = await asyncio.to_thread(s3.get_object, Bucket=MOTO_BUCKET, Key=key)
            lines = stored["Body"].read().splitlines()
            assert len(lines) == 7
            assert json.loads(lines[0])["recordId"] == "00000000001"
            uploads = await asyncio.to_thread(s3.list_multipart_uploads, Bucket=MOTO_BUCKET)
            assert not uploads.get("Uploads")
            assert (await sdk.files.delete(f.id)).deleted
            with pytest.raises(NotFoundError):
                await sdk.files.retrieve(f.id)
            left = await asyncio.to_thread(
                s3.list_objects_v2, Bucket=MOTO_BUCKET, Prefix=key.removesuffix(".jsonl")
            )
            # The records and the original are gone; the custom_ids stay for the outputs.
            assert [o["Key"] for o in left.get("Contents", [])] == [
                key.removesuffix(".jsonl") + ".ids"
            ]
    finally:
        moto.stop()


async def test_s3_error_keeps_aws_message(
    start_router: RouterFactory, bedrock_server: TestServer
) -> None:
    router = await start_router(config(entry(bedrock_server)))
    async with sdk_for(router) as sdk:
        gone = encode_id(
            "file", f"s3://{BUCKET}/team-a/files-router/claude-batch/x.jsonl", "claude-batch"
        )
        with pytest.raises(NotFoundError) as err:
            await sdk.files.content(gone)
        assert "The specified key does not exist." in str(err.value)
        with pytest.raises(NotFoundError):
            await sdk.files.retrieve(gone)


KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


async def test_tools_kms_and_session_token(
    start_router: RouterFactory, tmp_path: Path, aiohttp_server: ServerFactory, clock: Clock
) -> None:
    temp_id, temp_secret, token = "ASIAFAKETEMPORARY003", "temporary-secret-1", "session-token-xyz"
    fake = FakeBedrock(
        {temp_id: AwsCredential(temp_secret, ACCOUNT, token)},
        {BUCKET: ACCOUNT},
        region=REGION,
        storage=tmp_path / "aws2",
        phase_seconds=10,
        clock=clock,
        min_records=MIN,
    )
    server = await aiohttp_server(fake.app())
    router = await start_router(
        config(
            entry(
                server,
                aws_access_key_id=temp_id,
                aws_secret_access_key=temp_secret,
                aws_session_token=token,
                s3_encryption_key_id=KMS,
            )
        )
    )
    rows = chat_rows(MIN)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    rows[0]["body"].update(tools=[tool], tool_choice="required")
    async with sdk_for(router) as sdk:
        _, _, done = await run_to_end(sdk, clock, "claude-batch", rows)
        assert done.status == "completed", done
        out = {r["custom_id"]: r for r in await output_rows(sdk, done.output_file_id)}
        choice = out["req-0"]["response"]["body"]["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        assert choice["message"]["tool_calls"][0]["function"]["name"] == "lookup"
        assert out["req-1"]["response"]["body"]["choices"][0]["finish_reason"] == "stop"
    objects = fake.buckets[BUCKET].objects
    assert objects and all(o.kms_key == KMS for o in objects.values())
    job = next(iter(fake.jobs.values()))
    assert job.request["outputDataConfig"]["s3OutputDataConfig"]["s3EncryptionKeyId"] == KMS
    assert len(job.name) <= 63 and job.name.startswith("fr-claude-batch-")


async def test_s3_refs_in_rows_only_inside_the_namespace(
    start_router: RouterFactory, bedrock_server: TestServer
) -> None:
    router = await start_router(
        config(entry(bedrock_server, model=NOVA, allowed_file_uris=["s3://shared-images/"]))
    )

    def rows(url: str) -> bytes:
        r = chat_rows(1)
        r[0]["body"]["messages"][0]["content"] = [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": url}},
        ]
        return jsonl(r)

    async with sdk_for(router) as sdk:
        for url in (
            "s3://shared-images/cat.png",
            f"s3://{BUCKET}/team-a/files-router/claude-batch/a.png",
        ):
            await sdk.files.create(
                file=("ok.jsonl", io.BytesIO(rows(url))),
                purpose="batch",
                extra_body={"model": "claude-batch"},
            )
        for url in ("s3://secret-bucket/x.png", f"s3://{BUCKET}/team-b/x.png"):
            with pytest.raises(BadRequestError) as err:
                await sdk.files.create(
                    file=("bad.jsonl", io.BytesIO(rows(url))),
                    purpose="batch",
                    extra_body={"model": "claude-batch"},
                )
            assert "Line 1" in str(err.value) and "allowed_file_uris" in str(err.value)


async def test_credential_chain_from_the_environment(
    start_router: RouterFactory, bedrock_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    router = await start_router(
        config(entry(bedrock_server, aws_access_key_id=None, aws_secret_access_key=None))
    )
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("x.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
            purpose="batch",
            extra_body={"model": "claude-batch"},
        )
        assert (await sdk.files.retrieve(f.id)).bytes == f.bytes


async def test_file_list_pages_with_cursors(
    start_router: RouterFactory, bedrock_server: TestServer
) -> None:
    router = await start_router(config(entry(bedrock_server)))
    async with sdk_for(router) as sdk:
        ids = []
        for i in range(3):
            f = await sdk.files.create(
                file=(f"f{i}.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
                purpose="batch",
                extra_body={"model": "claude-batch"},
            )
            ids.append(f.id)
        first = await sdk.files.list(limit=2, extra_query={"model": "claude-batch"})
        assert len(first.data) == 2 and first.has_more
        rest = await sdk.files.list(
            limit=2, after=first.data[-1].id, extra_query={"model": "claude-batch"}
        )
        seen = [f.id for f in first.data] + [f.id for f in rest.data]
        assert sorted(seen) == sorted(ids) and not rest.has_more


async def test_batch_list_pages_with_cursors(
    start_router: RouterFactory, bedrock_server: TestServer
) -> None:
    router = await start_router(config(entry(bedrock_server)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("x.jsonl", io.BytesIO(jsonl(chat_rows(MIN)))),
            purpose="batch",
            extra_body={"model": "claude-batch"},
        )
        made = [
            (
                await sdk.batches.create(
                    input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
                )
            ).id
            for _ in range(3)
        ]
        first = await sdk.batches.list(limit=2, extra_query={"model": "claude-batch"})
        assert len(first.data) == 2 and first.has_more
        rest = await sdk.batches.list(
            limit=2, after=first.data[-1].id, extra_query={"model": "claude-batch"}
        )
        seen = [b.id for b in first.data] + [b.id for b in rest.data]
        assert sorted(seen) == sorted(made) and not rest.has_more


@pytest.mark.parametrize(
    ("phase", "bedrock_status"), [(25_000, "PartiallyCompleted"), (30_000, "Expired")]
)
async def test_timed_out_jobs_are_expired(
    start_router: RouterFactory,
    tmp_path: Path,
    aiohttp_server: ServerFactory,
    clock: Clock,
    phase: int,
    bedrock_status: str,
) -> None:
    fake = FakeBedrock(
        {KEY_ID: AwsCredential(SECRET, ACCOUNT)},
        {BUCKET: ACCOUNT},
        region=REGION,
        storage=tmp_path / "aws3",
        phase_seconds=phase,
        clock=clock,
        min_records=MIN,
    )
    server = await aiohttp_server(fake.app())
    router = await start_router(config(entry(server)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("x.jsonl", io.BytesIO(jsonl(chat_rows(10)))),
            purpose="batch",
            extra_body={"model": "claude-batch"},
        )
        batch = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        clock.now += 3 * 86400
        done = await sdk.batches.retrieve(batch.id)
    assert next(iter(fake.jobs.values())).final == bedrock_status
    assert done.status == "expired" and done.expired_at is not None
    assert done.errors is not None and done.errors.data is not None
    assert done.errors.data[0].message
    counts = done.request_counts
    assert counts is not None
    if bedrock_status == "PartiallyCompleted":
        assert counts.total == 10 and 0 < counts.completed < 10
        assert done.output_file_id is not None
    else:
        assert done.output_file_id is None


async def test_batch_rules_checked_at_upload(
    start_router: RouterFactory, bedrock_server: TestServer
) -> None:
    router = await start_router(config(entry(bedrock_server)))
    rows = chat_rows(2)
    rows[1]["url"] = "/v1/embeddings"
    rows[0]["body"].pop("model")  # the deployment's model runs: rows need none
    async with sdk_for(router) as sdk:
        with pytest.raises(BadRequestError) as err:
            await sdk.files.create(
                file=("x.jsonl", io.BytesIO(jsonl(rows))),
                purpose="batch",
                extra_body={"model": "claude-batch"},
            )
        assert "Line 2" in str(err.value) and "/v1/chat/completions" in str(err.value)
