"""The OpenAI fake's fine-tuning jobs, driven by the official ``openai`` SDK, no router.

The fake is a witness built from OpenAI's reference and guides (see ``fake/finetuning.py``);
these tests hold it to them: the job's life on the fake's clock, its result file, events and
checkpoints, the checks of the training file, and the shapes of OpenAI's spec.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError, NotFoundError
from openai.types.fine_tuning import FineTuningJob

from aiohttp_files_router.fake import FakeOpenAI

from .common import Clock
from .conftest import KEY_A, KEY_B, ServerFactory
from .fine_tuning_fixtures import chat
from .spec import check

PHASE = 100.0
MODEL = "gpt-4o-mini-2024-07-18"


def preference(n: int) -> bytes:
    rows = [
        {
            "input": {"messages": [{"role": "user", "content": f"q{i}"}]},
            "preferred_output": [{"role": "assistant", "content": "good"}],
            "non_preferred_output": [{"role": "assistant", "content": "bad"}],
        }
        for i in range(n)
    ]
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


@pytest.fixture
def clock() -> Clock:
    return Clock(1_750_000_000.0)


@pytest.fixture
def fake(tmp_path: Path, clock: Clock) -> FakeOpenAI:
    return FakeOpenAI(
        {KEY_A: "a", KEY_B: "b"}, storage=tmp_path / "up", phase_seconds=PHASE, clock=clock
    )


@pytest.fixture
async def server(aiohttp_server: ServerFactory, fake: FakeOpenAI) -> TestServer:
    return await aiohttp_server(fake.app())


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(
        api_key=KEY_A, base_url=str(server.make_url("/v1")), max_retries=0
    ) as sdk:
        yield sdk


async def upload(client: AsyncOpenAI, data: bytes, name: str = "train.jsonl") -> str:
    return (await client.files.create(file=(name, data), purpose="fine-tune")).id


def status(job: FineTuningJob) -> str:
    """The pause example answers "paused", a status outside the SDK's Literal."""
    return job.status


def spec_job(job: FineTuningJob) -> dict[str, Any]:
    obj = job.model_dump(mode="json", exclude_unset=True)
    # FineTuningJob lists ``hyperparameters`` as required yet says it "will only be returned
    # when running supervised jobs" (the DPO example has none): the fake follows the latter.
    supervised = obj["method"]["type"] == "supervised"
    check("FineTuningJob", obj if supervised else obj | {"hyperparameters": {}})
    return obj


