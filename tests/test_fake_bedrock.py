"""FakeBedrock driven by AWS's own client (boto3), and its S3 subset checked against moto's.

The fake runs in its own thread and event loop, as a real server: boto3 is synchronous.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]  # ships no type hints
import pytest
from botocore.auth import S3SigV4Auth  # type: ignore[import-untyped]  # ships no type hints
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]  # ships no type hints
from botocore.config import Config  # type: ignore[import-untyped]  # ships no type hints
from botocore.credentials import Credentials  # type: ignore[import-untyped]  # ships no type hints
from botocore.exceptions import ClientError  # type: ignore[import-untyped]  # ships no type hints

from aiohttp_files_router.fake import AwsCredential, FakeBedrock
from aiohttp_files_router.fake.bedrock import FakeS3

from .certs import self_signed
from .common import Clock, ThreadedApp, free_port
from .s3_fixtures import moto_server

REGION = "us-west-2"
KEY_ID, SECRET = "AKIAFAKEACCOUNTA0001", "secret-of-account-a"
OTHER_ID, OTHER_SECRET = "AKIAFAKEACCOUNTB0002", "secret-of-account-b"
TEMP_ID, TEMP_SECRET, TOKEN = "ASIAFAKETEMPORARY003", "temporary-secret", "session-token-xyz"
ACCOUNT, OTHER_ACCOUNT = "111122223333", "444455556666"
BUCKET = "batch-bucket"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/BedrockBatch"
CLAUDE = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
NOVA = "amazon.nova-lite-v1:0"
MIB = 1024 * 1024


def make_fake(tmp_path: Path, clock: Callable[[], float], **kw: Any) -> FakeBedrock:
    return FakeBedrock(
        {
            KEY_ID: AwsCredential(SECRET, ACCOUNT),
            OTHER_ID: AwsCredential(OTHER_SECRET, OTHER_ACCOUNT),
            TEMP_ID: AwsCredential(TEMP_SECRET, ACCOUNT, session_token=TOKEN),
        },
        {BUCKET: ACCOUNT, "other-bucket": OTHER_ACCOUNT},
        region=REGION,
        storage=tmp_path / "aws",
        clock=clock,
        **kw,
    )


def client(service: str, url: str, key: str = KEY_ID, secret: str = SECRET, **kw: Any) -> Any:
    config = kw.pop("config", None) or Config(
        s3={"addressing_style": "path"}, retries={"max_attempts": 1}
    )
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=config,
        **kw,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(tmp_path: Path, clock: Clock) -> FakeBedrock:
    return make_fake(tmp_path, clock)


@pytest.fixture
def served(fake: FakeBedrock) -> Iterator[str]:
    server = ThreadedApp(fake.app())
    yield server.url
    server.stop()


@pytest.fixture
def s3(served: str) -> Any:
    return client("s3", served)


@pytest.fixture
def bedrock(served: str) -> Any:
    return client("bedrock", served)


def payload_mode(request: AWSRequest) -> str:
    """The X-Amz-Content-SHA256 botocore is about to send (str or bytes by version)."""
    value = request.headers["X-Amz-Content-SHA256"]
    return value.decode() if isinstance(value, bytes) else str(value)


def code_of(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


# -- S3: the same calls and assertions against the fake and against moto --------------------
@pytest.fixture(params=["fake", "moto"])
def any_s3(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "fake":
        server = ThreadedApp(make_fake(tmp_path, Clock()).app())
        yield client("s3", server.url)
        server.stop()
        return
    with moto_server() as url:
        s3 = client("s3", url)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield s3


def test_s3_subset_agrees_with_moto(any_s3: Any) -> None:
    s3 = any_s3
    body = b'{"recordId": "A1", "modelInput": {}}\n' * 3
    put = s3.put_object(
        Bucket=BUCKET,
        Key="files-router/in put.jsonl",
        Body=body,
        Metadata={"records": "3", "filename": "in.jsonl"},
        ContentType="application/jsonl",
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    head = s3.head_object(Bucket=BUCKET, Key="files-router/in put.jsonl")
    assert head["ContentLength"] == len(body)
    assert head["Metadata"] == {"records": "3", "filename": "in.jsonl"}
    assert head["ContentType"] == "application/jsonl"
    got = s3.get_object(Bucket=BUCKET, Key="files-router/in put.jsonl")
    assert got["Body"].read() == body
    part = s3.get_object(Bucket=BUCKET, Key="files-router/in put.jsonl", Range="bytes=2-9")
    assert part["Body"].read() == body[2:10]
    assert part["ContentRange"] == f"bytes 2-9/{len(body)}"
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=BUCKET, Key="files-router/missing")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=BUCKET, Key="files-router/missing")
    assert code_of(err) == "NoSuchKey"

    # ListObjectsV2: prefix, max-keys, continuation tokens, start-after; keys that need encoding
    keys = [f"files-router/obj-{i:02d}+x y.jsonl" for i in range(5)]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}\n")
    s3.put_object(Bucket=BUCKET, Key="elsewhere/obj", Body=b"x")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kw: dict[str, str] = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=BUCKET, Prefix="files-router/obj-", MaxKeys=2, **kw)
        pages += 1
        seen += [c["Key"] for c in page.get("Contents", [])]
        assert page["KeyCount"] == len(page.get("Contents", []))
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == keys and pages == 3
    after = s3.list_objects_v2(Bucket=BUCKET, Prefix="files-router/", StartAfter=keys[2])
    assert [c["Key"] for c in after["Contents"]] == keys[3:]
    assert after["Contents"][0]["Size"] == 3

    grouped = s3.list_objects_v2(Bucket=BUCKET, Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["elsewhere/", "files-router/"]
    assert "Contents" not in grouped and grouped["KeyCount"] == 2

    s3.delete_object(Bucket=BUCKET, Key=keys[0])
    s3.delete_object(Bucket=BUCKET, Key="files-router/never-existed")  # 204 all the same
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="files-router/obj-")
    assert [c["Key"] for c in listed["Contents"]] == keys[1:]

    # Multipart: 5 MiB parts and a short last one
    key = "files-router/big.jsonl"
    chunks = [os.urandom(5 * MIB), os.urandom(5 * MIB), b"tail"]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key, Metadata={"records": "7"})
    etags = [
        s3.upload_part(
            Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], PartNumber=n, Body=data
        )["ETag"]
        for n, data in enumerate(chunks, start=1)
    ]
    inflight = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="files-router/")
    assert [u["UploadId"] for u in inflight["Uploads"]] == [upload["UploadId"]]
    done = s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    assert done["ETag"].endswith('-3"')
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"".join(chunks)
    assert s3.head_object(Bucket=BUCKET, Key=key)["Metadata"] == {"records": "7"}
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=BUCKET, Prefix="files-router/")

    # A short middle part: refused at completion (EntityTooSmall); then aborted, nothing left
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="files-router/small.jsonl")
    etags = [
        s3.upload_part(
            Bucket=BUCKET,
            Key="files-router/small.jsonl",
            UploadId=upload["UploadId"],
            PartNumber=n,
            Body=data,
        )["ETag"]
        for n, data in enumerate([b"a" * 1024, b"b" * 1024], start=1)
    ]
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(
            Bucket=BUCKET,
            Key="files-router/small.jsonl",
            UploadId=upload["UploadId"],
            MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]
            },
        )
    assert code_of(err) == "EntityTooSmall"
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(
            Bucket=BUCKET,
            Key="files-router/small.jsonl",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]},
        )
    assert code_of(err) == "InvalidPart"
    s3.abort_multipart_upload(
        Bucket=BUCKET, Key="files-router/small.jsonl", UploadId=upload["UploadId"]
    )
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=BUCKET)

    # SSE-KMS: accepted and echoed
    kms = "arn:aws:kms:us-west-2:111122223333:key/00000000-1111-2222-3333-444444444444"
    put = s3.put_object(
        Bucket=BUCKET,
        Key="files-router/secret.jsonl",
        Body=b"{}\n",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=kms,
    )
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == kms
    head = s3.head_object(Bucket=BUCKET, Key="files-router/secret.jsonl")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == kms


# -- S3: what only the fake checks ----------------------------------------------------------
def test_s3_refuses_wrong_credentials(served: str, fake: FakeBedrock) -> None:
    with pytest.raises(ClientError) as err:
        client("s3", served, secret="not-the-secret").list_objects_v2(Bucket=BUCKET)
    assert code_of(err) == "SignatureDoesNotMatch"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as err:
        client("s3", served, key="AKIAUNKNOWNKEY000000").put_object(
            Bucket=BUCKET, Key="k", Body=b"x"
        )
    assert code_of(err) == "InvalidAccessKeyId"
    assert BUCKET in fake.buckets and not fake.buckets[BUCKET].objects
    # another account's bucket
    with pytest.raises(ClientError) as err:
        client("s3", served).get_object(Bucket="other-bucket", Key="k")
    assert code_of(err) == "AccessDenied"
    # Another region in the credential scope: refused with AuthorizationHeaderMalformed and
    # the right <Region>, from which botocore's S3RegionRedirector re-signs and retries.
    before = len(fake.requests)
    elsewhere = boto3.client(
        "s3",
        endpoint_url=served,
        region_name="eu-west-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    errors: list[str] = []
    elsewhere.meta.events.register(
        "needs-retry.s3.ListObjectsV2",
        lambda response, **_: errors.append(response[1].get("Error", {}).get("Code", "ok")),
    )
    assert elsewhere.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    assert errors == ["AuthorizationHeaderMalformed", "ok"]
    assert len(fake.requests) == before + 2


def test_s3_session_tokens(served: str) -> None:
    good = client("s3", served, key=TEMP_ID, secret=TEMP_SECRET, aws_session_token=TOKEN)
    good.put_object(Bucket=BUCKET, Key="t", Body=b"token ok")
    assert good.get_object(Bucket=BUCKET, Key="t")["Body"].read() == b"token ok"
    for token in (None, "another-token"):
        kw = {"aws_session_token": token} if token else {}
        with pytest.raises(ClientError) as err:
            client("s3", served, key=TEMP_ID, secret=TEMP_SECRET, **kw).head_object(
                Bucket=BUCKET, Key="t"
            )
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_s3_unsigned_payload_and_tampered_body(served: str, fake: FakeBedrock) -> None:
    unsigned = client(
        "s3",
        served,
        config=Config(s3={"addressing_style": "path", "payload_signing_enabled": False}),
    )
    seen: list[str] = []
    unsigned.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **_: seen.append(payload_mode(request)),
    )
    unsigned.put_object(Bucket=BUCKET, Key="u", Body=b"unsigned body")
    assert seen == ["UNSIGNED-PAYLOAD"]
    assert unsigned.get_object(Bucket=BUCKET, Key="u")["Body"].read() == b"unsigned body"

    # A body other than the one whose SHA-256 was signed is refused and not stored.
    url = f"{served}/{BUCKET}/tampered"
    req = AWSRequest(method="PUT", url=url, data=b"signed body")
    req.headers["X-Amz-Content-SHA256"] = hashlib.sha256(b"signed body").hexdigest()
    S3SigV4Auth(Credentials(KEY_ID, SECRET), "s3", REGION).add_auth(req)
    sent = urllib.request.Request(url, data=b"other body", method="PUT", headers=dict(req.headers))
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(sent, timeout=10)
    assert http.value.code == 400
    assert b"<Code>XAmzContentSHA256Mismatch</Code>" in http.value.read()
    assert "tampered" not in fake.buckets[BUCKET].objects
    assert not list((fake.root / "objects").iterdir())[1:]  # only the one stored object


def test_s3_aws_chunked_trailer_is_checked(served: str, fake: FakeBedrock) -> None:
    """The body botocore's AwsChunkedWrapper makes is decoded; a wrong CRC32 trailer is
    refused (BadDigest) and nothing is stored."""
    from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum  # type: ignore[import-untyped]

    data = os.urandom(100_000)

    def send(key: str, tamper: bool) -> tuple[int, bytes]:
        wrapped = AwsChunkedWrapper(
            io.BytesIO(data), checksum_cls=Crc32Checksum, checksum_name="x-amz-checksum-crc32"
        ).read()
        if tamper:
            good = Crc32Checksum()
            good.update(data)
            bad = Crc32Checksum()
            bad.update(data + b"!")
            wrapped = wrapped.replace(good.b64digest().encode(), bad.b64digest().encode())
        url = f"{served}/{BUCKET}/{key}"
        req = AWSRequest(method="PUT", url=url, data=wrapped)
        # what botocore's checksum handler puts in the context for a trailer checksum
        req.context["checksum"] = {
            "request_algorithm": {"in": "trailer", "name": "x-amz-checksum-crc32"}
        }
        req.headers["Content-Encoding"] = "aws-chunked"
        req.headers["X-Amz-Trailer"] = "x-amz-checksum-crc32"
        req.headers["X-Amz-Decoded-Content-Length"] = str(len(data))
        S3SigV4Auth(Credentials(KEY_ID, SECRET), "s3", REGION).add_auth(req)
        assert payload_mode(req) == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        sent = urllib.request.Request(url, data=wrapped, method="PUT", headers=dict(req.headers))
        try:
            with urllib.request.urlopen(sent, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.read()

    assert send("chunked-ok", tamper=False)[0] == 200
    assert fake.buckets[BUCKET].objects["chunked-ok"].path.read_bytes() == data
    status, body = send("chunked-bad", tamper=True)
    assert status == 400 and b"<Code>BadDigest</Code>" in body
    assert "chunked-bad" not in fake.buckets[BUCKET].objects


def test_s3_over_tls_takes_botocores_streaming_trailer(tmp_path: Path, clock: Clock) -> None:
    """Over TLS botocore sends PutObject/UploadPart as aws-chunked with a CRC32 trailer
    (STREAMING-UNSIGNED-PAYLOAD-TRAILER); the fake decodes it and checks the trailer."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    fake = make_fake(tmp_path, clock)
    server = ThreadedApp(fake.app(), ssl_context=context)
    try:
        s3 = client("s3", server.url, verify=str(cert))
        modes: list[str] = []
        s3.meta.events.register(
            "before-send.s3.*",
            lambda request, **_: modes.append(payload_mode(request)),
        )
        body = os.urandom(300 * 1024)
        s3.put_object(Bucket=BUCKET, Key="tls.bin", Body=body)
        assert modes == ["STREAMING-UNSIGNED-PAYLOAD-TRAILER"]
        assert fake.buckets[BUCKET].objects["tls.bin"].size == len(body)
        assert "crc32" in fake.buckets[BUCKET].objects["tls.bin"].checksums
        assert s3.get_object(Bucket=BUCKET, Key="tls.bin")["Body"].read() == body
        upload = s3.create_multipart_upload(Bucket=BUCKET, Key="tls-multi.bin")
        modes.clear()
        etag = s3.upload_part(
            Bucket=BUCKET, Key="tls-multi.bin", UploadId=upload["UploadId"], PartNumber=1, Body=body
        )["ETag"]
        assert modes == ["STREAMING-UNSIGNED-PAYLOAD-TRAILER"]
        s3.complete_multipart_upload(
            Bucket=BUCKET,
            Key="tls-multi.bin",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
        assert s3.get_object(Bucket=BUCKET, Key="tls-multi.bin")["Body"].read() == body
        s3.close()
    finally:
        server.stop()


def test_s3_part_after_abort(s3: Any) -> None:
    # moto's server answers a 500 here (KeyError), so this one is the fake's alone.
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="files-router/small.jsonl")
    s3.abort_multipart_upload(
        Bucket=BUCKET, Key="files-router/small.jsonl", UploadId=upload["UploadId"]
    )
    with pytest.raises(ClientError) as err:
        s3.upload_part(
            Bucket=BUCKET,
            Key="files-router/small.jsonl",
            UploadId=upload["UploadId"],
            PartNumber=3,
            Body=b"late",
        )
    assert code_of(err) == "NoSuchUpload"


