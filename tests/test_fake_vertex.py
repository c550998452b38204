"""The Vertex AI + GCS fake against Google's documentation and official clients.

The fake is a witness for the Vertex adapter, so these tests drive it directly (aiohttp, and
google-genai / google-auth as Google ships them), never through the adapter.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from aiohttp_files_router.fake import FakeVertex

from .common import serve_in_thread
from .conftest import ServerFactory
from .google_clients import (
    EMAIL,
    SCOPE,
    private_pem,
    public_pem,
    request_row,
    sa_credentials,
)

MODEL = "publishers/google/models/gemini-2.5-flash"
JOBS = "/v1/projects/fake-project/locations/us-central1/batchPredictionJobs"
UNIT = 256 * 1024


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def fake(key: rsa.RSAPrivateKey, tmp_path: Path) -> FakeVertex:
    return FakeVertex({EMAIL: public_pem(key)}, storage=tmp_path / "gcs")


@pytest.fixture
async def server(aiohttp_server: ServerFactory, fake: FakeVertex) -> TestServer:
    return await aiohttp_server(fake.app())


@pytest.fixture
async def http(server: TestServer, key: rsa.RSAPrivateKey) -> Any:
    """An aiohttp session holding a bearer token from the fake's JWT grant (RFC 7523)."""
    async with ClientSession(base_url=str(server.make_url(""))) as session:
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": EMAIL,
                "scope": SCOPE,
                "aud": str(server.make_url("/token")),
                "iat": now,
                "exp": now + 600,
            },
            private_pem(key),
            algorithm="RS256",
        )
        grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}
        async with session.post("/token", data={**grant, "assertion": assertion}) as resp:
            assert resp.status == 200
            token = (await resp.json())["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        yield session


async def _run_batch(http: ClientSession, rows: list[Any]) -> tuple[dict[str, Any], list[Any]]:
    """Upload ``rows`` as JSONL, run a job over it, return the job and its output lines."""
    data = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    async with http.post(
        "/upload/storage/v1/b/fake-bucket/o",
        params={"uploadType": "media", "name": "in/batch.jsonl"},
        data=data.encode(),
        headers={"Content-Type": "application/jsonl"},
    ) as resp:
        assert resp.status == 200
    body = {
        "displayName": "t",
        "model": MODEL,
        "inputConfig": {
            "instancesFormat": "jsonl",
            "gcsSource": {"uris": ["gs://fake-bucket/in/batch.jsonl"]},
        },
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://fake-bucket/out"},
        },
    }
    async with http.post(JOBS, json=body) as resp:
        assert resp.status == 200
        job_id = (await resp.json())["name"].rsplit("/", 1)[-1]
    async with http.get(f"{JOBS}/{job_id}") as resp:
        job = await resp.json()
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    directory = job["outputInfo"]["gcsOutputDirectory"].removeprefix("gs://fake-bucket/")
    name = f"{directory}/predictions.jsonl".replace("/", "%2F")
    async with http.get(f"/storage/v1/b/fake-bucket/o/{name}", params={"alt": "media"}) as resp:
        assert resp.status == 200
        lines = [json.loads(line) for line in (await resp.text()).splitlines()]
    return job, lines


async def test_output_keeps_only_the_request_in_another_order(http: ClientSession) -> None:
    rows = [
        {"custom_id": f"req-{i}", "method": "POST", **request_row(f"q{i}", labels={"k": f"v{i}"})}
        for i in range(6)
    ]
    job, lines = await _run_batch(http, rows)
    assert all(set(line) == {"status", "processed_time", "request", "response"} for line in lines)
    assert all(line["status"] == "" for line in lines)
    assert not any("custom_id" in json.dumps(line) for line in lines)
    echoed = [line["request"] for line in lines]
    assert echoed != [r["request"] for r in rows]  # not input order
    assert sorted(echoed, key=json.dumps) == sorted((r["request"] for r in rows), key=json.dumps)
    assert {line["request"]["labels"]["k"] for line in lines} == {f"v{i}" for i in range(6)}
    assert all(line["response"]["candidates"][0]["content"]["parts"] for line in lines)
    assert job["completionStats"] == {
        "successfulCount": "6",
        "failedCount": "0",
        "incompleteCount": "0",
    }


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"request": {"contents": []}}, "contents"),
        ({"request": {"generationConfig": {"temperature": 0.5}}}, "contents"),
        (request_row("hot", generationConfig={"temperature": 2.5}), "temperature"),
        (request_row("cold", generationConfig={"temperature": -0.1}), "temperature"),
        (request_row("caps", labels={"Key": "v"}), "labels"),
        (request_row("digit", labels={"1key": "v"}), "labels"),
        (request_row("upper value", labels={"k": "Value"}), "labels"),
        (request_row("dot", labels={"k": "a.b"}), "labels"),
        (request_row("long", labels={"k": "v" * 64}), "labels"),
        (request_row("long key", labels={"k" * 64: "v"}), "labels"),
        (request_row("many", labels={f"k{i}": "v" for i in range(65)}), "labels"),
        ({"contents": [{"role": "user", "parts": [{"text": "no wrapper"}]}]}, "request"),
        ("{not json", "JSON"),
    ],
)
async def test_invalid_requests_fail_their_line(http: ClientSession, row: Any, reason: str) -> None:
    ok = request_row(
        "fine", generationConfig={"temperature": 2}, labels={f"k{i}": "" for i in range(64)}
    )
    job, lines = await _run_batch(http, [ok, row])
    assert job["completionStats"]["successfulCount"] == "1"
    assert job["completionStats"]["failedCount"] == "1"
    (failed,) = [line for line in lines if line["status"]]
    assert reason in failed["status"] and "response" not in failed
    assert set(failed) <= {"status", "processed_time", "request"}
    (good,) = [line for line in lines if not line["status"]]
    assert good["request"] == ok["request"] and "response" in good


