"""Two scoped keys on two Vertex deployments sharing one project and one bucket prefix.

Written as the attack: the `gemini-pro` key tries to list, read, delete and cancel what the
`gemini-batch` deployment owns, by routed IDs, raw `gs://` IDs and job numbers, signed or not.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from openai import BadRequestError, NotFoundError, PermissionDeniedError

from aiohttp_files_router.fake import FakeVertex
from aiohttp_files_router.ids import RoutedId, decode_id, encode_id

from .common import Clock
from .conftest import MASTER, RouterFactory, ServerFactory, chat_rows, client, error_of, jsonl
from .vertex_fixtures import BUCKET, EMAIL, PUBLIC, vertex_entry

SECRET = "id-secret-for-vertex-tests"
KEY_BATCH = "sk-team-batch"
KEY_PRO = "sk-team-pro"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gcp(tmp_path: Path, clock: Clock) -> FakeVertex:
    return FakeVertex(
        {EMAIL: PUBLIC}, buckets=[BUCKET], storage=tmp_path / "gcs", phase_seconds=60, clock=clock
    )


@pytest.fixture
async def gcp_server(aiohttp_server: ServerFactory, gcp: FakeVertex) -> TestServer:
    return await aiohttp_server(gcp.app())


def two_deployments(server: TestServer, **pro: Any) -> dict[str, Any]:
    batch = vertex_entry(server, name="gemini-batch")
    other = vertex_entry(server, name="gemini-pro")
    other["litellm_params"].update(pro)
    return {
        "model_list": [batch, other],
        "general_settings": {"master_key": MASTER},
        "files_router": {
            "id_secret": SECRET,
            "ownership": "shared",  # the deployments' namespaces alone
            "keys": [
                {"key": KEY_BATCH, "models": ["gemini-batch"]},
                {"key": KEY_PRO, "models": ["gemini-pro"]},
            ],
        },
    }


def raw_id(file_id: str) -> str:
    decoded = decode_id(file_id, "file", [SECRET])
    assert isinstance(decoded, RoutedId)
    return decoded.provider_id


async def call(
    router: TestServer, key: str, method: str, path: str, **kw: Any
) -> tuple[int, dict[str, Any] | bytes]:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http,
        http.request(method, router.make_url(path), **kw) as resp,
    ):
        body = await resp.read()
        return resp.status, (json.loads(body) if resp.content_type == "application/json" else body)


async def test_files_of_one_deployment_are_404_to_the_other(
    start_router: RouterFactory, gcp_server: TestServer, gcp: FakeVertex
) -> None:
    router = await start_router(two_deployments(gcp_server))
    async with client(router, KEY_BATCH) as victim, client(router, KEY_PRO) as attacker:
        f = await victim.files.create(
            file=("rows.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
            purpose="batch",
            extra_body={"model": "gemini-batch"},
        )
        gs = raw_id(f.id)
        assert gs.startswith(f"gs://{BUCKET}/team-a/files-router/gemini-batch/")
        mine = await attacker.files.create(
            file=("mine.txt", io.BytesIO(b"hello")),
            purpose="user_data",
            extra_body={"model": "gemini-pro"},
        )
        assert raw_id(mine.id).startswith(f"gs://{BUCKET}/team-a/files-router/gemini-pro/")

        # Listing shows only the deployment's own namespace.
        listed = [x.id async for x in attacker.files.list(extra_query={"model": "gemini-pro"})]
        assert listed == [mine.id]
        # The victim's routed ID: not this key's model.
        with pytest.raises(PermissionDeniedError):
            await attacker.files.retrieve(f.id)
        # The raw gs:// ID through the attacker's own deployment, and the same ID signed for it
        # (as a leaked or router-signed cursor would be): 404 for every operation.
        signed = encode_id("file", gs, "gemini-pro", SECRET)
        for file_id in (gs, signed):
            quoted = quote(file_id, safe="")
            for method, path in (
                ("GET", f"/v1/files/{quoted}?model=gemini-pro"),
                ("GET", f"/v1/files/{quoted}/content?model=gemini-pro"),
                ("DELETE", f"/v1/files/{quoted}?model=gemini-pro"),
                ("GET", f"/v1/files?model=gemini-pro&after={quote(file_id, safe='')}"),
            ):
                status, body = await call(router, KEY_PRO, method, path)
                assert status == 404, (method, path, body)
                assert isinstance(body, dict)
                error_of(body)
            status, body = await call(
                router,
                KEY_PRO,
                "POST",
                "/v1/batches",
                json={
                    "input_file_id": file_id,
                    "endpoint": "/v1/chat/completions",
                    "completion_window": "24h",
                    "model": "gemini-pro",
                },
            )
            assert status == 404, body
        # Still there for its owner.
        assert (await victim.files.retrieve(f.id)).id == f.id
        assert not any(j.source == gs for j in gcp.jobs.values())


async def test_raw_gs_ids_outside_the_namespace_are_404(
    start_router: RouterFactory, gcp_server: TestServer, gcp: FakeVertex
) -> None:
    router = await start_router(two_deployments(gcp_server))
    payroll = b"name,salary\nalice,1\n"
    for name in ("secret/payroll.csv", "team-a/secret/payroll.csv", "team-a/files-router/x"):
        gcp.put_object(BUCKET, name, payroll, "text/csv")
    for name in ("secret/payroll.csv", "team-a/secret/payroll.csv", "team-a/files-router/x"):
        uri = quote(f"gs://{BUCKET}/{name}", safe="")
        for key in (MASTER, KEY_PRO):
            for method, path in (
                ("GET", f"/v1/files/{uri}/content?model=gemini-pro"),
                ("GET", f"/v1/files/{uri}?model=gemini-pro"),
                ("DELETE", f"/v1/files/{uri}?model=gemini-pro"),
            ):
                status, body = await call(router, key, method, path)
                assert status == 404, (name, method, body)
                assert payroll not in (
                    body if isinstance(body, bytes) else json.dumps(body).encode()
                )
        assert (BUCKET, name) in gcp.objects
    # Not even the deployment's own root, nor a sibling deployment whose route starts alike.
    gcp.put_object(BUCKET, "team-a/files-router/gemini-pro-2/a", payroll, "text/csv")
    uri = quote(f"gs://{BUCKET}/team-a/files-router/gemini-pro-2/a", safe="")
    status, _ = await call(router, KEY_PRO, "GET", f"/v1/files/{uri}/content?model=gemini-pro")
    assert status == 404


async def test_jobs_are_labelled_and_filtered(
    start_router: RouterFactory, gcp_server: TestServer, gcp: FakeVertex, clock: Clock
) -> None:
    router = await start_router(two_deployments(gcp_server))
    async with client(router, KEY_BATCH) as victim, client(router, KEY_PRO) as attacker:
        f = await victim.files.create(
            file=("rows.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
            purpose="batch",
            extra_body={"model": "gemini-batch"},
        )
        b = await victim.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        job_id = decode_id(b.id, "batch", [SECRET])
        assert isinstance(job_id, RoutedId)
        number = job_id.provider_id
        # The owner's tag is a label of its own (test_teams_providers.py).
        assert gcp.jobs[number].labels["files_router_deployment"] == "gemini-batch"
        listed = await attacker.batches.list(extra_query={"model": "gemini-pro"})
        assert listed.data == []
        assert any(
            r.query.get("filter") == 'labels.files_router_deployment="gemini-pro"'
            for r in gcp.requests
            if r.path.endswith("/batchPredictionJobs") and r.method == "GET"
        )
        for batch_id in (number, encode_id("batch", number, "gemini-pro", SECRET)):
            with pytest.raises(NotFoundError):
                await attacker.batches.retrieve(batch_id, extra_query={"model": "gemini-pro"})
            with pytest.raises(NotFoundError):
                await attacker.batches.cancel(batch_id, extra_query={"model": "gemini-pro"})
        assert gcp.jobs[number].cancel_at is None  # never cancelled
        with pytest.raises(PermissionDeniedError):
            await attacker.batches.cancel(b.id)

        # The owner still sees and runs it, and its outputs stay reachable by the batch's IDs.
        assert [
            x.id for x in (await victim.batches.list(extra_query={"model": "gemini-batch"})).data
        ] == [b.id]
        clock.now += 3600
        done = await victim.batches.retrieve(b.id)
        assert done.status == "completed" and done.output_file_id
        out = (await victim.files.content(done.output_file_id)).text
        assert sorted(json.loads(x)["custom_id"] for x in out.splitlines()) == ["req-0", "req-1"]
        listed_files = [
            x.id async for x in victim.files.list(extra_query={"model": "gemini-batch"})
        ]
        # The output view (`...predictions.jsonl#succeeded`) reads an object in the namespace.
        predictions = raw_id(done.output_file_id).partition("#")[0]
        assert predictions.startswith(f"gs://{BUCKET}/team-a/files-router/gemini-batch/")
        assert predictions in [raw_id(x) for x in listed_files]
        with pytest.raises((PermissionDeniedError, NotFoundError)):
            await attacker.files.content(done.output_file_id)
        out_raw = quote(raw_id(done.output_file_id), safe="")
        status, _ = await call(
            router, KEY_PRO, "GET", f"/v1/files/{out_raw}/content?model=gemini-pro"
        )
        assert status == 404


async def test_unlabelled_jobs_are_404_and_unlisted(
    start_router: RouterFactory, gcp_server: TestServer, gcp: FakeVertex
) -> None:
    router = await start_router(two_deployments(gcp_server))
    # Created straight in the project (another tool, or the router before labels).
    async with client(router, MASTER) as admin:
        f = await admin.files.create(
            file=("rows.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
            purpose="batch",
            extra_body={"model": "gemini-pro"},
        )
        b = await admin.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        number = decode_id(b.id, "batch", [SECRET]).provider_id
        gcp.jobs[number].labels = {}
        with pytest.raises(NotFoundError):
            await admin.batches.retrieve(b.id)
        with pytest.raises(NotFoundError):
            await admin.batches.cancel(b.id)
        assert (await admin.batches.list(extra_query={"model": "gemini-pro"})).data == []
        assert gcp.jobs[number].cancel_at is None


async def test_fake_honours_the_label_filter(gcp_server: TestServer, gcp: FakeVertex) -> None:
    from aiohttp_files_router.providers.google_auth import GoogleToken, load_service_account

    from .vertex_fixtures import service_account

    token = GoogleToken("t", load_service_account(service_account(gcp_server)), 10)
    try:
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {await token.get(session)}"}
    finally:
        await token.close()
    base = "/v1/projects/fake-project/locations/us-central1/batchPredictionJobs"
    job = {
        "model": "publishers/google/models/gemini-2.5-flash",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/in"]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://b/out"},
        },
    }
    async with aiohttp.ClientSession(headers=headers) as http:
        for labels in ({"team": "a"}, {"team": "b"}, None):
            body = {**job, **({"labels": labels} if labels else {})}
            async with http.post(gcp_server.make_url(base), json=body) as resp:
                assert resp.status == 200, await resp.text()
        for flt, count in (('labels.team="a"', 1), ("labels.team=b", 1), ('labels.team="c"', 0)):
            async with http.get(gcp_server.make_url(base), params={"filter": flt}) as resp:
                assert len((await resp.json()).get("batchPredictionJobs", [])) == count, flt
        async with http.get(gcp_server.make_url(base)) as resp:
            assert len((await resp.json())["batchPredictionJobs"]) == 3
        async with http.get(gcp_server.make_url(base), params={"filter": "state=RUNNING"}) as resp:
            assert resp.status == 400
        async with http.post(
            gcp_server.make_url(base), json={**job, "labels": {"Team": "A"}}
        ) as resp:
            assert resp.status == 400


def image_row(url: str, custom_id: str = "img") -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gemini",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "describe"},
                        {"type": "image_url", "image_url": {"url": url}},
                    ],
                }
            ],
        },
    }


async def test_gs_references_in_rows_stay_inside_the_namespace(
    start_router: RouterFactory, gcp_server: TestServer, gcp: FakeVertex
) -> None:
    router = await start_router(
        two_deployments(gcp_server, allowed_file_uris=[f"gs://{BUCKET}/shared-images/"])
    )
    own = f"gs://{BUCKET}/team-a/files-router/gemini-pro/cat.png"
    refused = [
        f"gs://{BUCKET}/secret/payroll.csv",
        f"gs://{BUCKET}/team-a/files-router/gemini-batch/x.png",
        f"GS://{BUCKET}/secret/payroll.csv",
        f" gs://{BUCKET}/secret/payroll.csv",
        "gs://other-bucket/shared-images/a.png",
    ]
    passed = [
        own,
        f"gs://{BUCKET}/shared-images/dog.png",
        "https://example.com/a.png",
        "data:image/png;base64,iVBORw0KGgo=",
    ]
    async with client(router, KEY_PRO) as attacker:
        for url in refused:
            rows = [*chat_rows(1), image_row(url)]
            with pytest.raises(BadRequestError) as err:
                await attacker.files.create(
                    file=("rows.jsonl", io.BytesIO(jsonl(rows))),
                    purpose="batch",
                    extra_body={"model": "gemini-pro"},
                )
            assert isinstance(err.value.body, dict), err.value.body
            message = err.value.body["message"]
            assert "Line 2" in message and "allowed_file_uris" in message, message
        # JSON escapes spell the same URI.
        escaped = jsonl([image_row("X")]).replace(
            b'"X"', b'"\\u0067s://' + BUCKET.encode() + b'/secret/p.csv"'
        )
        with pytest.raises(BadRequestError):
            await attacker.files.create(
                file=("rows.jsonl", io.BytesIO(escaped)),
                purpose="batch",
                extra_body={"model": "gemini-pro"},
            )
        rows = [image_row(url, f"ok-{i}") for i, url in enumerate(passed)]
        f = await attacker.files.create(
            file=("rows.jsonl", io.BytesIO(jsonl(rows))),
            purpose="batch",
            extra_body={"model": "gemini-pro"},
        )
        stored = (await attacker.files.content(f.id)).text
        assert own in stored and "https://example.com/a.png" in stored
    # No object was left behind by the refused uploads: only the good file's rows and original.
    names = sorted(n for (_, n) in gcp.objects)
    assert len(names) == 2 and names[1] == names[0] + ".original", names


async def test_routes_that_are_not_label_values_or_path_safe(
    start_router: RouterFactory, gcp_server: TestServer, gcp: FakeVertex
) -> None:
    odd = vertex_entry(gcp_server, name="gemini-batch")
    odd["model_info"] = {"id": "Team.EU/1"}
    prefix_twin = vertex_entry(gcp_server, name="gemini-pro")
    prefix_twin["model_info"] = {"id": "Team.EU"}
    router = await start_router(
        {"model_list": [odd, prefix_twin], "general_settings": {"master_key": MASTER}}
    )
    async with client(router, MASTER) as admin:
        f = await admin.files.create(
            file=("rows.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
            purpose="batch",
            extra_body={"model": "Team.EU/1"},
        )
        gs = decode_id(f.id, "file").provider_id
        assert gs.startswith(f"gs://{BUCKET}/team-a/files-router/Team.EU%2F1/")
        # "Team.EU" is a prefix of the route, not of the namespace.
        status, _ = await call(
            router, MASTER, "GET", f"/v1/files/{quote(gs, safe='')}?model=Team.EU"
        )
        assert status == 404
        assert [x.id async for x in admin.files.list(extra_query={"model": "Team.EU"})] == []
        b = await admin.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        number = decode_id(b.id, "batch").provider_id
        label = gcp.jobs[number].labels["files_router_deployment"]
        assert label.startswith("h-") and len(label) <= 63
        assert (await admin.batches.retrieve(b.id)).id == b.id
        listed = await admin.batches.list(extra_query={"model": "Team.EU/1"})
        assert [x.id for x in listed.data] == [b.id]
        assert (await admin.batches.list(extra_query={"model": "Team.EU"})).data == []


def test_google_genai_lists_with_a_label_filter(tmp_path: Path) -> None:
    """The official client's list filter reaches the fake, which honours it."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google import genai
    from google.genai import types

    from .common import serve_in_thread
    from .google_clients import EMAIL as SA_EMAIL
    from .google_clients import public_pem, request_row, sa_credentials

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake = FakeVertex({SA_EMAIL: public_pem(key)}, storage=tmp_path / "gcs", phase_seconds=3600)
    fake.put_object(
        "fake-bucket", "in/r.jsonl", json.dumps(request_row("a")).encode(), "application/jsonl"
    )
    with serve_in_thread(fake.app()) as base:
        client = genai.Client(
            vertexai=True,
            project="fake-project",
            location="us-central1",
            credentials=sa_credentials(key, base),
            http_options=types.HttpOptions(base_url=base),
        )
        jobs = [
            client.batches.create(model="gemini-2.5-flash", src="gs://fake-bucket/in/r.jsonl")
            for _ in range(3)
        ]
        # google-genai cannot label a job; label two as the router would.
        for job, route in zip(jobs, ("gemini-batch", "gemini-pro", None), strict=True):
            assert job.name
            if route:
                fake.jobs[job.name.rsplit("/", 1)[-1]].labels = {"files_router_deployment": route}
        wanted = 'labels.files_router_deployment="gemini-pro"'
        listed = list(client.batches.list(config=types.ListBatchJobsConfig(filter=wanted)))
        assert [j.name for j in listed] == [jobs[1].name]
        assert len(list(client.batches.list())) == 3
