"""The Amazon Bedrock flavour of the fake: an S3 subset and batch inference (model invocation jobs).

Built only from AWS's documentation and botocore's service models, never from our adapter:

- S3 API reference (PutObject, HeadObject, GetObject, DeleteObject, ListObjectsV2,
  CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload,
  ListMultipartUploads, "Error responses") and ``botocore/data/s3/2006-03-01/service-2.json``.
- Bedrock API reference (CreateModelInvocationJob, GetModelInvocationJob,
  ListModelInvocationJobs, StopModelInvocationJob) and
  ``botocore/data/bedrock/2023-04-20/service-2.json``, whose shapes (lengths, patterns, enums,
  required members) validate every job request here: the fake reads them from the installed
  botocore at run time rather than copying them.
- The Bedrock user guide on batch inference: "Format and upload your batch inference data"
  (batch-inference-data.html), "View the results of a batch inference job"
  (batch-inference-results.html), the quotas ("Minimum number of records per batch inference
  job", 100 by default), and the model parameter pages for Anthropic Claude Messages
  (model-parameters-anthropic-claude-messages.html) and Amazon Nova
  (nova userguide, "Complete request schema" / "Response structure").
- SigV4 (IAM user guide, "Signature Version 4 signing", "Troubleshoot Signature Version 4"):
  the expected signature of every request is computed by botocore's own signer
  (``botocore.auth.SigV4Auth`` / ``S3SigV4Auth``) from a table of known credentials and compared
  with the one sent. No hand-written crypto.

Where the documentation is silent the fake takes the least helpful reading and says so.

**One port, told apart by path.** The Bedrock control plane's paths are ``/model-invocation-job``
(create), ``/model-invocation-job/{jobIdentifier}`` (get), ``.../stop`` and
``/model-invocation-jobs`` (list), exactly as the service model's ``requestUri``s; every other
path is S3, path-style (``/<bucket>/<key>``). The buckets ``model-invocation-job`` and
``model-invocation-jobs`` therefore cannot exist here. Each request's signature must also be
scoped to the matching service (``s3`` or ``bedrock``) and to the fake's region. Point boto3 at
it with ``endpoint_url=<fake>`` for both clients and ``Config(s3={"addressing_style": "path"})``.

botocore is needed at run time (``pip install 'aiohttp_files_router[bedrock]'``); it is imported
lazily, so ``aiohttp_files_router.fake`` imports without it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..base import DemoPlace, Option, flavour
from .common import AwsCredential
from .fake import FakeBedrock
from .s3 import FakeS3

__all__ = ["FLAVOUR", "AwsCredential", "FakeBedrock", "FakeS3"]


# -- the fake as the command line and --demo see it (fake/__init__.py lists it) -------------
DEMO_KEY_ID, DEMO_SECRET = "AKIADEMOFAKEBEDROCK1", "demo-fake-bedrock-secret"
DEMO_ACCOUNT = "123456789012"
DEMO_MODEL = "claude-bedrock-batch"
DEMO_EMBED_MODEL = "titan-embed"
# Bedrock runs a job only with at least 100 records; the demo's fake takes the seed's three.
DEMO_MIN_RECORDS = 1


def _build(args: argparse.Namespace, keys: dict[str, str], error: Callable[[str], Any]) -> Any:
    credentials = {}
    for item in args.aws_credential:
        key_id, _, rest = item.partition("=")
        secret, _, account = rest.rpartition(":") if ":" in rest else (rest, "", "")
        credentials[key_id] = AwsCredential(secret, account) if account else AwsCredential(secret)
    # Buckets belong to the first credential's account.
    owner = next(iter(credentials.values())).account if credentials else None
    buckets = args.bucket or ["fake-bucket"]
    return FakeBedrock(
        credentials,
        dict.fromkeys(buckets, owner) if owner else buckets,
        region=args.region,
        storage=args.storage,
        phase_seconds=args.phase_seconds,
        min_records=args.min_records,
    )


def _demo(place: DemoPlace) -> tuple[FakeBedrock, dict[str, dict[str, Any]]]:
    fake = FakeBedrock(
        {DEMO_KEY_ID: AwsCredential(DEMO_SECRET, DEMO_ACCOUNT)},
        ["demo-bucket"],
        phase_seconds=place.phase_seconds,
        min_records=DEMO_MIN_RECORDS,
    )
    params = {
        "model": "bedrock/us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "aws_region_name": "us-west-2",
        "aws_access_key_id": DEMO_KEY_ID,
        "aws_secret_access_key": DEMO_SECRET,
        "s3_bucket_name": "demo-bucket/router",
        "aws_batch_role_arn": f"arn:aws:iam::{DEMO_ACCOUNT}:role/DemoBatch",
        "api_base": place.base,
        "s3_endpoint_url": place.base,
        "batch_min_records": DEMO_MIN_RECORDS,
    }
    embed = {**params, "model": "bedrock/amazon.titan-embed-text-v2:0"}
    return fake, {DEMO_MODEL: params, DEMO_EMBED_MODEL: embed}


FLAVOUR = flavour(
    "bedrock",
    _build,
    _demo,
    Option(
        "--aws-credential",
        "bedrock: an access key, its secret and its 12-digit account (repeatable)",
        metavar="KEY_ID=SECRET[:ACCOUNT]",
        repeated=True,
    ),
    Option("--region", "bedrock: the region signatures are scoped to", default="us-west-2"),
    Option(
        "--min-records",
        "bedrock: minimum records per job (AWS's default quota is 100)",
        default=100,
        type=int,
    ),
    # The chat snippet leaves titan-embed out: it takes embeddings batches only.
    models=(DEMO_MODEL,),
    described="an Amazon Bedrock model",
    hints=(
        "An embeddings batch on Bedrock's Titan Text Embeddings V2: {python} "
        f"examples/seed_example.py --endpoint /v1/embeddings --model {DEMO_EMBED_MODEL}",
    ),
    needs="botocore",
)
