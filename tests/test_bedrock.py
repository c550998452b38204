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

from .bedrock_fixtures import (
    ACCOUNT,
    BUCKET,
    CLAUDE,
    KEY_ID,
    MIN,
    NOVA,
    REGION,
    ROLE,
    SECRET,
    config,
    entry,
    sdk_for,
)
from .common import Clock
from .conftest import RouterFactory, ServerFactory, chat_rows, error_of, jsonl
from .s3_fixtures import moto_server
from .spec import check

MOTO_BUCKET = "files-router-bedrock-test"


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

    with moto_server() as s3_url:
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


async def test_nova_images_are_bytes_and_linked_images_are_refused(
    start_router: RouterFactory, bedrock_server: TestServer, bedrock: FakeBedrock, clock: Clock
) -> None:
    # Nova's request schema takes image bytes (s3Location is video's), and a batch job reaches
    # no object outside its input folder: an s3:// or https:// image is a 400 naming the line.
    router = await start_router(
        config(entry(bedrock_server, model=NOVA, allowed_file_uris=["s3://shared-images/"]))
    )

    def rows(url: str, n: int = 1) -> list[dict[str, Any]]:
        r = chat_rows(n)
        for row in r:
            row["custom_id"] += "-image"
            row["body"]["messages"][0]["content"] = [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": url}},
            ]
        return r

    async with sdk_for(router) as sdk:
        for url in ("s3://shared-images/cat.png", "https://example.com/cat.png"):
            with pytest.raises(BadRequestError) as err:
                await sdk.files.create(
                    file=("bad.jsonl", io.BytesIO(jsonl(chat_rows(1) + rows(url)))),
                    purpose="batch",
                    extra_body={"model": "claude-batch"},
                )
            assert "Line 2" in str(err.value) and "data: URLs" in str(err.value)
        _, _, done = await run_to_end(
            sdk, clock, "claude-batch", rows("data:image/png;base64,iVBORw0KGgo=", MIN)
        )
        assert done.status == "completed" and done.request_counts is not None
        assert done.request_counts.completed == MIN


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


@pytest.mark.parametrize("variable", ["AWS_REGION_NAME", "AWS_REGION"])
async def test_region_from_the_environment_and_a_bucket_in_another_region(
    start_router: RouterFactory,
    aiohttp_server: ServerFactory,
    tmp_path: Path,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    fake = FakeBedrock(
        {KEY_ID: AwsCredential(SECRET, ACCOUNT)},
        {BUCKET: ACCOUNT},
        region=REGION,
        bucket_region="eu-west-1",
        storage=tmp_path / "aws",
        phase_seconds=10,
        clock=clock,
        min_records=MIN,
    )
    server = await aiohttp_server(fake.app())
    for name in ("AWS_REGION_NAME", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, REGION)
    router = await start_router(
        config(
            entry(server, aws_region_name=None, s3_region_name="eu-west-1"),
            entry(server, "same-region", aws_region_name=None),
        )
    )
    async with sdk_for(router) as sdk:
        _, _, done = await run_to_end(sdk, clock, "claude-batch", chat_rows(MIN))
        assert done.status == "completed"
        assert len(await output_rows(sdk, done.output_file_id)) == MIN
        # Without s3_region_name the bucket is taken to be in Bedrock's region: S3 refuses.
        with pytest.raises(BadRequestError) as info:
            await sdk.files.create(
                file=("x.jsonl", io.BytesIO(jsonl(chat_rows(MIN)))),
                purpose="batch",
                extra_body={"model": "same-region"},
            )
        assert "eu-west-1" in info.value.message


@pytest.mark.parametrize("model", [CLAUDE, NOVA])
async def test_cache_reads_and_writes_in_usage(
    start_router: RouterFactory, bedrock_server: TestServer, clock: Clock, model: str
) -> None:
    rows = chat_rows(MIN)
    long = " ".join(["context"] * 1100)
    for row in rows:
        # LiteLLM's cache_control on a content part marks the end of the cached prefix.
        row["body"]["messages"].insert(
            0,
            {
                "role": "system",
                "content": [{"type": "text", "text": long, "cache_control": {"type": "ephemeral"}}],
            },
        )
    router = await start_router(config(entry(bedrock_server, model=model)))
    async with sdk_for(router) as sdk:
        _, _, done = await run_to_end(sdk, clock, "claude-batch", rows)
        assert done.status == "completed", done
        usages = [
            r["response"]["body"]["usage"] for r in await output_rows(sdk, done.output_file_id)
        ]
    details = sorted(
        (
            u["prompt_tokens_details"].get("cache_write_tokens", 0),
            u["prompt_tokens_details"].get("cached_tokens", 0),
        )
        for u in usages
    )
    written = details[-1][0]
    assert written >= 1024
    assert [w for w, _ in details].count(written) == 1  # written once, then read
    assert sum(1 for _, r in details if r == written) == MIN - 1
    for u in usages:
        # The prompt counts every input token, cached or not.
        assert u["prompt_tokens"] >= written
        assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]