def test_s3_objects_live_on_disk(s3: Any, fake: FakeBedrock) -> None:
    body = os.urandom(2 * MIB)
    s3.put_object(Bucket=BUCKET, Key="disk.bin", Body=body)
    stored = fake.buckets[BUCKET].objects["disk.bin"]
    assert stored.path.read_bytes() == body and stored.path.is_relative_to(fake.root)
    # a wrong Content-MD5 is refused (BadDigest) and leaves nothing behind
    with pytest.raises(ClientError) as err:
        s3.put_object(
            Bucket=BUCKET, Key="bad.bin", Body=b"abc", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA=="
        )
    assert code_of(err) == "BadDigest"
    assert "bad.bin" not in fake.buckets[BUCKET].objects


# -- Bedrock model invocation jobs ----------------------------------------------------------
def claude_input(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": f"hello {i}"}]}],
        **extra,
    }


def nova_input(i: int) -> dict[str, Any]:
    return {
        "schemaVersion": "messages-v1",
        "system": [{"text": "be brief"}],
        "messages": [{"role": "user", "content": [{"text": f"hello {i}"}]}],
        "inferenceConfig": {"maxTokens": 3},
    }


def put_records(s3: Any, key: str, records: list[dict[str, Any]]) -> str:
    s3.put_object(
        Bucket=BUCKET, Key=key, Body="".join(json.dumps(r) + "\n" for r in records).encode()
    )
    return f"s3://{BUCKET}/{key}"


