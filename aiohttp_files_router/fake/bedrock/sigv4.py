"""SigV4: every request's signature checked with botocore's own signer (see the package's
docstring)."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import UTC, datetime

from aiohttp import web

from ..base import Answer
from .common import MAX_SKEW, AwsCredential, Base, _br_error, _s3_error


class SigV4(Base):
    """Each request's SigV4 signature, checked with botocore's own signer."""

    # -- SigV4 ------------------------------------------------------------------------------
    def _auth_error(self, bedrock: bool, head: bool, kind: str, detail: str = "") -> Answer:
        """AWS's answer for each way a signature can be wrong.

        S3: API reference "Error responses" (AccessDenied, InvalidAccessKeyId,
        SignatureDoesNotMatch, AuthorizationHeaderMalformed, RequestTimeTooSkewed,
        InvalidToken). Bedrock (a JSON service): the common errors of AWS's JSON APIs
        (MissingAuthenticationTokenException, UnrecognizedClientException for an unknown access
        key or token, InvalidSignatureException for a signature that does not match or has
        expired, IncompleteSignatureException), all 403.
        """
        if bedrock:
            code, message = {
                "missing": ("MissingAuthenticationTokenException", "Missing Authentication Token"),
                "malformed": (
                    "IncompleteSignatureException",
                    f"Authorization header requires 'Credential', 'Signature' and "
                    f"'SignedHeaders' parameters. {detail}".strip(),
                ),
                "key": (
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                ),
                "token": (
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                ),
                "scope": ("InvalidSignatureException", detail),
                "skew": ("InvalidSignatureException", f"Signature expired: {detail}"),
                "signature": (
                    "InvalidSignatureException",
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your AWS Secret Access Key and signing method. Consult "
                    "the service documentation for details.",
                ),
            }[kind]
            return _br_error(403, code, message)
        if kind == "missing":
            return _s3_error(403, "AccessDenied", "Access Denied", head)
        if kind in ("malformed", "scope"):
            return _s3_error(
                400,
                "AuthorizationHeaderMalformed",
                f"The authorization header is malformed; {detail}",
                head,
                Region=self.bucket_region,
            )
        if kind == "key":
            return _s3_error(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                head,
            )
        if kind == "token":
            return _s3_error(
                400, "InvalidToken", "The provided token is malformed or otherwise invalid.", head
            )
        if kind == "skew":
            return _s3_error(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                head,
            )
        return _s3_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            head,
        )

    def _authenticate(
        self, request: web.Request, bedrock: bool, raw_path: str, raw_query: str, body: bytes
    ) -> tuple[str, AwsCredential]:
        from botocore.auth import S3SigV4Auth, SigV4Auth  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
        from botocore.credentials import Credentials  # type: ignore[import-untyped]

        head = request.method == "HEAD"
        header = request.headers.get("Authorization")
        if not header:
            # Presigned URLs (query-string auth) are not in the subset the router uses.
            raise self._auth_error(bedrock, head, "missing")
        m = re.fullmatch(
            r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,"
            r"\s*SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})",
            header.strip(),
        )
        if not m:
            raise self._auth_error(bedrock, head, "malformed", "unparseable Authorization")
        access_key, day, region, service, signed, signature = m.groups()
        cred = self.credentials.get(access_key)
        if cred is None:
            raise self._auth_error(bedrock, head, "key")
        want_service = "bedrock" if bedrock else "s3"
        expected = self.region if bedrock else self.bucket_region
        if region != expected:
            raise self._auth_error(
                bedrock,
                head,
                "scope",
                f"the region '{region}' is wrong; expecting '{expected}'"
                if not bedrock
                else "Credential should be scoped to a valid region.",
            )
        if service != want_service:
            raise self._auth_error(
                bedrock,
                head,
                "scope",
                f"the service '{service}' is wrong; expecting '{want_service}'"
                if not bedrock
                else "Credential should be scoped to correct service: 'bedrock'.",
            )
        amz_date = request.headers.get("X-Amz-Date", "")
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names or not amz_date.startswith(day):
            raise self._auth_error(bedrock, head, "signature")
        try:
            sent = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise self._auth_error(bedrock, head, "signature") from None
        if abs(time.time() - sent) > MAX_SKEW:
            raise self._auth_error(bedrock, head, "skew", f"{amz_date} is out of range")
        token = request.headers.get("X-Amz-Security-Token")
        if token != cred.session_token:
            raise self._auth_error(bedrock, head, "token")
        if not bedrock and "x-amz-content-sha256" not in names:
            # S3 requires the payload hash header with SigV4 (S3 API reference, "Common
            # request headers": x-amz-content-sha256 is required for all AWS SigV4 requests).
            raise _s3_error(
                400,
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
                head,
            )
        headers = {}
        for name in names:
            values = request.headers.getall(name, [])
            if not values:
                raise self._auth_error(bedrock, head, "signature")
            headers[name] = ",".join(values)
        url = f"{request.scheme}://{request.host}{raw_path}" + (
            f"?{raw_query}" if raw_query else ""
        )
        aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=body)
        aws_request.context["timestamp"] = amz_date
        credentials = Credentials(access_key, cred.secret_key, cred.session_token)
        signer = (SigV4Auth if bedrock else S3SigV4Auth)(credentials, service, region)
        canonical = signer.canonical_request(aws_request)
        expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
        if not hmac.compare_digest(str(expected), signature):
            raise self._auth_error(bedrock, head, "signature")
        sent_hash = headers.get("x-amz-content-sha256")
        if bedrock and sent_hash is not None and sent_hash != hashlib.sha256(body).hexdigest():
            raise self._auth_error(bedrock, head, "signature")
        return access_key, cred