async def test_a_job_runs_to_succeeded_and_leaves_results(
    client: AsyncOpenAI, clock: Clock
) -> None:
    training = await upload(client, chat(12))
    validation = await upload(client, chat(10), "valid.jsonl")
    job = await client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=training,
        validation_file=validation,
        suffix="my-suffix",
        seed=7,
        metadata={"team": "blue"},
        integrations=[{"type": "wandb", "wandb": {"project": "p"}}],
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
    )
    created = spec_job(job)
    assert job.id.startswith("ftjob-") and job.status == "validating_files"
    assert job.training_file == training and job.validation_file == validation
    assert job.seed == 7 and job.metadata == {"team": "blue"}
    assert job.fine_tuned_model is None and job.result_files == [] and job.finished_at is None
    assert job.integrations and job.integrations[0].wandb.project == "p"
    # "auto" until the job runs (the create examples), the client's own values as given.
    assert created["hyperparameters"] == {
        "n_epochs": 2,
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
    }
    assert created["method"]["supervised"]["hyperparameters"] == created["hyperparameters"]

    steps = []
    for status in ("queued", "running", "succeeded"):
        clock.now += PHASE
        got = await client.fine_tuning.jobs.retrieve(job.id)
        spec_job(got)
        steps.append(got.status)
        if status == "running":
            assert got.estimated_finish == int(job.created_at + 3 * PHASE)
            assert got.hyperparameters.batch_size == 1  # resolved once running
        else:
            assert got.estimated_finish is None
    assert steps == ["queued", "running", "succeeded"]
    done = await client.fine_tuning.jobs.retrieve(job.id)
    assert done.finished_at == int(job.created_at + 3 * PHASE)
    assert done.fine_tuned_model and done.fine_tuned_model.startswith(f"ft:{MODEL}:a:my-suffix:")
    assert done.trained_tokens and done.trained_tokens > 0
    (result,) = done.result_files
    meta = await client.files.retrieve(result)
    assert meta.purpose == "fine-tune-results" and meta.filename == "step_metrics.csv"
    csv = (await client.files.content(result)).text.splitlines()
    assert csv[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert len(csv) == 1 + 12 * 2 and csv[-1].startswith("24,")
    assert all(len(line.split(",")) == 5 and line.split(",")[3] for line in csv[1:])

    first = await client.fine_tuning.jobs.list_events(job.id, limit=5)
    check("ListFineTuningJobEventsResponse", first.model_dump(mode="json", exclude_unset=True))
    assert len(first.data) == 5 and first.has_more
    events = [e async for e in client.fine_tuning.jobs.list_events(job.id, limit=5)]
    assert len({e.id for e in events}) == len(events)
    times = [e.created_at for e in events]
    assert times == sorted(times, reverse=True)  # newest first
    assert events[0].message == "The job has successfully completed"
    assert events[-1].message.startswith("Created fine-tuning job")
    metrics = [e for e in events if e.type == "metrics"]
    assert len(metrics) == 24 and isinstance(metrics[0].data, dict)
    assert metrics[0].data["step"] == 24 and "valid_loss" in metrics[0].data

    page = await client.fine_tuning.jobs.checkpoints.list(job.id)
    check("ListFineTuningJobCheckpointsResponse", page.model_dump(mode="json", exclude_unset=True))
    assert [c.step_number for c in page.data] == [24, 12]
    assert page.data[0].fine_tuned_model_checkpoint == done.fine_tuned_model
    assert page.data[1].fine_tuned_model_checkpoint.endswith(":ckpt-step-12")
    assert page.data[0].metrics.full_valid_loss is not None


@pytest.mark.parametrize(
    ("data", "code", "fragment"),
    [
        (chat(2) + b"{not json\n" + chat(10), "invalid_training_file", "Line 3:"),
        (
            chat(3) + json.dumps({"messages": [{"role": "bot", "content": "x"}]}).encode(),
            "invalid_training_file",
            "Line 4: messages[0] has an unrecognized role 'bot'",
        ),
        (
            chat(11) + json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(),
            "invalid_training_file",
            "Line 12: the example has no assistant message",
        ),
        (chat(10, weight=0), "invalid_training_file", "Line 1: the example has no assistant"),
        (chat(10, bogus=1), "invalid_training_file", "unrecognized key 'bogus'"),
        (chat(9), "invalid_n_examples", "has 9 example(s), but must have at least 10"),
    ],
)
async def test_a_bad_training_file_fails_the_job_naming_the_line(
    client: AsyncOpenAI, clock: Clock, data: bytes, code: str, fragment: str
) -> None:
    job = await client.fine_tuning.jobs.create(
        model=MODEL, training_file=await upload(client, data)
    )
    assert job.status == "validating_files" and job.error is None
    clock.now += PHASE
    failed = await client.fine_tuning.jobs.retrieve(job.id)
    spec_job(failed)
    assert failed.status == "failed" and failed.error
    assert failed.error.code == code and failed.error.param == "training_file"
    assert fragment in failed.error.message
    assert failed.finished_at == int(job.created_at + PHASE)
    clock.now += 10 * PHASE  # a failed job stays failed and makes nothing
    again = await client.fine_tuning.jobs.retrieve(job.id)
    assert again.status == "failed" and again.result_files == []
    events = [e async for e in client.fine_tuning.jobs.list_events(job.id)]
    assert events[0].level == "error"


async def test_a_bad_validation_file_names_validation_file(
    client: AsyncOpenAI, clock: Clock
) -> None:
    job = await client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=await upload(client, chat(10)),
        validation_file=await upload(client, b"[]\n", "v.jsonl"),
    )
    clock.now += PHASE
    failed = await client.fine_tuning.jobs.retrieve(job.id)
    assert failed.error and failed.error.param == "validation_file"
    assert "Line 1: each line must be a JSON object" in failed.error.message