def create(bedrock: Any, name: str, uri: str, model: str = CLAUDE, **kw: Any) -> str:
    kw.setdefault("outputDataConfig", {"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/out/"}})
    return str(
        bedrock.create_model_invocation_job(
            jobName=name,
            roleArn=ROLE,
            modelId=model,
            inputDataConfig={"s3InputDataConfig": {"s3Uri": uri}},
            **kw,
        )["jobArn"]
    )


def read_jsonl(s3: Any, key: str) -> list[dict[str, Any]]:
    data = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return [json.loads(line) for line in data.splitlines()]


def test_job_runs_to_completed_out_of_order(
    s3: Any, bedrock: Any, clock: Clock, fake: FakeBedrock
) -> None:
    fake.phase_seconds = 60
    records: list[dict[str, Any]] = [
        {"recordId": f"R{i:04d}", "modelInput": claude_input(i)} for i in range(120)
    ]
    records[7]["modelInput"] = claude_input(7, metadata={"user_id": "x"})  # not a Claude field
    del records[9]["modelInput"]["max_tokens"]
    uri = put_records(s3, "files-router/in/batch.jsonl", records)
    kms = "arn:aws:kms:us-west-2:111122223333:key/00000000-1111-2222-3333-444444444444"
    output = {"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/out/", "s3EncryptionKeyId": kms}}
    arn = create(bedrock, "job-1", uri, outputDataConfig=output)
    job_id = arn.rsplit("/", 1)[1]
    assert arn == f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{job_id}"
    statuses = []
    for _ in range(5):
        statuses.append(bedrock.get_model_invocation_job(jobIdentifier=arn)["status"])
        clock.now += 60
    assert statuses == ["Submitted", "Validating", "Scheduled", "InProgress", "Completed"]
    job = bedrock.get_model_invocation_job(jobIdentifier=job_id)  # the bare ID works too
    assert job["jobName"] == "job-1" and job["modelId"] == CLAUDE
    assert isinstance(job["submitTime"], datetime.datetime) and "endTime" in job
    assert (job["totalRecordCount"], job["successRecordCount"], job["errorRecordCount"]) == (
        120,
        118,
        2,
    )
    out = read_jsonl(s3, f"out/{job_id}/batch.jsonl.out")
    assert [r["recordId"] for r in out] != [r["recordId"] for r in records]  # reordered
    by_id = {r["recordId"]: r for r in out}
    assert set(by_id) == {r["recordId"] for r in records}
    ok = by_id["R0003"]
    assert ok["modelInput"] == records[3]["modelInput"]
    output = ok["modelOutput"]
    assert output["type"] == "message" and output["role"] == "assistant"
    assert output["content"][0]["type"] == "text" and output["content"][0]["text"]
    assert output["stop_reason"] == "end_turn" and output["stop_sequence"] is None
    assert set(output["usage"]) == {"input_tokens", "output_tokens"}
    assert set(output) == {
        "id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"
    }  # fmt: skip
    for bad in ("R0007", "R0009"):
        assert "modelOutput" not in by_id[bad]
        assert by_id[bad]["error"]["errorCode"] == 400
        assert by_id[bad]["error"]["errorMessage"].startswith("Malformed input request")
    assert "extraneous key [metadata]" in by_id["R0007"]["error"]["errorMessage"]
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"out/{job_id}/manifest.json.out")["Body"].read()
    )
    assert manifest["totalRecordCount"] == manifest["processedRecordCount"] == 120
    assert (manifest["successRecordCount"], manifest["errorRecordCount"]) == (118, 2)
    assert manifest["inputTokenCount"] > 0 and manifest["outputTokenCount"] == sum(
        r["modelOutput"]["usage"]["output_tokens"] for r in out if "modelOutput" in r
    )
    head = s3.head_object(Bucket=BUCKET, Key=f"out/{job_id}/batch.jsonl.out")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == kms