CLAUDE_45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def row_with(**body: Any) -> dict[str, Any]:
    row = chat_rows(1)[0]
    row["body"].update(body)
    return row


@pytest.mark.parametrize(
    ("model", "bad", "words"),
    [
        (CLAUDE_45, row_with(temperature=0.5, top_p=0.9), "temperature or top_p, not both"),
        (CLAUDE, row_with(messages=[{"role": "user", "content": ""}]), "empty"),
        (
            CLAUDE,
            row_with(response_format={"type": "json_object"}),
            "response_format of type 'json_object'",
        ),
        (
            NOVA,
            row_with(
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}
            ),
            "response_format has no field in Nova",
        ),
    ],
)
async def test_bodies_real_models_refuse_are_400s_naming_the_line(
    start_router: RouterFactory,
    bedrock_server: TestServer,
    bedrock: FakeBedrock,
    model: str,
    bad: dict[str, Any],
    words: str,
) -> None:
    router = await start_router(config(entry(bedrock_server, model=model)))
    bad["custom_id"] = "bad"
    async with sdk_for(router) as sdk:
        with pytest.raises(BadRequestError) as err:
            await sdk.files.create(
                file=("in.jsonl", io.BytesIO(jsonl([*chat_rows(2), bad]))),
                purpose="batch",
                extra_body={"model": "claude-batch"},
            )
    assert "Line 3" in err.value.message and words in err.value.message
    assert all(not b.objects for b in bedrock.buckets.values())


async def test_structured_output_tools_and_nova_tool_turns_run(
    start_router: RouterFactory, bedrock_server: TestServer, bedrock: FakeBedrock, clock: Clock
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    claude_rows = [
        row_with(
            response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}}
        )
        for _ in range(MIN)
    ]
    for i, row in enumerate(claude_rows):
        row["custom_id"] = f"s-{i}"
    router = await start_router(
        config(entry(bedrock_server), entry(bedrock_server, "nova-batch", model=NOVA))
    )
    async with sdk_for(router) as sdk:
        _, _, done = await run_to_end(sdk, clock, "claude-batch", claude_rows)
        assert done.status == "completed"
        for row in await output_rows(sdk, done.output_file_id):
            answer = json.loads(row["response"]["body"]["choices"][0]["message"]["content"])
            assert set(answer) == {"city"}  # the schema reached the model as output_config
        # The job says its invocation type: tool records fail in Converse-type jobs.
        assert all(
            job.request.get("modelInvocationType") == "InvokeModel" for job in bedrock.jobs.values()
        )
        # A Nova assistant turn with only tool calls keeps them (toolUse), its result follows.
        nova_rows = chat_rows(MIN)
        for row in nova_rows:
            row["body"]["messages"] += [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ]
        _, _, done = await run_to_end(sdk, clock, "nova-batch", nova_rows)
        assert done.status == "completed" and done.request_counts is not None
        assert done.request_counts.completed == MIN
    sent = [
        json.loads(line)["modelInput"]
        for bucket in bedrock.buckets.values()
        for key, obj in bucket.objects.items()
        if key.endswith(".jsonl") and "batch-output" not in key
        for line in obj.path.read_bytes().splitlines()
    ]
    nova = [m for m in sent if "schemaVersion" in m]
    assert nova and all(
        m["messages"][1]["content"][0]["toolUse"]["name"] == "lookup"
        and m["messages"][2]["content"][0]["toolResult"]["toolUseId"] == "call_1"
        for m in nova
    )