def _body(err: BadRequestError) -> dict[str, Any]:
    assert isinstance(err.body, dict)
    return err.body


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"training_file": "file-nope"}, "training_file"),
        ({"model": "gpt-4o-2024-05-13"}, "model"),
        ({"suffix": "x" * 65}, "suffix"),
        ({"seed": -1}, "seed"),
        ({"metadata": {str(i): "v" for i in range(17)}}, "metadata"),
        ({"integrations": [{"type": "slack"}]}, "integrations[0].type"),
        (
            {"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}},
            "method.supervised.hyperparameters.n_epochs",
        ),
        ({"method": {"type": "dpo", "dpo": {}}, "model": "gpt-3.5-turbo"}, "model"),
        (
            {"method": {"type": "reinforcement"}, "model": "o4-mini-2025-04-16"},
            "method.reinforcement.grader",
        ),
        (
            {
                "hyperparameters": {"n_epochs": 2},
                "method": {"type": "supervised", "supervised": {}},
            },
            "hyperparameters",
        ),
    ],
)
async def test_create_refuses_what_the_reference_forbids(
    client: AsyncOpenAI, change: dict[str, Any], param: str
) -> None:
    body: dict[str, Any] = {"model": MODEL, "training_file": await upload(client, chat(10))}
    body |= change
    with pytest.raises(BadRequestError) as caught:
        await client.fine_tuning.jobs.create(**body)
    assert _body(caught.value)["param"] == param


async def test_create_wants_files_uploaded_for_fine_tuning(client: AsyncOpenAI) -> None:
    batch = await client.files.create(file=("b.jsonl", b"{}\n"), purpose="batch")
    with pytest.raises(BadRequestError) as caught:
        await client.fine_tuning.jobs.create(model=MODEL, training_file=batch.id)
    assert _body(caught.value)["param"] == "training_file"
    with pytest.raises(BadRequestError) as caught:
        await client.fine_tuning.jobs.create(
            model=MODEL, training_file=await upload(client, chat(10)), validation_file=batch.id
        )
    assert _body(caught.value)["param"] == "validation_file"
    with pytest.raises(BadRequestError) as caught:
        await client.fine_tuning.jobs.create(
            model=MODEL, training_file=batch.id, extra_body={"training_type": "x"}
        )
    assert "training_type" in _body(caught.value)["message"]
    # createFile: "The Fine-tuning API only supports .jsonl files."
    with pytest.raises(BadRequestError) as caught:
        await client.files.create(file=("train.json", chat(10)), purpose="fine-tune")
    assert _body(caught.value)["param"] == "file"