def test_nova_shape_and_generated_record_ids(s3: Any, bedrock: Any, fake: FakeBedrock) -> None:
    fake.min_records = 3
    records: list[dict[str, Any]] = [
        {"recordId": f"N{i}", "modelInput": nova_input(i)} for i in range(3)
    ]
    records.append({"modelInput": nova_input(3)})  # no recordId: Bedrock adds one
    records.append({"recordId": "N9", "modelInput": {"messages": []}})  # not a Nova body
    no_version = nova_input(5)
    del no_version["schemaVersion"]  # optional in Nova's request schema
    records.append({"recordId": "N5", "modelInput": no_version})
    bad_image = nova_input(6)
    bad_image["messages"][0]["content"].append(
        {"image": {"format": "bmp", "source": {"bytes": "AA=="}}}
    )
    records.append({"recordId": "N6", "modelInput": bad_image})
    arn = create(bedrock, "nova-job", put_records(s3, "in/nova.jsonl", records), model=NOVA)
    job = bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == "Completed"
    out = {r["recordId"]: r for r in read_jsonl(s3, f"out/{arn.rsplit('/', 1)[1]}/nova.jsonl.out")}
    assert len(out) == 7 and {"N0", "N1", "N2", "N5", "N6", "N9"} < set(out)
    generated = (set(out) - {"N0", "N1", "N2", "N5", "N6", "N9"}).pop()
    assert generated.isalnum() and out[generated]["modelInput"] == nova_input(3)
    body = out["N1"]["modelOutput"]
    assert set(body) == {"output", "stopReason", "usage"}
    assert body["output"]["message"]["role"] == "assistant"
    assert len(body["output"]["message"]["content"][0]["text"].split()) == 3
    assert body["stopReason"] == "max_tokens"
    usage = body["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert out["N9"]["error"]["errorCode"] == 400
    assert "modelOutput" in out["N5"]
    assert "format" in out["N6"]["error"]["errorMessage"]


def test_too_few_records_fail_during_validation(s3: Any, bedrock: Any) -> None:
    records = [{"recordId": f"R{i}", "modelInput": claude_input(i)} for i in range(99)]
    arn = create(bedrock, "small", put_records(s3, "in/small.jsonl", records))
    job = bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == "Failed"
    assert "(99)" in job["message"] and "minimum number of records" in job["message"]
    assert "(100)" in job["message"]


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"recordId": "has-dash", "modelInput": {}}, "alphanumeric"),
        ({"recordId": "A" * 12, "modelInput": {}}, "at most 11"),
        ({"recordId": "A1"}, "modelInput"),
    ],
)
def test_invalid_records_fail_the_job(
    s3: Any, bedrock: Any, fake: FakeBedrock, record: dict[str, Any], problem: str
) -> None:
    fake.min_records = 1
    uri = put_records(
        s3, "in/bad.jsonl", [{"recordId": "OK1", "modelInput": claude_input(1)}, record]
    )
    job = bedrock.get_model_invocation_job(jobIdentifier=create(bedrock, "bad", uri))
    assert job["status"] == "Failed"
    assert "line 2" in job["message"] and problem in job["message"]


