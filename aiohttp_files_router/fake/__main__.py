"""Run the fake upstream alone: ``python -m aiohttp_files_router.fake --key sk-a=a``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from .anthropic import FakeAnthropic
from .azure import FakeAzure, TokenLimitMode
from .bedrock import AwsCredential, FakeBedrock
from .gemini import FakeGemini
from .mistral import FakeMistral
from .openai import FakeOpenAI
from .vertex import FakeVertex


def build(
    argv: Sequence[str] | None = None,
) -> tuple[
    FakeOpenAI | FakeVertex | FakeGemini | FakeBedrock | FakeAnthropic | FakeMistral, str, int
]:
    """The fake the command line describes, and the host and port to serve it on."""
    p = argparse.ArgumentParser(prog="python -m aiohttp_files_router.fake")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4100)
    p.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY=ACCOUNT",
        help="an API key and the account it opens (repeatable)",
    )
    p.add_argument("--storage", type=Path, help="where file contents go (default: a temp dir)")
    p.add_argument(
        "--phase-seconds", type=float, default=0.0, help="seconds a batch spends in each phase"
    )
    p.add_argument(
        "--flavour",
        choices=["openai", "azure", "vertex", "gemini", "bedrock", "anthropic", "mistral"],
        default="openai",
    )
    p.add_argument(
        "--deployment",
        action="append",
        default=[],
        help="an Azure deployment batch rows may name (repeatable)",
    )
    p.add_argument(
        "--service-account",
        action="append",
        default=[],
        metavar="EMAIL=PEM",
        help="Vertex: a client email and the path of its PEM public key",
    )
    p.add_argument("--bucket", action="append", default=[], help="Vertex/Bedrock: a bucket")
    p.add_argument(
        "--project-number",
        default="123456789012",
        help="Vertex: the project number tuning job and model names carry",
    )
    p.add_argument(
        "--aws-credential",
        action="append",
        default=[],
        metavar="KEY_ID=SECRET[:ACCOUNT]",
        help="Bedrock: an access key, its secret and its 12-digit account (repeatable)",
    )
    p.add_argument(
        "--region", default="us-west-2", help="Bedrock: the region signatures are scoped to"
    )
    p.add_argument(
        "--min-records",
        type=int,
        default=100,
        help="Bedrock: minimum records per job (AWS's default quota is 100)",
    )
    p.add_argument(
        "--processing-seconds",
        type=float,
        default=0.3,
        help="Azure: seconds a new file stays pending/running before it is processed",
    )
    p.add_argument(
        "--token-limit",
        action="append",
        default=[],
        metavar="DEPLOYMENT=fail|fail_fast",
        help="Azure: batches of this deployment exceed its enqueued token quota (repeatable)",
    )
    args = p.parse_args(argv)
    token_limit: dict[str, TokenLimitMode] = {}
    for item in args.token_limit:
        deployment, _, mode = item.partition("=")
        if mode not in ("fail", "fail_fast"):
            p.error(f"--token-limit {item!r}: the mode is 'fail' or 'fail_fast'")
        token_limit[deployment] = "fail" if mode == "fail" else "fail_fast"
    keys = dict(item.split("=", 1) for item in args.key) or {"sk-fake": "default"}
    fake: FakeOpenAI | FakeVertex | FakeGemini | FakeBedrock | FakeAnthropic | FakeMistral
    if args.flavour == "bedrock":
        credentials = {}
        for item in args.aws_credential:
            key_id, _, rest = item.partition("=")
            secret, _, account = rest.rpartition(":") if ":" in rest else (rest, "", "")
            credentials[key_id] = (
                AwsCredential(secret, account) if account else AwsCredential(secret)
            )
        # Buckets belong to the first credential's account.
        owner = next(iter(credentials.values())).account if credentials else None
        buckets = args.bucket or ["fake-bucket"]
        fake = FakeBedrock(
            credentials,
            dict.fromkeys(buckets, owner) if owner else buckets,
            region=args.region,
            storage=args.storage,
            phase_seconds=args.phase_seconds,
            min_records=args.min_records,
        )
    elif args.flavour == "vertex":
        accounts = {
            email: Path(pem).read_text()
            for email, pem in (item.split("=", 1) for item in args.service_account)
        }
        fake = FakeVertex(
            accounts,
            buckets=args.bucket or ["fake-bucket"],
            project_number=args.project_number,
            storage=args.storage,
            phase_seconds=args.phase_seconds,
        )
    elif args.flavour == "anthropic":
        fake = FakeAnthropic(keys, storage=args.storage, phase_seconds=args.phase_seconds)
    elif args.flavour == "mistral":
        fake = FakeMistral(keys, storage=args.storage, phase_seconds=args.phase_seconds)
    elif args.flavour == "gemini":
        fake = FakeGemini(keys, storage=args.storage, phase_seconds=args.phase_seconds)
    elif args.flavour == "azure":
        fake = FakeAzure(
            keys,
            deployments=args.deployment,
            storage=args.storage,
            phase_seconds=args.phase_seconds,
            processing_seconds=args.processing_seconds,
            token_limit=token_limit,
        )
    else:
        fake = FakeOpenAI(keys, storage=args.storage, phase_seconds=args.phase_seconds)
    return fake, args.host, args.port


def main(argv: Sequence[str] | None = None) -> int:
    fake, host, port = build(argv)
    web.run_app(
        fake.app(),
        host=host,
        port=port,
        access_log=None,
        print=lambda s: print(s, flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