async def test_cancel_pause_and_resume(client: AsyncOpenAI, clock: Clock) -> None:
    training = await upload(client, chat(10))
    job = await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    other = await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    with pytest.raises(BadRequestError):  # only a running job pauses
        await client.fine_tuning.jobs.pause(job.id)
    with pytest.raises(BadRequestError):
        await client.fine_tuning.jobs.resume(job.id)

    cancelled = await client.fine_tuning.jobs.cancel(other.id)
    assert cancelled.status == "cancelled"  # "Immediately cancel a fine-tune job."
    assert cancelled.finished_at == int(clock.now)
    with pytest.raises(BadRequestError):
        await client.fine_tuning.jobs.cancel(other.id)

    clock.now += 2 * PHASE
    assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "running"
    paused = await client.fine_tuning.jobs.pause(job.id)
    assert status(paused) == "paused"  # the pause example
    clock.now += 10 * PHASE
    assert status(await client.fine_tuning.jobs.retrieve(job.id)) == "paused"
    resumed = await client.fine_tuning.jobs.resume(job.id)
    assert resumed.status == "queued"  # the resume example
    clock.now += PHASE
    assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "running"
    clock.now += PHASE
    assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "succeeded"
    messages = [e.message async for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert "Fine-tuning job paused" in messages and "Fine-tuning job resumed" in messages
    clock.now += PHASE
    stays = await client.fine_tuning.jobs.retrieve(other.id)
    assert stays.status == "cancelled" and stays.fine_tuned_model is None
    assert (await client.fine_tuning.jobs.checkpoints.list(other.id)).data == []


async def test_list_pages_filters_by_metadata_and_keeps_accounts_apart(
    client: AsyncOpenAI, server: TestServer
) -> None:
    training = await upload(client, chat(10))
    ids = []
    for team in ("red", "blue", None, "blue"):
        job = await client.fine_tuning.jobs.create(
            model=MODEL, training_file=training, metadata={"team": team} if team else None
        )
        ids.append(job.id)
    first = await client.fine_tuning.jobs.list(limit=3)
    check("ListPaginatedFineTuningJobsResponse", first.model_dump(mode="json", exclude_unset=True))
    assert first.has_more and [j.id for j in first.data] == ids[::-1][:3]
    assert [j.id async for j in client.fine_tuning.jobs.list(limit=3)] == ids[::-1]
    blue = [j.id async for j in client.fine_tuning.jobs.list(metadata={"team": "blue"})]
    assert blue == [ids[3], ids[1]]
    bare = await client.fine_tuning.jobs.list(extra_query={"metadata": "null"})
    assert [j.id for j in bare.data] == [ids[2]]
    with pytest.raises(BadRequestError):
        await client.fine_tuning.jobs.list(limit=0)

    async with AsyncOpenAI(
        api_key=KEY_B, base_url=str(server.make_url("/v1")), max_retries=0
    ) as other:
        assert (await other.fine_tuning.jobs.list()).data == []
        with pytest.raises(NotFoundError):
            await other.fine_tuning.jobs.retrieve(ids[0])
        with pytest.raises(BadRequestError):  # another account's file
            await other.fine_tuning.jobs.create(model=MODEL, training_file=training)


async def test_dpo_and_reinforcement_jobs(client: AsyncOpenAI, clock: Clock) -> None:
    dpo = await client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14",
        training_file=await upload(client, preference(10)),
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}},
    )
    obj = spec_job(dpo)
    # "This value will only be returned when running supervised jobs."
    assert "hyperparameters" not in obj
    assert obj["method"]["dpo"]["hyperparameters"]["beta"] == 0.2
    rows = [
        {"messages": [{"role": "user", "content": f"{i}+1?"}], "answer": str(i + 1)}
        for i in range(10)
    ]
    grader: Any = {
        "type": "string_check",
        "name": "exact",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
    rft = await client.fine_tuning.jobs.create(
        model="o4-mini-2025-04-16",
        training_file=await upload(client, b"".join(json.dumps(r).encode() + b"\n" for r in rows)),
        method={"type": "reinforcement", "reinforcement": {"grader": grader}},
    )
    assert rft.method and rft.method.reinforcement
    # A chat file is not a preference file: the DPO job fails at validation.
    wrong = await client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14",
        training_file=await upload(client, chat(10)),
        method={"type": "dpo"},
    )
    clock.now += 3 * PHASE
    assert (await client.fine_tuning.jobs.retrieve(dpo.id)).status == "succeeded"
    assert (await client.fine_tuning.jobs.retrieve(rft.id)).status == "succeeded"
    failed = await client.fine_tuning.jobs.retrieve(wrong.id)
    assert failed.status == "failed" and failed.error
    assert "Line 1: unrecognized key 'messages'" in failed.error.message


async def test_completions_format_for_babbage(client: AsyncOpenAI, clock: Clock) -> None:
    rows = b"".join(
        json.dumps({"prompt": f"p{i}", "completion": f" c{i}"}).encode() + b"\n" for i in range(10)
    )
    job = await client.fine_tuning.jobs.create(
        model="babbage-002", training_file=await upload(client, rows)
    )
    chat_job = await client.fine_tuning.jobs.create(
        model="babbage-002", training_file=await upload(client, chat(10))
    )
    clock.now += 3 * PHASE
    assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "succeeded"
    assert (await client.fine_tuning.jobs.retrieve(chat_job.id)).status == "failed"
