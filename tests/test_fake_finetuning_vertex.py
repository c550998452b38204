"""The Vertex AI fake's tuning jobs, driven by google-genai's ``tunings`` (vertexai=True).

The fake is a witness built from Google's tuning reference and dataset guide (see
``fake/vertex_tuning.py``); google-genai is a synchronous client, so the fake is served on its
own loop in a thread, as in ``test_fake_vertex.py`` (``common.serve_in_thread``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from aiohttp_files_router.fake import FakeVertex

from .common import Clock, serve_in_thread
from .google_clients import EMAIL, public_pem, sa_credentials

# google-genai warns once that its tuning support is experimental; that is the client's own
# notice, not a fault of the fake.
pytestmark = pytest.mark.filterwarnings("ignore:The SDK's tuning implementation is experimental")

PHASE = 100.0
BUCKET = "fake-bucket"
PREFIX = "projects/123456789012/locations/us-central1"


def example(i: int, **change: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "contents": [
            {"role": "user", "parts": [{"text": f"question {i}"}]},
            {"role": "model", "parts": [{"text": f"answer {i}"}]},
        ],
    }
    return row | change


def jsonl(rows: list[Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock() -> Clock:
    return Clock(1_750_000_000.0)


@pytest.fixture
def fake(key: rsa.RSAPrivateKey, tmp_path: Path, clock: Clock) -> FakeVertex:
    vertex = FakeVertex(
        {EMAIL: public_pem(key)}, storage=tmp_path / "gcs", phase_seconds=PHASE, clock=clock
    )
    vertex.put_object(BUCKET, "tune/train.jsonl", jsonl([example(i) for i in range(12)]), "")
    vertex.put_object(BUCKET, "tune/valid.jsonl", jsonl([example(i) for i in range(3)]), "")
    return vertex


@pytest.fixture
def client(fake: FakeVertex, key: rsa.RSAPrivateKey) -> Iterator[Any]:
    from google import genai
    from google.genai import types

    with serve_in_thread(fake.app()) as base:
        yield genai.Client(
            vertexai=True,
            project="fake-project",
            location="us-central1",
            credentials=sa_credentials(key, base),
            http_options=types.HttpOptions(base_url=base),
        )


def test_tune_runs_to_a_tuned_model(client: Any, fake: FakeVertex, clock: Clock) -> None:
    from google.genai import types

    job = client.tunings.tune(
        base_model="gemini-2.5-flash",
        training_dataset=types.TuningDataset(gcs_uri=f"gs://{BUCKET}/tune/train.jsonl"),
        config=types.CreateTuningJobConfig(
            tuned_model_display_name="mine",
            epoch_count=2,
            learning_rate_multiplier=0.5,
            adapter_size=types.AdapterSize.ADAPTER_SIZE_EIGHT,
            validation_dataset=types.TuningValidationDataset(
                gcs_uri=f"gs://{BUCKET}/tune/valid.jsonl"
            ),
            labels={"team": "blue"},
        ),
    )
    assert job.name.startswith(f"{PREFIX}/tuningJobs/")  # the project number, not its ID
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.base_model == "gemini-2.5-flash" and job.tuned_model is None
    spec = job.supervised_tuning_spec
    assert spec.training_dataset_uri == f"gs://{BUCKET}/tune/train.jsonl"
    assert spec.validation_dataset_uri == f"gs://{BUCKET}/tune/valid.jsonl"
    assert spec.hyper_parameters.epoch_count == 2
    assert spec.hyper_parameters.adapter_size == types.AdapterSize.ADAPTER_SIZE_EIGHT
    (sent,) = [r for r in fake.requests if r.method == "POST" and "tuningJobs" in r.path]
    assert sent.path.startswith("/v1beta1/projects/fake-project/")

    clock.now += PHASE
    running = client.tunings.get(name=job.name)
    assert running.state == types.JobState.JOB_STATE_RUNNING and running.start_time
    stats = running.tuning_data_stats.supervised_tuning_data_stats
    assert stats.tuning_dataset_example_count == 12 and stats.total_billable_token_count > 0

    clock.now += PHASE
    done = client.tunings.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED and done.end_time
    assert done.tuned_model.model.startswith(f"{PREFIX}/models/")
    assert done.tuned_model.endpoint.startswith(f"{PREFIX}/endpoints/")
    assert [c.epoch for c in done.tuned_model.checkpoints] == [1, 2]
    assert done.tuned_model.checkpoints[-1].endpoint == done.tuned_model.endpoint
    assert done.error is None


def test_list_pages_and_cancel(client: Any, clock: Clock) -> None:
    from google.genai import errors, types

    dataset = types.TuningDataset(gcs_uri=f"gs://{BUCKET}/tune/train.jsonl")
    first = client.tunings.tune(base_model="gemini-2.5-flash", training_dataset=dataset)
    clock.now += 1
    second = client.tunings.tune(
        base_model="gemini-2.0-flash-001",
        training_dataset=dataset,
        config=types.CreateTuningJobConfig(labels={"team": "red"}),
    )
    listed = list(client.tunings.list(config=types.ListTuningJobsConfig(page_size=1)))
    assert [j.name for j in listed] == [second.name, first.name]
    red = list(client.tunings.list(config=types.ListTuningJobsConfig(filter="labels.team=red")))
    assert [j.name for j in red] == [second.name]

    client.tunings.cancel(name=first.name)
    cancelled = client.tunings.get(name=first.name)
    # "becomes a job with a TuningJob.error value with a google.rpc.Status.code of 1".
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED
    assert cancelled.error and cancelled.error.code == 1 and cancelled.tuned_model is None
    with pytest.raises(errors.ClientError) as caught:
        client.tunings.cancel(name=first.name)
    assert caught.value.code == 400
    with pytest.raises(errors.ClientError) as caught:
        client.tunings.get(name=f"{PREFIX}/tuningJobs/1")
    assert caught.value.code == 404


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ([example(0), b"{oops"], "line 2 is not valid JSON"),
        (
            [example(0, contents=[{"role": "assistant", "parts": [{"text": "x"}]}])],
            "line 1: contents[0].role must be one of 'user', 'model'",
        ),
        (
            [example(0), example(1, contents=[{"role": "user", "parts": [{"text": "x"}]}])],
            "line 2: the last content must be the model's answer",
        ),
        ([example(0, messages=[])], "line 1: unknown field 'messages'"),
        (
            [
                example(
                    0,
                    contents=[
                        {"role": "user", "parts": [{"inlineData": {"data": "AA=="}}]},
                        {"role": "model", "parts": [{"text": "x"}]},
                    ],
                )
            ],
            "contents[0].parts[0] must hold exactly one of text or fileData",
        ),
        ([{"messages": [{"role": "user", "content": "hi"}]}], "unknown field 'messages'"),
    ],
)
def test_a_malformed_dataset_fails_the_job(
    client: Any, fake: FakeVertex, clock: Clock, rows: list[Any], fragment: str
) -> None:
    from google.genai import types

    data = b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)
    fake.put_object(BUCKET, "tune/bad.jsonl", data, "application/jsonl")
    job = client.tunings.tune(
        base_model="gemini-2.5-flash",
        training_dataset=types.TuningDataset(gcs_uri=f"gs://{BUCKET}/tune/bad.jsonl"),
    )
    assert job.state == types.JobState.JOB_STATE_PENDING
    clock.now += PHASE
    failed = client.tunings.get(name=job.name)
    assert failed.state == types.JobState.JOB_STATE_FAILED
    assert failed.error.code == 3 and fragment in failed.error.message
    assert f"gs://{BUCKET}/tune/bad.jsonl" in failed.error.message
    assert failed.tuning_data_stats is None


@pytest.mark.parametrize(
    ("base_model", "config", "fragment"),
    [
        ("gemini-1.0-pro-002", {}, "not supported"),
        ("gemini-2.5-flash", {"learning_rate_multiplier": -1.0}, "learningRateMultiplier"),
        ("gemini-2.5-flash", {"batch_size": 8}, 'Unknown name "batchSize"'),
    ],
)
def test_create_refuses_bad_requests(
    client: Any, base_model: str, config: dict[str, Any], fragment: str
) -> None:
    from google.genai import errors, types

    with pytest.raises(errors.ClientError) as caught:
        client.tunings.tune(
            base_model=base_model,
            training_dataset=types.TuningDataset(gcs_uri=f"gs://{BUCKET}/tune/train.jsonl"),
            config=types.CreateTuningJobConfig(**config),
        )
    assert caught.value.code == 400 and fragment in str(caught.value)
    with pytest.raises(errors.ClientError) as caught:
        client.tunings.tune(
            base_model="gemini-2.5-flash",
            training_dataset=types.TuningDataset(gcs_uri=f"gs://{BUCKET}/tune/missing.jsonl"),
        )
    assert caught.value.code == 400 and "does not exist" in str(caught.value)


def test_cli_sets_the_project_number_and_the_clock(tmp_path: Path) -> None:
    from aiohttp_files_router.fake.__main__ import build

    fake, _, _ = build(
        [
            "--flavour=vertex",
            "--project-number=42",
            "--phase-seconds=5",
            f"--storage={tmp_path}",
        ]
    )
    assert isinstance(fake, FakeVertex)
    assert fake.project_number == "42" and fake.phase_seconds == 5
