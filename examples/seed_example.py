"""The seed's usage example, as a runnable script.

Start the demo in one shell and run this in another::

    aiohttp-files-router --demo
    python examples/seed_example.py

Against your own router: ``--base-url http://host:4000/v1 --api-key sk-... --model name``.
Other batch endpoints: ``--endpoint /v1/embeddings`` (OpenAI accounts; ``--model titan-embed``
on the demo's Bedrock account) or ``--endpoint /v1/moderations`` (OpenAI accounts).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from openai import OpenAI


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", default="http://127.0.0.1:4000/v1")
    p.add_argument("--api-key", default="sk-demo-1234")
    p.add_argument("--model", default="gpt-4o-litellm")
    p.add_argument(
        "--endpoint",
        default="/v1/chat/completions",
        choices=("/v1/chat/completions", "/v1/embeddings", "/v1/moderations"),
    )
    args = p.parse_args()
    client = OpenAI(api_key=args.api_key, base_url=args.base_url)

    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch_data.jsonl"
        bodies = {
            "/v1/chat/completions": lambda i: {
                "model": "gpt-4o",
                "messages": [{"role": "user", "content": f"Say hello #{i}"}],
            },
            "/v1/embeddings": lambda i: {"model": "text-embedding-3-small", "input": f"hello #{i}"},
            "/v1/moderations": lambda i: {"model": "omni-moderation-latest", "input": f"hi #{i}"},
        }
        rows = [
            {
                "custom_id": f"request-{i}",
                "method": "POST",
                "url": args.endpoint,
                "body": bodies[args.endpoint](i),
            }
            for i in range(3)
        ]
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")

        # The model picks the account once; every later call is routed by the IDs.
        with path.open("rb") as fh:
            f = client.files.create(file=fh, purpose="batch", extra_body={"model": args.model})
    print("uploaded", f.id)
    b = client.batches.create(input_file_id=f.id, endpoint=args.endpoint, completion_window="24h")
    print("batch", b.id, b.status)
    while b.status not in ("completed", "failed", "expired", "cancelled"):
        time.sleep(0.5)
        b = client.batches.retrieve(b.id)
        print("  status", b.status)
    if b.output_file_id is None:
        raise SystemExit(f"batch ended {b.status} without output: {b.errors}")
    out = client.files.content(b.output_file_id).text
    for line in out.splitlines():
        row = json.loads(line)
        body = row["response"]["body"]
        if args.endpoint == "/v1/embeddings":
            reply = f"embedding of {len(body['data'][0]['embedding'])} floats"
        elif args.endpoint == "/v1/moderations":
            reply = f"flagged={body['results'][0]['flagged']}"
        else:
            reply = body["choices"][0]["message"]["content"]
        print(" ", row["custom_id"], "->", reply)

    listed = client.batches.list(extra_query={"model": args.model})
    print("batches on this account:", len(listed.data))

    second = client.batches.create(
        input_file_id=f.id, endpoint=args.endpoint, completion_window="24h"
    )
    cancelled = client.batches.cancel(second.id)
    print("cancel", cancelled.id, cancelled.status)
    print(
        "files on this account:",
        [x.id for x in client.files.list(extra_query={"model": args.model})],
    )
    print("deleted input:", client.files.delete(f.id).deleted)


if __name__ == "__main__":
    main()