@pytest.mark.parametrize(
    ("bucket", "usable"),
    [
        (f"{BUCKET}/team-a", True),
        (f"s3://{BUCKET}/a/b_c/", True),
        (f"{BUCKET}/team=a/", False),  # uploads fine, then every job fails
        (f"{BUCKET}/a b", False),
        ("Batch_Bucket", False),
    ],
)
def test_s3_bucket_name_checked_against_bedrocks_s3_uri_pattern(bucket: str, usable: bool) -> None:
    from aiohttp_files_router import parse_config
    from aiohttp_files_router.accounts import Registry

    params = {
        "model": f"bedrock/{CLAUDE}",
        "aws_region_name": REGION,
        "s3_bucket_name": bucket,
        "aws_batch_role_arn": ROLE,
    }
    parsed = parse_config({"model_list": [{"model_name": "c", "litellm_params": params}]}, env={})
    (account,) = Registry.from_config(parsed).accounts
    if usable:
        assert account.problem is None
    else:
        assert account.problem is not None and "s3_bucket_name" in account.problem


async def test_min_records_is_a_setting_defaulting_to_aws_quota(
    start_router: RouterFactory, bedrock_server: TestServer
) -> None:
    router = await start_router(
        config(
            entry(bedrock_server, batch_min_records=None),
            entry(bedrock_server, "low", batch_min_records=2),
        )
    )
    async with sdk_for(router) as sdk:
        for model, ok in (("claude-batch", False), ("low", True)):
            f = await sdk.files.create(
                file=("in.jsonl", io.BytesIO(jsonl(chat_rows(3)))),
                purpose="batch",
                extra_body={"model": model},
            )
            if ok:
                b = await sdk.batches.create(
                    input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
                )
                assert b.status == "validating"
            else:
                with pytest.raises(BadRequestError) as err:
                    await sdk.batches.create(
                        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
                    )
                assert "100" in err.value.message


TITAN = "amazon.titan-embed-text-v2:0"


def embedding_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"e-{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {
                "model": "text-embedding-3-small",
                "input": f"text number {i}",
                "dimensions": 256,
            },
        }
        for i in range(n)
    ]


async def test_embedding_batches_on_titan_text_embeddings_v2(
    start_router: RouterFactory, bedrock_server: TestServer, bedrock: FakeBedrock, clock: Clock
) -> None:
    router = await start_router(
        config(entry(bedrock_server, "titan", model=TITAN), entry(bedrock_server))
    )
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("e.jsonl", io.BytesIO(jsonl(embedding_rows(MIN)))),
            purpose="batch",
            extra_body={"model": "titan"},
        )
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/embeddings", completion_window="24h"
        )
        assert b.endpoint == "/v1/embeddings"
        clock.now += 100
        done = await sdk.batches.retrieve(b.id)
        assert done.status == "completed", done
        out = await output_rows(sdk, done.output_file_id)
        assert sorted(r["custom_id"] for r in out) == [f"e-{i}" for i in range(MIN)]
        for row in out:
            body = row["response"]["body"]
            assert body["object"] == "list" and body["model"] == TITAN
            (item,) = body["data"]
            assert item["object"] == "embedding" and len(item["embedding"]) == 256
            assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] == 3
        # The same text embeds the same on every record: matched by custom_id, not position.
        by_id = {r["custom_id"]: r["response"]["body"]["data"][0]["embedding"] for r in out}
        assert by_id["e-0"] != by_id["e-1"]

        # Where a model has no embedding batches, or a row cannot map, the upload is refused.
        refused = [
            ("claude-batch", embedding_rows(1), "has no embedding batches"),
            ("titan", chat_rows(1), "is an embedding model"),
            ("titan", [{**embedding_rows(1)[0], "body": {"input": ["a", "b"]}}], "one non-empty"),
        ]
        for model, rows, words in refused:
            with pytest.raises(BadRequestError) as err:
                await sdk.files.create(
                    file=("x.jsonl", io.BytesIO(jsonl(rows))),
                    purpose="batch",
                    extra_body={"model": model},
                )
            assert "Line 1" in err.value.message and words in err.value.message