def test_create_is_validated_from_the_service_model(s3: Any, bedrock: Any, served: str) -> None:
    uri = put_records(s3, "in/ok.jsonl", [{"recordId": "A", "modelInput": claude_input(0)}])
    raw = client("bedrock", served, config=Config(parameter_validation=False))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"jobName": "x" * 64}, "length between 1 and 63"),
        ({"jobName": "bad_name"}, "regular expression pattern"),
        (
            {"inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/in/a b.jsonl"}}},
            "s3Uri",
        ),
        ({"roleArn": "not-a-role"}, "roleArn"),
    ]
    for kw, words in cases:
        params = {
            "jobName": "fine",
            "roleArn": ROLE,
            "modelId": CLAUDE,
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": uri}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/out/"}},
            **kw,
        }
        with pytest.raises(ClientError) as err:
            raw.create_model_invocation_job(**params)
        assert code_of(err) == "ValidationException", kw
        assert words in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        create(bedrock, "llama", uri, model="meta.llama3-70b-instruct-v1:0")
    assert code_of(err) == "ValidationException"
    with pytest.raises(ClientError) as err:
        create(bedrock, "converse", uri, modelInvocationType="Converse")
    assert code_of(err) == "ValidationException"
    assert bedrock.list_model_invocation_jobs()["invocationJobSummaries"] == []
    # the job's input key must end in .jsonl (checked while Validating)
    s3.put_object(Bucket=BUCKET, Key="in/data.json", Body=b"{}")
    job = bedrock.get_model_invocation_job(
        jobIdentifier=create(bedrock, "json", f"s3://{BUCKET}/in/data.json")
    )
    assert job["status"] == "Failed" and ".jsonl" in job["message"]