async def test_international_lowercase_labels_are_allowed(http: ClientSession) -> None:
    row = request_row("intl", labels={"clé_é": "données-ü", "k": ""})
    _, (line,) = await _run_batch(http, [row])
    assert line["status"] == "" and line["request"]["labels"] == row["request"]["labels"]


async def test_drop_labels_loses_the_labels_only(http: ClientSession, fake: FakeVertex) -> None:
    fake.drop_labels = True
    rows = [
        request_row(f"q{i}", labels={"k": f"v{i}"}, generationConfig={"topP": 1}) for i in range(3)
    ]
    _, lines = await _run_batch(http, rows)
    assert all("labels" not in line["request"] for line in lines)
    assert all(line["request"]["generationConfig"] == {"topP": 1} for line in lines)
    assert all(line["status"] == "" for line in lines)


async def _start(http: ClientSession, name: str = "up.bin") -> str:
    async with http.post(
        "/upload/storage/v1/b/fake-bucket/o",
        params={"uploadType": "resumable", "name": name},
        json={"contentType": "application/octet-stream"},
    ) as resp:
        assert resp.status == 200
        return resp.headers["Location"]


async def _put(http: ClientSession, url: str, data: bytes, spec: str) -> tuple[int, str | None]:
    async with http.put(url, data=data, headers={"Content-Range": spec}) as resp:
        await resp.read()
        return resp.status, resp.headers.get("Range")


