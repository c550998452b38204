"""Batch JSONL uploads to a Vertex AI account: OpenAI rows become Vertex rows while they
stream into a resumable GCS upload.

Uploads SIZE MiB of OpenAI batch rows through the router, and the same bytes straight into the
fake GCS (a media upload, no transform) for comparison, in one run; prints both throughputs and
the router's peak RSS growth. The fake and the router run as their own processes on loopback.

    python benchmarks/bench_vertex.py [--size-mib 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import aiohttp
import jwt
from bench_files import fake_and_router, free_port, rss_kib
from bench_jsonl import body, upload
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

MASTER = "sk-bench-master"
EMAIL = "bench@fake-project.iam.gserviceaccount.com"
BUCKET = "bench-bucket"


async def token(base: str, private_key: str) -> str:
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": EMAIL,
            "aud": f"{base}/token",
            "iat": now,
            "exp": now + 600,
            "scope": "https://www.googleapis.com/auth/cloud-platform",
        },
        private_key,
        algorithm="RS256",
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.post(
                    f"{base}/token",
                    data={
                        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                        "assertion": assertion,
                    },
                ) as resp:
                    return str((await resp.json())["access_token"])
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise RuntimeError("fake Vertex did not come up")


async def measure(size_mib: int, base: str, routed: str, router_pid: int, key: str) -> None:
    size = size_mib * 1024 * 1024
    bearer = await token(base, key)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for _ in range(200):
            try:
                async with http.get(
                    f"{routed}/files?model=gemini-bench",
                    headers={"Authorization": f"Bearer {MASTER}"},
                ) as resp:
                    assert resp.status == 200, await resp.text()
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        rss_start = rss_kib(router_pid, "VmRSS")
        start = time.perf_counter()
        async with http.post(
            f"{base}/upload/storage/v1/b/{BUCKET}/o",
            params={"uploadType": "media", "name": "direct.jsonl"},
            data=aiohttp.payload.AsyncIterablePayload(body(size)),
            headers={"Authorization": f"Bearer {bearer}"},
        ) as resp:
            assert resp.status == 200, await resp.text()
        direct = time.perf_counter() - start
    through, answer = await upload(
        f"{routed}/files", {"Authorization": f"Bearer {MASTER}"}, size, {"model": "gemini-bench"}
    )
    peak = rss_kib(router_pid, "VmHWM")
    print(
        f"{size_mib} MiB OpenAI batch JSONL: direct to GCS (no transform) "
        f"{size_mib / direct:7.1f} MiB/s   router (rows -> Vertex rows, resumable) "
        f"{size_mib / through:7.1f} MiB/s   ratio {direct / through:.2f}"
    )
    print(
        f"stored {answer['bytes'] / 2**20:.1f} MiB of Vertex rows; router peak RSS growth: "
        f"{(peak - rss_start) / 1024:.1f} MiB (start {rss_start / 1024:.1f} MiB)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size-mib", type=int, default=200)
    args = p.parse_args()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with tempfile.TemporaryDirectory() as tmp:
        fake_port, router_port = free_port(), free_port()
        base = f"http://127.0.0.1:{fake_port}"
        (Path(tmp) / "public.pem").write_bytes(public)
        account = json.dumps(
            {
                "type": "service_account",
                "project_id": "fake-project",
                "private_key": private,
                "client_email": EMAIL,
                "token_uri": f"{base}/token",
            }
        )
        config = {
            "model_list": [
                {
                    "model_name": "gemini-bench",
                    "litellm_params": {
                        "model": "vertex_ai/gemini-2.5-flash",
                        "vertex_project": "fake-project",
                        "vertex_location": "us-central1",
                        "vertex_credentials": account,
                        "gcs_bucket_name": f"{BUCKET}/bench",
                        "api_base": base,
                        "gcs_api_base": base,
                    },
                }
            ],
            "general_settings": {"master_key": MASTER},
        }
        fake = [
            "--flavour",
            "vertex",
            "--port",
            str(fake_port),
            "--service-account",
            f"{EMAIL}={Path(tmp) / 'public.pem'}",
            "--bucket",
            BUCKET,
            "--storage",
            str(Path(tmp) / "store"),
        ]
        with fake_and_router(fake, config, Path(tmp), router_port) as router_pid:
            asyncio.run(
                measure(
                    args.size_mib, base, f"http://127.0.0.1:{router_port}/v1", router_pid, private
                )
            )


if __name__ == "__main__":
    main()