def test_idempotency_list_and_stop(s3: Any, bedrock: Any, clock: Clock, fake: FakeBedrock) -> None:
    fake.phase_seconds, fake.cancel_seconds = 100, 30
    uri = put_records(
        s3, "in/x.jsonl", [{"recordId": f"A{i}", "modelInput": claude_input(i)} for i in range(100)]
    )
    first = create(bedrock, "alpha-1", uri, clientRequestToken="token1")
    assert create(bedrock, "alpha-1", uri, clientRequestToken="token1") == first
    with pytest.raises(ClientError) as err:
        create(bedrock, "alpha-1", uri)
    assert code_of(err) == "ConflictException"
    clock.now += 1
    second = create(bedrock, "beta-2", uri)
    clock.now += 1
    third = create(bedrock, "alpha-3", uri)
    listed = bedrock.list_model_invocation_jobs(maxResults=2)
    assert [j["jobArn"] for j in listed["invocationJobSummaries"]] == [third, second]
    rest = bedrock.list_model_invocation_jobs(maxResults=2, nextToken=listed["nextToken"])
    assert [j["jobArn"] for j in rest["invocationJobSummaries"]] == [first]
    assert "nextToken" not in rest
    named = bedrock.list_model_invocation_jobs(nameContains="alpha")["invocationJobSummaries"]
    assert {j["jobArn"] for j in named} == {first, third}
    # another account sees none of them
    other = client("bedrock", bedrock.meta.endpoint_url, key=OTHER_ID, secret=OTHER_SECRET)
    assert other.list_model_invocation_jobs()["invocationJobSummaries"] == []
    with pytest.raises(ClientError) as err:
        other.get_model_invocation_job(jobIdentifier=first.rsplit("/", 1)[1])
    assert code_of(err) == "ResourceNotFoundException"

    bedrock.stop_model_invocation_job(jobIdentifier=second)
    assert bedrock.get_model_invocation_job(jobIdentifier=second)["status"] == "Stopping"
    stopping = bedrock.list_model_invocation_jobs(statusEquals="Stopping")["invocationJobSummaries"]
    assert [j["jobArn"] for j in stopping] == [second]
    clock.now += 30
    assert bedrock.get_model_invocation_job(jobIdentifier=second)["status"] == "Stopped"
    with pytest.raises(ClientError) as err:
        bedrock.stop_model_invocation_job(jobIdentifier=second)
    assert code_of(err) == "ConflictException"
    clock.now += 400
    assert bedrock.get_model_invocation_job(jobIdentifier=first)["status"] == "Completed"
    assert not [
        k for k in fake.buckets[BUCKET].objects if k.startswith(f"out/{second.rsplit('/', 1)[1]}/")
    ]


def test_timeouts_expire_or_partially_complete(
    s3: Any, bedrock: Any, clock: Clock, fake: FakeBedrock
) -> None:
    uri = put_records(
        s3, "in/t.jsonl", [{"recordId": f"A{i}", "modelInput": claude_input(i)} for i in range(100)]
    )
    fake.phase_seconds = 10 * 3600  # Scheduled at 24 h: the job expires
    expired = create(bedrock, "late", uri, timeoutDurationInHours=24)
    clock.now += 24 * 3600
    assert bedrock.get_model_invocation_job(jobIdentifier=expired)["status"] == "Expired"
    fake.phase_seconds = 7 * 3600  # InProgress from 21 h to 28 h, cut at 24 h
    partial = create(bedrock, "partial", uri, timeoutDurationInHours=24)
    clock.now += 24 * 3600
    job = bedrock.get_model_invocation_job(jobIdentifier=partial)
    assert job["status"] == "PartiallyCompleted"
    assert job["totalRecordCount"] == 100 and job["processedRecordCount"] == 42
    out = read_jsonl(s3, f"out/{partial.rsplit('/', 1)[1]}/t.jsonl.out")
    assert len(out) == 42


