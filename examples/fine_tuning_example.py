"""A fine-tuning job through the router, as a runnable script.

Start the demo in one shell and run this in another::

    aiohttp-files-router --demo
    python examples/fine_tuning_example.py --model gpt-4o-azure

``--model`` picks the deployment the training file goes to; every later call is routed by the
file's and the job's IDs. ``--base-model`` is the model to tune (the job's own ``model``).
The default key is the demo's admin; ``--api-key sk-demo-team-a`` runs it as a team, whose
file, job and result files then belong to that team (the other team gets 404s for them).
Against your own router: ``--base-url http://host:4000/v1 --api-key sk-... --model name``.
"""

from __future__ import annotations

import argparse
import io
import json
import time

from openai import OpenAI

FINAL = ("succeeded", "failed", "cancelled")


def training_file(n: int = 10) -> bytes:
    examples = [
        {
            "messages": [
                {"role": "system", "content": "You answer with the capital city only."},
                {"role": "user", "content": f"Capital of country #{i}?"},
                {"role": "assistant", "content": f"City{i}"},
            ]
        }
        for i in range(n)
    ]
    return ("\n".join(json.dumps(e) for e in examples) + "\n").encode()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", default="http://127.0.0.1:4000/v1")
    p.add_argument("--api-key", default="sk-demo-1234")
    p.add_argument("--model", default="gpt-4o-litellm", help="the deployment to train on")
    p.add_argument("--base-model", default="gpt-4o-mini-2024-07-18", help="the model to tune")
    p.add_argument("--timeout", type=float, default=120.0)
    args = p.parse_args()
    client = OpenAI(api_key=args.api_key, base_url=args.base_url)

    f = client.files.create(
        file=("train.jsonl", io.BytesIO(training_file())),
        purpose="fine-tune",
        extra_body={"model": args.model},
    )
    print("uploaded", f.id)
    job = client.fine_tuning.jobs.create(training_file=f.id, model=args.base_model)
    print("job", job.id, job.status)
    deadline = time.monotonic() + args.timeout
    while job.status not in FINAL:
        if time.monotonic() > deadline:
            raise SystemExit(f"job still {job.status} after {args.timeout:g} s")
        time.sleep(0.5)
        job = client.fine_tuning.jobs.retrieve(job.id)
        print("  status", job.status)
    if job.status != "succeeded":
        raise SystemExit(f"job ended {job.status}: {job.error}")
    print("fine_tuned_model", job.fine_tuned_model)
    for event in client.fine_tuning.jobs.list_events(job.id):
        print("  event", event.level, event.message)
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id)
    print("checkpoints:", len(checkpoints.data))
    for result in job.result_files:
        text = client.files.content(result).text
        print("result file", result, "first line:", text.splitlines()[0] if text else "")

    listed = list(client.fine_tuning.jobs.list())
    print("jobs on every deployment this key may use:", len(listed))

    second = client.fine_tuning.jobs.create(training_file=f.id, model=args.base_model)
    cancelled = client.fine_tuning.jobs.cancel(second.id)
    print("cancel", cancelled.id, cancelled.status)


if __name__ == "__main__":
    main()