async def test_resumable_upload_follows_the_docs(http: ClientSession, fake: FakeVertex) -> None:
    blob = bytes(range(256)) * (UNIT * 3 // 256) + b"tail"
    url = await _start(http)
    # Status query before any byte: 308 without Range ("nothing persisted").
    assert await _put(http, url, b"", "bytes */*") == (308, None)
    # A non-final chunk must be a multiple of 256 KiB.
    assert (await _put(http, url, blob[:1000], "bytes 0-999/*"))[0] == 400
    assert await _put(http, url, blob[:UNIT], f"bytes 0-{UNIT - 1}/*") == (
        308,
        f"bytes=0-{UNIT - 1}",
    )
    # A known total may be sent with every chunk (google-resumable-media does).
    rest = len(blob) - UNIT
    assert await _put(http, url, blob[UNIT : 2 * UNIT], f"bytes {UNIT}-{2 * UNIT - 1}/{len(blob)}")
    async with http.put(
        url,
        data=blob[2 * UNIT :],
        headers={"Content-Range": f"bytes {2 * UNIT}-{len(blob) - 1}/{len(blob)}"},
    ) as resp:
        assert resp.status == 200
        obj = await resp.json()
    assert rest > 0 and obj["kind"] == "storage#object" and obj["size"] == str(len(blob))
    assert obj["name"] == "up.bin" and obj["bucket"] == "fake-bucket"
    async with http.get("/storage/v1/b/fake-bucket/o/up.bin", params={"alt": "media"}) as resp:
        assert await resp.read() == blob


async def test_short_range_must_be_resent_from_the_persisted_offset(
    http: ClientSession, fake: FakeVertex
) -> None:
    blob = bytes(range(256)) * (UNIT * 2 // 256) + b"end"
    url = await _start(http)
    fake.short_range_once = True
    status, persisted = await _put(http, url, blob[: 2 * UNIT], f"bytes 0-{2 * UNIT - 1}/*")
    assert status == 308 and persisted == f"bytes=0-{UNIT - 1}"  # half of what was sent
    assert fake.short_range_once is False
    # Moving on as if everything was kept is refused; so is any other offset.
    spec = f"bytes {2 * UNIT}-{len(blob) - 1}/{len(blob)}"
    assert (await _put(http, url, blob[2 * UNIT :], spec))[0] == 400
    assert (await _put(http, url, blob[1 : UNIT + 1], f"bytes 1-{UNIT}/*"))[0] == 400
    # Resent from the persisted offset, the upload completes with the right bytes.
    spec = f"bytes {UNIT}-{len(blob) - 1}/{len(blob)}"
    assert (await _put(http, url, blob[UNIT:], spec))[0] == 200
    async with http.get("/storage/v1/b/fake-bucket/o/up.bin", params={"alt": "media"}) as resp:
        assert await resp.read() == blob


async def test_short_range_on_the_last_chunk_is_a_308(
    http: ClientSession, fake: FakeVertex
) -> None:
    url = await _start(http)
    fake.short_range_once = True
    status, persisted = await _put(http, url, b"0123456789", "bytes 0-9/10")
    assert (status, persisted) == (308, "bytes=0-4")
    assert (await _put(http, url, b"56789", "bytes 5-9/10"))[0] == 200
    async with http.get("/storage/v1/b/fake-bucket/o/up.bin", params={"alt": "media"}) as resp:
        assert await resp.read() == b"0123456789"


@pytest.mark.parametrize("wrong", ["key", "audience", "scope"])
async def test_token_grant_checks_the_assertion(
    server: TestServer, key: rsa.RSAPrivateKey, wrong: str
) -> None:
    now = int(time.time())
    claims = {"iss": EMAIL, "scope": SCOPE, "aud": str(server.make_url("/token"))}
    signer = key
    if wrong == "key":
        signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif wrong == "audience":
        claims["aud"] = "https://example.com/token"
    else:
        claims["scope"] = "https://www.googleapis.com/auth/devstorage.read_only"
    assertion = jwt.encode(
        {**claims, "iat": now, "exp": now + 600}, private_pem(signer), algorithm="RS256"
    )
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    async with ClientSession() as session:
        async with session.post(server.make_url("/token"), data=form) as resp:
            assert resp.status == 400
            assert "access_token" not in await resp.json()


async def test_unknown_token_is_refused(server: TestServer) -> None:
    async with ClientSession() as session:
        async with session.get(
            server.make_url(JOBS), headers={"Authorization": "Bearer ya29.made-up"}
        ) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["status"] == "UNAUTHENTICATED"


# -- google-genai, the official client ----------------------------------------------------------


def test_google_genai_batches(key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    from google import genai
    from google.genai import types

    fake = FakeVertex({EMAIL: public_pem(key)}, storage=tmp_path / "gcs", phase_seconds=3600)
    fake.put_object(
        "fake-bucket",
        "in/requests.jsonl",
        (json.dumps(request_row("a")) + "\n" + json.dumps(request_row("b")) + "\n").encode(),
        "application/jsonl",
    )
    with serve_in_thread(fake.app()) as base:
        credentials = sa_credentials(key, base)
        client = genai.Client(
            vertexai=True,
            project="fake-project",
            location="us-central1",
            credentials=credentials,
            http_options=types.HttpOptions(base_url=base),
        )
        first = client.batches.create(
            model="gemini-2.5-flash",
            src="gs://fake-bucket/in/requests.jsonl",
            config=types.CreateBatchJobConfig(dest="gs://fake-bucket/out", display_name="one"),
        )
        assert first.name and first.name.startswith(
            "projects/fake-project/locations/us-central1/batchPredictionJobs/"
        )
        assert first.state == types.JobState.JOB_STATE_PENDING
        assert first.model == MODEL and first.display_name == "one"
        assert first.src and first.src.gcs_uri == ["gs://fake-bucket/in/requests.jsonl"]
        assert first.dest and first.dest.gcs_uri == "gs://fake-bucket/out"
        # No dest: the SDK derives "<src without .jsonl>/dest" (_extra_utils.format_destination).
        second = client.batches.create(
            model="gemini-2.5-flash", src="gs://fake-bucket/in/requests.jsonl"
        )
        assert second.dest and second.dest.gcs_uri == "gs://fake-bucket/in/requests/dest"
        assert second.name is not None

        got = client.batches.get(name=first.name)
        assert got.name == first.name and got.state == types.JobState.JOB_STATE_PENDING
        listed = list(client.batches.list(config=types.ListBatchJobsConfig(page_size=1)))
        assert {j.name for j in listed} == {first.name, second.name}

        client.batches.cancel(name=first.name)
        assert client.batches.get(name=first.name).state == types.JobState.JOB_STATE_CANCELLED

        # Finish the other job on the fake's clock and read what it wrote.
        fake.clock = lambda: time.time() + 3 * 3600
        done = client.batches.get(name=second.name)
        assert done.state == types.JobState.JOB_STATE_SUCCEEDED
        assert done.completion_stats and done.completion_stats.successful_count == 2
        assert fake.token_requests >= 1
        assert all(r.account == EMAIL for r in fake.requests if r.path != "/token")
        # google-genai speaks v1beta1 to Vertex by default.
        assert any(r.path.startswith("/v1beta1/") for r in fake.requests)


# -- google-cloud-storage, the official GCS client ------------------------------------------------


def test_google_cloud_storage_resumable_upload(key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    from google.cloud import storage  # type: ignore[import-untyped]  # ships no type hints

    fake = FakeVertex({EMAIL: public_pem(key)}, storage=tmp_path / "gcs")
    data = bytes(range(256)) * (UNIT * 3 // 256) + b"tail"
    with serve_in_thread(fake.app()) as base:
        client = storage.Client(
            project="fake-project",
            credentials=sa_credentials(key, base),
            client_options={"api_endpoint": base},
        )
        blob = client.bucket("fake-bucket").blob("in/upload.bin", chunk_size=UNIT)
        with io.BytesIO(data) as fh:  # no size given: google-cloud-storage goes resumable
            blob.upload_from_file(fh, content_type="application/octet-stream")
        # The client checked the crc32c the fake reported against its own.
        assert blob.size == len(data) and blob.crc32c
        assert client.bucket("fake-bucket").blob("in/upload.bin").download_as_bytes() == data
    (upload,) = fake.finished_uploads
    assert upload.chunk_sizes == [UNIT, UNIT, UNIT, 4]


def test_google_resumable_media_recovers_from_a_short_range(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """google-resumable-media does not resend by itself after a short 308: the next chunk
    raises ValueError ("Bytes stream is in unexpected state") and its documented way out is
    ``recover()``, a status check whose 308 Range it seeks the stream to."""
    from google.auth.transport.requests import AuthorizedSession
    from google.resumable_media.requests import ResumableUpload

    fake = FakeVertex({EMAIL: public_pem(key)}, storage=tmp_path / "gcs")
    data = bytes(range(256)) * (UNIT * 3 // 256) + b"tail"
    with serve_in_thread(fake.app()) as base:
        transport = AuthorizedSession(sa_credentials(key, base))
        upload = ResumableUpload(
            f"{base}/upload/storage/v1/b/fake-bucket/o?uploadType=resumable", 2 * UNIT
        )
        stream = io.BytesIO(data)
        upload.initiate(transport, stream, {"name": "in/short.bin"}, "application/octet-stream")
        fake.short_range_once = True
        recovered = 0
        while not upload.finished:
            try:
                upload.transmit_next_chunk(transport)
            except ValueError:
                recovered += 1
                upload.recover(transport)
        transport.close()
    assert recovered == 1 and upload.bytes_uploaded == len(data)
    assert fake.objects[("fake-bucket", "in/short.bin")].path.read_bytes() == data
    (done,) = fake.finished_uploads
    # 512 KiB sent, 256 KiB kept; the status check; 512 KiB again from 256 KiB; the tail.
    assert done.chunk_sizes == [2 * UNIT, 0, 2 * UNIT, 4]


def test_25_models_report_thoughts_and_implicit_cache_hits() -> None:
    from google.genai import types

    long = {"contents": [{"role": "user", "parts": [{"text": "long context " * 1000}]}]}
    usage = types.GenerateContentResponse.model_validate(
        FakeVertex._predict("publishers/google/models/gemini-2.5-flash", long)
    ).usage_metadata
    assert usage is not None and usage.prompt_token_count is not None
    assert usage.thoughts_token_count == 7
    assert usage.cached_content_token_count is not None
    assert 2048 <= usage.cached_content_token_count <= usage.prompt_token_count
    assert usage.total_token_count == usage.prompt_token_count + 5 + 7
    older = FakeVertex._predict("publishers/google/models/gemini-2.0-flash", long)
    assert set(older["usageMetadata"]) == {
        "promptTokenCount",
        "candidatesTokenCount",
        "totalTokenCount",
    }


def test_split_predictions_and_expired_jobs_with_googles_clients(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    from google import genai
    from google.cloud import storage
    from google.genai import types

    fake = FakeVertex({EMAIL: public_pem(key)}, storage=tmp_path / "gcs", phase_seconds=3600)
    fake.prediction_file_lines = 1
    rows = "".join(json.dumps(request_row(k)) + "\n" for k in ("a", "b", "c")).encode()
    fake.put_object("fake-bucket", "in/requests.jsonl", rows, "application/jsonl")
    with serve_in_thread(fake.app()) as base:
        credentials = sa_credentials(key, base)
        client = genai.Client(
            vertexai=True,
            project="fake-project",
            location="us-central1",
            credentials=credentials,
            http_options=types.HttpOptions(base_url=base),
        )
        done_job = client.batches.create(
            model="gemini-2.5-flash",
            src="gs://fake-bucket/in/requests.jsonl",
            config=types.CreateBatchJobConfig(dest="gs://fake-bucket/out"),
        )
        fake.expire_seconds = 5000  # between running (3600) and done (7200)
        expiring = client.batches.create(
            model="gemini-2.5-flash",
            src="gs://fake-bucket/in/requests.jsonl",
            config=types.CreateBatchJobConfig(dest="gs://fake-bucket/late"),
        )
        assert done_job.name and expiring.name
        fake.clock = lambda: time.time() + 5400
        expired = client.batches.get(name=expiring.name)
        assert expired.state == types.JobState.JOB_STATE_EXPIRED
        fake.expire_seconds = None
        fake.clock = lambda: time.time() + 3 * 3600
        assert client.batches.get(name=done_job.name).state == types.JobState.JOB_STATE_SUCCEEDED

        gcs = storage.Client(
            project="fake-project",
            credentials=credentials,
            client_options={"api_endpoint": base},
        )
        written = [b.name for b in gcs.list_blobs("fake-bucket", prefix="out/")]
        assert [n.rsplit("/", 1)[1] for n in written] == [
            "predictions.jsonl",
            "predictions_00001.jsonl",
            "predictions_00002.jsonl",
        ]
        # The expired job wrote what it had done by then.
        late = [b.name for b in gcs.list_blobs("fake-bucket", prefix="late/")]
        assert len(late) == 1


def test_embedding_batches_with_googles_clients(key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    """An embedding model's batch job ("Get batch text embeddings predictions"): ``content``
    lines in, ``instance`` / ``predictions[].embeddings`` / ``status`` lines out; only the
    instance's documented fields come back, a chat request line fails its line."""
    from google import genai
    from google.cloud import storage
    from google.genai import types

    fake = FakeVertex({EMAIL: public_pem(key)}, storage=tmp_path / "gcs", phase_seconds=3600)
    lines = [
        {"content": "banana bread", "custom_id": "req-0"},
        {"content": "a machine learning model", "task_type": "RETRIEVAL_DOCUMENT"},
        request_row("chat"),
    ]
    data = "".join(json.dumps(r) + "\n" for r in lines).encode()
    fake.put_object("fake-bucket", "in/embed.jsonl", data, "application/jsonl")
    with serve_in_thread(fake.app()) as base:
        credentials = sa_credentials(key, base)
        client = genai.Client(
            vertexai=True,
            project="fake-project",
            location="us-central1",
            credentials=credentials,
            http_options=types.HttpOptions(base_url=base),
        )
        job = client.batches.create(
            model="text-embedding-005",
            src="gs://fake-bucket/in/embed.jsonl",
            config=types.CreateBatchJobConfig(dest="gs://fake-bucket/emb"),
        )
        assert job.name
        fake.clock = lambda: time.time() + 3 * 3600
        done = client.batches.get(name=job.name)
        assert done.state == types.JobState.JOB_STATE_SUCCEEDED
        assert done.completion_stats and done.completion_stats.successful_count == 2
        assert done.completion_stats.failed_count == 1
        gcs = storage.Client(
            project="fake-project", credentials=credentials, client_options={"api_endpoint": base}
        )
        (blob,) = list(gcs.list_blobs("fake-bucket", prefix="emb/"))
        out = [json.loads(line) for line in blob.download_as_bytes().splitlines()]
    by_content = {o["instance"].get("content"): o for o in out}
    first = by_content["banana bread"]
    assert first["instance"] == {"content": "banana bread"}  # custom_id did not survive
    assert first["status"] == ""
    (prediction,) = first["predictions"]
    values = prediction["embeddings"]["values"]
    assert values and all(isinstance(v, float) for v in values)
    assert prediction["embeddings"]["statistics"]["token_count"] >= 1
    assert by_content["a machine learning model"]["instance"]["task_type"] == ("RETRIEVAL_DOCUMENT")
    failed = by_content[None]
    assert failed["status"].startswith("Bad Request") and failed["predictions"] == []