def test_bedrock_refuses_wrong_credentials(served: str) -> None:
    with pytest.raises(ClientError) as err:
        client("bedrock", served, secret="wrong").list_model_invocation_jobs()
    assert code_of(err) == "InvalidSignatureException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as err:
        client("bedrock", served, key="AKIAUNKNOWNKEY000000").list_model_invocation_jobs()
    assert code_of(err) == "UnrecognizedClientException"
    good = client("bedrock", served, key=TEMP_ID, secret=TEMP_SECRET, aws_session_token=TOKEN)
    assert good.list_model_invocation_jobs()["invocationJobSummaries"] == []
    with pytest.raises(ClientError) as err:
        client("bedrock", served, key=TEMP_ID, secret=TEMP_SECRET).list_model_invocation_jobs()
    assert code_of(err) == "UnrecognizedClientException"
    elsewhere = boto3.client(
        "bedrock",
        endpoint_url=served,
        region_name="eu-west-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    with pytest.raises(ClientError) as err:
        elsewhere.list_model_invocation_jobs()
    assert code_of(err) == "InvalidSignatureException"
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(f"{served}/model-invocation-jobs", timeout=10)
    with http.value:
        assert http.value.code == 403
        assert http.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_fake_cli_serves_bedrock(tmp_path: Path) -> None:
    import subprocess
    import sys

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiohttp_files_router.fake",
            "--flavour",
            "bedrock",
            "--aws-credential",
            f"{KEY_ID}={SECRET}:{ACCOUNT}",
            "--bucket",
            BUCKET,
            "--min-records",
            "1",
            "--port",
            str(port),
            "--storage",
            str(tmp_path / "cli"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while "Running on" not in (line := proc.stdout.readline()):
            assert line, "".join(lines)
            lines.append(line)
        url = f"http://127.0.0.1:{port}"
        s3, bedrock = client("s3", url), client("bedrock", url)
        uri = put_records(s3, "in/cli.jsonl", [{"recordId": "C1", "modelInput": claude_input(1)}])
        arn = create(bedrock, "cli-job", uri)
        assert bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] == "Completed"
        out = read_jsonl(s3, f"out/{arn.rsplit('/', 1)[1]}/cli.jsonl.out")
        assert [r["recordId"] for r in out] == ["C1"]
        with pytest.raises(ClientError) as err:
            client("s3", url, secret="wrong").list_objects_v2(Bucket=BUCKET)
        assert code_of(err) == "SignatureDoesNotMatch"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_jobs_move_whoever_looks(s3: Any, bedrock: Any, clock: Clock, fake: FakeBedrock) -> None:
    fake.phase_seconds, fake.min_records = 10, 1
    records = [{"recordId": "A1", "modelInput": claude_input(1)}]
    arn = create(bedrock, "seen", put_records(s3, "in/seen.jsonl", records))
    job_id = arn.rsplit("/", 1)[1]
    clock.now += 40
    # no GetModelInvocationJob: the output is in S3 all the same
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"out/{job_id}/")
    assert [c["Key"] for c in listed["Contents"]] == [
        f"out/{job_id}/manifest.json.out",
        f"out/{job_id}/seen.jsonl.out",
    ]
    # an input deleted after validation fails the job when it would run
    arn = create(bedrock, "gone", put_records(s3, "in/gone.jsonl", records))
    clock.now += 25
    assert bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] == "Scheduled"
    s3.delete_object(Bucket=BUCKET, Key="in/gone.jsonl")
    clock.now += 10
    job = bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == "Failed" and "no longer exists" in job["message"]


def test_fake_package_imports_without_botocore() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['botocore'] = None\n"
        "from aiohttp_files_router.fake import FakeBedrock, FakeOpenAI\n"
        "try:\n"
        "    FakeBedrock({})\n"
        "except RuntimeError as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "aiohttp_files_router[bedrock]" in done.stdout


def test_buckets_in_another_region_want_requests_scoped_to_it(tmp_path: Path) -> None:
    server = ThreadedApp(make_fake(tmp_path, Clock(), bucket_region="eu-west-1").app())
    try:
        # Scoped to Bedrock's region: S3's 400 names the bucket's Region ...
        url = f"{server.url}/{BUCKET}/k"
        req = AWSRequest(method="PUT", url=url, data=b"x")
        req.headers["X-Amz-Content-SHA256"] = hashlib.sha256(b"x").hexdigest()
        S3SigV4Auth(Credentials(KEY_ID, SECRET), "s3", REGION).add_auth(req)
        sent = urllib.request.Request(url, data=b"x", method="PUT", headers=dict(req.headers))
        with pytest.raises(urllib.error.HTTPError) as http:
            urllib.request.urlopen(sent, timeout=10)
        body = http.value.read()
        assert http.value.code == 400 and b"<Code>AuthorizationHeaderMalformed</Code>" in body
        assert b"<Region>eu-west-1</Region>" in body
        # ... which botocore's own region redirector reads and follows.
        client("s3", server.url).put_object(Bucket=BUCKET, Key="k", Body=b"x")
        right = boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name="eu-west-1",
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        assert right.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"x"
        head = right.head_bucket(Bucket=BUCKET)["ResponseMetadata"]["HTTPHeaders"]
        assert head["x-amz-bucket-region"] == "eu-west-1"
        # Bedrock itself stays in its own region.
        jobs = client("bedrock", server.url).list_model_invocation_jobs()
        assert jobs["invocationJobSummaries"] == []
    finally:
        server.stop()


def test_prompt_caching_reports_writes_then_reads(s3: Any, bedrock: Any, fake: FakeBedrock) -> None:
    fake.min_records = 2
    long = " ".join(["context"] * 1100)
    claude = []
    for i in range(3):
        body = claude_input(i)
        body["system"] = [{"type": "text", "text": long, "cache_control": {"type": "ephemeral"}}]
        claude.append({"recordId": f"C{i}", "modelInput": body})
    short = claude_input(3)
    short["system"] = [{"type": "text", "text": "short", "cache_control": {"type": "ephemeral"}}]
    claude.append({"recordId": "C3", "modelInput": short})  # under the minimum: not cached
    arn = create(bedrock, "cache-claude", put_records(s3, "in/cc.jsonl", claude))
    assert bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] == "Completed"
    out = read_jsonl(s3, f"out/{arn.rsplit('/', 1)[1]}/cc.jsonl.out")
    usage = {r["recordId"]: r["modelOutput"]["usage"] for r in out}
    writes = [u["cache_creation_input_tokens"] for k, u in usage.items() if k != "C3"]
    reads = [u["cache_read_input_tokens"] for k, u in usage.items() if k != "C3"]
    # The first record writes the prefix, the others read it.
    cached = max(writes)
    assert cached >= 1024 and sorted(writes) == [0, 0, cached]
    assert sorted(reads) == [0, cached, cached]
    assert set(usage["C3"]) == {"input_tokens", "output_tokens"}

    nova = []
    for i in range(2):
        body = nova_input(i)
        body["system"] = [{"text": long}, {"cachePoint": {"type": "default"}}]
        nova.append({"recordId": f"N{i}", "modelInput": body})
    arn = create(bedrock, "cache-nova", put_records(s3, "in/cn.jsonl", nova), model=NOVA)
    assert bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] == "Completed"
    out = read_jsonl(s3, f"out/{arn.rsplit('/', 1)[1]}/cn.jsonl.out")
    kinds = sorted(k for r in out for k in r["modelOutput"]["usage"] if k.startswith("cache"))
    assert kinds == ["cacheReadInputTokenCount", "cacheWriteInputTokenCount"]


def test_records_real_models_refuse_and_the_invocation_type(
    s3: Any, bedrock: Any, fake: FakeBedrock
) -> None:
    fake.min_records = 2
    tool = {"name": "lookup", "input_schema": {"type": "object"}}
    schema = {"type": "object", "required": ["city"]}
    empty = claude_input(3)
    empty["messages"][0]["content"][0]["text"] = ""
    records: list[dict[str, Any]] = [
        {"recordId": "TOOLS", "modelInput": claude_input(0, tools=[tool])},
        {
            "recordId": "SCHEMA",
            "modelInput": claude_input(
                1, output_config={"format": {"type": "json_schema", "schema": schema}}
            ),
        },
        {"recordId": "BOTH", "modelInput": claude_input(2, temperature=0.5, top_p=0.9)},
        {"recordId": "EMPTY", "modelInput": empty},
    ]
    uri = put_records(s3, "in/kinds.jsonl", records)
    model45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

    def outcome(job_type: str | None) -> dict[str, Any]:
        extra = {"modelInvocationType": job_type} if job_type else {}
        arn = create(bedrock, f"kinds-{job_type}", uri, model=model45, **extra)
        assert bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] == "Completed"
        out = read_jsonl(s3, f"out/{arn.rsplit('/', 1)[1]}/kinds.jsonl.out")
        return {r["recordId"]: r for r in out}

    invoke = outcome("InvokeModel")
    assert "modelOutput" in invoke["TOOLS"]
    assert json.loads(invoke["SCHEMA"]["modelOutput"]["content"][0]["text"]).keys() == {"city"}
    assert "cannot both be specified" in invoke["BOTH"]["error"]["errorMessage"]
    assert "non-empty" in invoke["EMPTY"]["error"]["errorMessage"]
    # A job that names no type is taken as Converse-typed: its records with tools fail.
    untyped = outcome(None)
    assert "modelOutput" not in untyped["TOOLS"]
    assert untyped["TOOLS"]["error"]["errorCode"] == 400


def test_titan_text_embeddings_v2_records(s3: Any, bedrock: Any, fake: FakeBedrock) -> None:
    fake.min_records = 2
    records = [
        {"recordId": "E1", "modelInput": {"inputText": "hello there", "dimensions": 256}},
        {"recordId": "E2", "modelInput": {"inputText": "hello"}},
        {"recordId": "BAD", "modelInput": {"inputText": "x", "dimensions": 100}},
    ]
    arn = create(
        bedrock,
        "titan",
        put_records(s3, "in/t.jsonl", records),
        model="amazon.titan-embed-text-v2:0",
    )
    assert bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] == "Completed"
    out = {r["recordId"]: r for r in read_jsonl(s3, f"out/{arn.rsplit('/', 1)[1]}/t.jsonl.out")}
    assert len(out["E1"]["modelOutput"]["embedding"]) == 256
    assert len(out["E2"]["modelOutput"]["embedding"]) == 1024  # the default
    assert out["E1"]["modelOutput"]["inputTextTokenCount"] == 2
    assert out["BAD"]["error"]["errorCode"] == 400


def test_s3_serves_alone(tmp_path: Path, clock: Clock) -> None:
    """FakeS3: the fake's S3 without the job API, driven by boto3."""
    fake = FakeS3({KEY_ID: AwsCredential(SECRET, ACCOUNT)}, {BUCKET: ACCOUNT}, region=REGION)
    fake.clock = clock
    server = ThreadedApp(fake.app())
    try:
        s3 = client("s3", server.url)
        s3.put_object(Bucket=BUCKET, Key="in/a.jsonl", Body=b"row\n")
        assert s3.get_object(Bucket=BUCKET, Key="in/a.jsonl")["Body"].read() == b"row\n"
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["in/a.jsonl"]
        # No job API here: its path is an S3 bucket that does not exist.
        bedrock = client("bedrock", server.url)
        with pytest.raises(ClientError):
            bedrock.list_model_invocation_jobs()
        wrong = client("s3", server.url, secret="not-the-secret")
        with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
            wrong.get_object(Bucket=BUCKET, Key="in/a.jsonl")
    finally:
        server.stop()
