"""Path-style S3: objects, listing and multipart uploads (S3 API reference)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import xml.etree.ElementTree as ET
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, unquote

from aiohttp import web

from ..base import RecordedRequest
from .common import (
    CHECKSUMS,
    CHUNK,
    MAX_KEY,
    MAX_METADATA,
    MAX_PARTS,
    MIN_PART,
    SSE_VALUES,
    AwsCredential,
    Bucket,
    Part,
    Received,
    S3Object,
    Upload,
    _b64,
    _checksum_of,
    _http_date,
    _iso,
    _s3_error,
    _sub,
    _xml,
)
from .sigv4 import SigV4


class S3(SigV4):
    """Path-style S3 on the signed requests; ``FakeS3`` serves it alone, ``FakeBedrock``
    beside the job API (which reads its input and writes its output here)."""

    # -- S3 ---------------------------------------------------------------------------------
    async def _s3(
        self, request: web.Request, cred: AwsCredential, raw_path: str, record: RecordedRequest
    ) -> web.StreamResponse:
        head = request.method == "HEAD"
        bucket_name, _, raw_key = raw_path.lstrip("/").partition("/")
        bucket_name = unquote(bucket_name)
        key = unquote(raw_key)
        q = request.query
        if not bucket_name:
            raise _s3_error(501, "NotImplemented", "ListBuckets is not served by this fake.", head)
        bucket = self.buckets.get(bucket_name)
        if bucket is None:
            raise _s3_error(
                404,
                "NoSuchBucket",
                "The specified bucket does not exist",
                head,
                BucketName=bucket_name,
            )
        if bucket.owner != cred.account:
            raise _s3_error(403, "AccessDenied", "Access Denied", head)
        method = request.method
        if not key:
            if method == "GET" and q.get("list-type") == "2":
                return self._list_objects(request, bucket)
            if method == "GET" and "uploads" in q:
                return self._list_uploads(request, bucket)
            if method == "HEAD":
                return web.Response(headers={"x-amz-bucket-region": self.bucket_region})
            raise _s3_error(501, "NotImplemented", "This bucket operation is not served.", head)
        if len(key.encode()) > MAX_KEY:
            raise _s3_error(400, "KeyTooLongError", "Your key is too long", head)
        if method == "PUT" and "uploadId" in q:
            return await self._upload_part(request, bucket, key)
        if method == "PUT":
            if "x-amz-copy-source" in request.headers:
                raise _s3_error(501, "NotImplemented", "CopyObject is not served.")
            return await self._put_object(request, bucket, key, record)
        if method == "POST" and "uploads" in q:
            return self._create_upload(request, bucket, key)
        if method == "POST" and "uploadId" in q:
            return await self._complete_upload(request, bucket, key)
        if method == "DELETE" and "uploadId" in q:
            upload = self._upload(bucket, key, q["uploadId"])
            for part in upload.parts.values():
                part.path.unlink(missing_ok=True)
            del bucket.uploads[upload.id]
            return web.Response(status=204)
        if method == "DELETE":
            # DeleteObject: 204 whether or not the key existed (S3 API reference).
            found = bucket.objects.pop(key, None)
            if found is not None:
                found.path.unlink(missing_ok=True)
            return web.Response(status=204)
        if method in ("GET", "HEAD"):
            return await self._get_object(request, bucket, key)
        raise _s3_error(405, "MethodNotAllowed", "The specified method is not allowed.", head)

    @staticmethod
    def _metadata(request: web.Request) -> dict[str, str]:
        meta = {
            name.lower()[len("x-amz-meta-") :]: value
            for name, value in request.headers.items()
            if name.lower().startswith("x-amz-meta-")
        }
        if sum(len(k.encode()) + len(v.encode()) for k, v in meta.items()) > MAX_METADATA:
            raise _s3_error(
                400,
                "MetadataTooLarge",
                "Your metadata headers exceed the maximum allowed metadata size.",
            )
        return meta

    def _sse(self, request: web.Request, account: str) -> tuple[str | None, str | None]:
        """SSE headers (PutObject / CreateMultipartUpload): kept and echoed, never applied."""
        sse = request.headers.get("x-amz-server-side-encryption")
        key = request.headers.get("x-amz-server-side-encryption-aws-kms-key-id")
        if sse is not None and sse not in SSE_VALUES:
            raise _s3_error(
                400, "InvalidArgument", "The encryption method specified is not supported"
            )
        if key is not None and sse not in ("aws:kms", "aws:kms:dsse"):
            raise _s3_error(
                400,
                "InvalidArgument",
                "Server Side Encryption with KMS managed key requires HTTP header "
                "x-amz-server-side-encryption : aws:kms",
            )
        if sse in ("aws:kms", "aws:kms:dsse") and key is None:
            # S3 user guide, "Specifying SSE-KMS": without a key ID, the AWS managed key.
            key = f"arn:aws:kms:{self.bucket_region}:{account}:alias/aws/s3"
        return sse, key

    def _sse_headers(self, sse: str | None, key: str | None) -> dict[str, str]:
        headers = {}
        if sse:
            headers["x-amz-server-side-encryption"] = sse
        if key:
            headers["x-amz-server-side-encryption-aws-kms-key-id"] = key
        return headers

    async def _chunks(
        self, request: web.Request, mode: str, trailers: dict[str, str]
    ) -> AsyncIterator[bytes]:
        """The payload as it arrives; aws-chunked bodies decoded, their trailers collected.

        S3 API reference, "Signature calculations for the Authorization header: transferring
        payload in multiple chunks" and "Using trailing checksums": ``hex-size\\r\\ndata\\r\\n``
        ... ``0\\r\\n`` then ``name:value`` trailer lines and an empty line. botocore sends
        this with ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` over TLS (botocore/httpchecksum.py).
        """
        if not mode.startswith("STREAMING-"):
            async for chunk in request.content.iter_chunked(CHUNK):
                yield chunk
            return
        content = request.content
        try:
            while True:
                line = await content.readline()
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    break
                while size:
                    data = await content.readexactly(min(size, CHUNK))
                    size -= len(data)
                    yield data
                if await content.readexactly(2) != b"\r\n":
                    raise ValueError("chunk not terminated")
            while True:
                line = (await content.readline()).strip()
                if not line:
                    break
                name, _, value = line.decode().partition(":")
                trailers[name.strip().lower()] = value.strip()
        except (ValueError, EOFError, UnicodeDecodeError):
            raise _s3_error(
                400, "IncompleteBody", "The request body is not valid aws-chunked encoding."
            ) from None

    async def _receive(self, request: web.Request, dest: Path | None) -> Received:
        """Stream the payload to ``dest`` (or keep it, when small), checking every digest.

        x-amz-content-sha256 is a hex SHA-256 (checked: XAmzContentSHA256Mismatch),
        UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER (what botocore sends; S3 API
        reference "Authenticating requests (SigV4)"); Content-MD5 and x-amz-checksum-* are
        checked too (BadDigest). CRC32C and CRC64NVME need awscrt to compute; they are kept
        unchecked.
        """
        mode = request.headers["x-amz-content-sha256"]
        if mode.startswith("STREAMING-") and mode != "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
            raise _s3_error(501, "NotImplemented", f"{mode} is not served by this fake.")
        if mode not in (
            "UNSIGNED-PAYLOAD",
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        ) and not re.fullmatch("[0-9a-f]{64}", mode):
            raise _s3_error(
                400,
                "InvalidArgument",
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value.",
            )
        sha = hashlib.sha256()
        md5 = hashlib.md5()
        crc = 0
        sha1 = hashlib.sha1()
        sha256 = hashlib.sha256()
        size = 0
        kept = bytearray()
        trailers: dict[str, str] = {}
        fh = dest.open("wb") if dest is not None else None
        try:
            async for chunk in self._chunks(request, mode, trailers):
                size += len(chunk)
                sha.update(chunk)
                md5.update(chunk)
                sha1.update(chunk)
                sha256.update(chunk)
                crc = zlib.crc32(chunk, crc)
                if fh is not None:
                    fh.write(chunk)
                else:
                    kept += chunk
                    if len(kept) > 1024**2:
                        raise _s3_error(
                            400, "MaxMessageLengthExceeded", "Your request was too big."
                        )
            if fh is not None:
                fh.close()
            if re.fullmatch("[0-9a-f]{64}", mode) and sha.hexdigest() != mode:
                raise _s3_error(
                    400,
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                )
            decoded = request.headers.get("x-amz-decoded-content-length")
            if mode.startswith("STREAMING-") and decoded is not None and int(decoded) != size:
                raise _s3_error(
                    400, "IncompleteBody", "You did not provide the number of bytes specified"
                )
            content_md5 = request.headers.get("Content-MD5")
            if content_md5 is not None and content_md5 != _b64(md5.digest()):
                raise _s3_error(
                    400,
                    "BadDigest",
                    "The Content-MD5 you specified did not match what we received.",
                )
            computed = {
                "crc32": _checksum_of("crc32", crc),
                "sha1": _checksum_of("sha1", sha1),
                "sha256": _checksum_of("sha256", sha256),
            }
            sent = {**{k.lower(): v for k, v in request.headers.items()}, **trailers}
            checksums = {}
            for name in CHECKSUMS:
                value = sent.get(f"x-amz-checksum-{name}")
                if value is None:
                    continue
                if name in computed and computed[name] != value:
                    raise _s3_error(
                        400,
                        "BadDigest",
                        f"The {name.upper()} you specified did not match the calculated checksum.",
                    )
                checksums[name] = value
        except BaseException:
            if fh is not None:
                fh.close()
            if dest is not None:
                dest.unlink(missing_ok=True)  # noqa: ASYNC240 - a local temp file
            raise
        return Received(size, md5.digest(), checksums, bytes(kept))

    async def _put_object(
        self, request: web.Request, bucket: Bucket, key: str, record: RecordedRequest
    ) -> web.Response:
        meta = self._metadata(request)
        sse, kms_key = self._sse(request, bucket.owner)
        path = self._new_path()
        got = await self._receive(request, path)
        record.bytes = got.size
        old = bucket.objects.get(key)
        if old is not None:
            old.path.unlink(missing_ok=True)
        obj = S3Object(
            path,
            got.size,
            f'"{got.md5.hex()}"',
            request.headers.get("Content-Type", "binary/octet-stream"),
            meta,
            sse,
            kms_key,
            got.checksums,
            self.clock(),
        )
        bucket.objects[key] = obj
        headers = {"ETag": obj.etag, **self._sse_headers(sse, kms_key)}
        headers.update({f"x-amz-checksum-{n}": v for n, v in got.checksums.items()})
        return web.Response(headers=headers)

    def _object(self, bucket: Bucket, key: str, head: bool) -> S3Object:
        found = bucket.objects.get(key)
        if found is None:
            raise _s3_error(404, "NoSuchKey", "The specified key does not exist.", head, Key=key)
        return found

    async def _get_object(
        self, request: web.Request, bucket: Bucket, key: str
    ) -> web.StreamResponse:
        head = request.method == "HEAD"
        obj = self._object(bucket, key, head)
        headers = {
            "ETag": obj.etag,
            "Last-Modified": _http_date(obj.modified),
            "Accept-Ranges": "bytes",
            "Content-Type": obj.content_type,
            **self._sse_headers(obj.sse, obj.kms_key),
            **{f"x-amz-meta-{k}": v for k, v in obj.metadata.items()},
        }
        start, end = 0, obj.size - 1
        status = 200
        spec = request.headers.get("Range")
        if spec is not None:
            # GetObject: one byte range (RFC 9110); S3 does not serve multiple ranges.
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", spec.strip())
            if m and (m[1] or m[2]):
                if m[1]:
                    start = int(m[1])
                    end = min(int(m[2]), obj.size - 1) if m[2] else obj.size - 1
                else:
                    start = max(obj.size - int(m[2]), 0)
                if start >= obj.size or start > end:
                    raise _s3_error(
                        416,
                        "InvalidRange",
                        "The requested range is not satisfiable",
                        head,
                        RangeRequested=spec,
                        ActualObjectSize=str(obj.size),
                    )
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{obj.size}"
        elif request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
            headers.update({f"x-amz-checksum-{n}": v for n, v in obj.checksums.items()})
        length = max(end - start + 1, 0)
        headers["Content-Length"] = str(length)
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        if head:
            return response
        with obj.path.open("rb") as fh:
            fh.seek(start)
            left = length
            while left:
                data = fh.read(min(CHUNK, left))
                if not data:
                    break
                left -= len(data)
                await response.write(data)
        await response.write_eof()
        return response

    @staticmethod
    def _max_keys(request: web.Request, name: str) -> int:
        try:
            value = int(request.query.get(name, "1000"))
        except ValueError:
            raise _s3_error(
                400, "InvalidArgument", f"Provided {name} not an integer or within integer range"
            ) from None
        if value < 0:
            raise _s3_error(400, "InvalidArgument", f"{name} must not be negative")
        return min(value, 1000)

    def _list_objects(self, request: web.Request, bucket: Bucket) -> web.Response:
        """ListObjectsV2: prefix, delimiter, max-keys (1,000 at most), start-after,
        continuation-token (opaque), encoding-type=url (which botocore always sends)."""
        q = request.query
        prefix = q.get("prefix", "")
        delimiter = q.get("delimiter", "")
        max_keys = self._max_keys(request, "max-keys")
        encode = q.get("encoding-type") == "url"
        if "encoding-type" in q and not encode:
            raise _s3_error(400, "InvalidArgument", "Invalid Encoding Method specified in Request")
        after = q.get("start-after", "")
        token = q.get("continuation-token")
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except (ValueError, binascii.Error):
                raise _s3_error(
                    400, "InvalidArgument", "The continuation token provided is incorrect"
                ) from None
        enc = (lambda s: quote(s, safe="/")) if encode else (lambda s: s)
        contents: list[tuple[str, S3Object]] = []
        prefixes: list[str] = []
        last = ""
        truncated = False
        for key in sorted(bucket.objects):
            if not key.startswith(prefix) or key <= after:
                continue
            entry = key
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    entry = key[: cut + len(delimiter)]
                    if prefixes and prefixes[-1] == entry:
                        continue
                    if entry <= after:
                        continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            if entry != key:
                prefixes.append(entry)
                last = entry + "\U0010ffff"
            else:
                contents.append((key, bucket.objects[key]))
                last = key
        root = ET.Element("ListBucketResult")
        _sub(root, "Name", bucket.name)
        _sub(root, "Prefix", enc(prefix))
        if delimiter:
            _sub(root, "Delimiter", enc(delimiter))
        _sub(root, "MaxKeys", max_keys)
        if encode:
            _sub(root, "EncodingType", "url")
        _sub(root, "KeyCount", len(contents) + len(prefixes))
        _sub(root, "IsTruncated", "true" if truncated else "false")
        if token is not None:
            _sub(root, "ContinuationToken", token)
        if "start-after" in q:
            _sub(root, "StartAfter", enc(q["start-after"]))
        if truncated:
            _sub(root, "NextContinuationToken", base64.urlsafe_b64encode(last.encode()).decode())
        for key, obj in contents:
            item = _sub(root, "Contents", None)
            _sub(item, "Key", enc(key))
            _sub(item, "LastModified", _iso(obj.modified))
            _sub(item, "ETag", obj.etag)
            _sub(item, "Size", obj.size)
            _sub(item, "StorageClass", "STANDARD")
        for entry in prefixes:
            _sub(_sub(root, "CommonPrefixes", None), "Prefix", enc(entry))
        return _xml(root)

    # -- multipart --------------------------------------------------------------------------
    def _create_upload(self, request: web.Request, bucket: Bucket, key: str) -> web.Response:
        meta = self._metadata(request)
        sse, kms_key = self._sse(request, bucket.owner)
        upload = Upload(
            secrets.token_urlsafe(48),
            key,
            self.clock(),
            request.headers.get("Content-Type", "binary/octet-stream"),
            meta,
            sse,
            kms_key,
        )
        bucket.uploads[upload.id] = upload
        root = ET.Element("InitiateMultipartUploadResult")
        _sub(root, "Bucket", bucket.name)
        _sub(root, "Key", key)
        _sub(root, "UploadId", upload.id)
        response = _xml(root)
        response.headers.update(self._sse_headers(sse, kms_key))
        return response

    @staticmethod
    def _upload(bucket: Bucket, key: str, upload_id: str) -> Upload:
        upload = bucket.uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise _s3_error(
                404,
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID may be invalid, or the "
                "upload may have been aborted or completed.",
                UploadId=upload_id,
            )
        return upload

    async def _upload_part(self, request: web.Request, bucket: Bucket, key: str) -> web.Response:
        upload = self._upload(bucket, key, request.query["uploadId"])
        try:
            number = int(request.query.get("partNumber", ""))
        except ValueError:
            number = 0
        if not 1 <= number <= MAX_PARTS:
            raise _s3_error(
                400,
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        path = self._new_path()
        got = await self._receive(request, path)
        if upload.id not in bucket.uploads:  # aborted while the part was arriving
            path.unlink(missing_ok=True)
            raise _s3_error(404, "NoSuchUpload", "The specified upload does not exist.")
        old = upload.parts.get(number)
        if old is not None:
            old.path.unlink(missing_ok=True)
        part = Part(number, path, got.size, f'"{got.md5.hex()}"', got.md5)
        upload.parts[number] = part
        headers = {"ETag": part.etag, **self._sse_headers(upload.sse, upload.kms_key)}
        headers.update({f"x-amz-checksum-{n}": v for n, v in got.checksums.items()})
        return web.Response(headers=headers)

    async def _complete_upload(
        self, request: web.Request, bucket: Bucket, key: str
    ) -> web.Response:
        upload = self._upload(bucket, key, request.query["uploadId"])
        got = await self._receive(request, None)
        malformed = _s3_error(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
        )
        try:
            root = ET.fromstring(got.data)
        except ET.ParseError:
            raise malformed from None
        wanted: list[tuple[int, str]] = []
        for node in root:
            if node.tag.rpartition("}")[2] != "Part":
                continue
            fields = {child.tag.rpartition("}")[2]: (child.text or "") for child in node}
            try:
                wanted.append((int(fields["PartNumber"]), fields["ETag"].strip()))
            except (KeyError, ValueError):
                raise malformed from None
        if not wanted:
            raise malformed
        numbers = [n for n, _ in wanted]
        if numbers != sorted(set(numbers)):
            raise _s3_error(
                400,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part "
                "number.",
            )
        parts = []
        for number, etag in wanted:
            part = upload.parts.get(number)
            if part is None or part.etag.strip('"') != etag.strip('"'):
                raise _s3_error(
                    400,
                    "InvalidPart",
                    "One or more of the specified parts could not be found. The part may not "
                    "have been uploaded, or the specified entity tag may not match the part's "
                    "entity tag.",
                    PartNumber=str(number),
                )
            parts.append(part)
        for part in parts[:-1]:
            if part.size < MIN_PART:
                raise _s3_error(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                    ProposedSize=str(part.size),
                    MinSizeAllowed=str(MIN_PART),
                    PartNumber=str(part.number),
                    ETag=part.etag,
                )
        path = self._new_path()
        size = 0
        with path.open("wb") as out:
            for part in parts:
                with part.path.open("rb") as fh:
                    while data := fh.read(CHUNK):
                        out.write(data)
                        size += len(data)
        for part in upload.parts.values():
            part.path.unlink(missing_ok=True)
        del bucket.uploads[upload.id]
        # The multipart ETag: MD5 of the parts' binary MD5s, "-" and the part count (what S3
        # returns; the API reference only promises it is not an MD5 of the object).
        digest = hashlib.md5(b"".join(p.md5 for p in parts)).hexdigest()
        old = bucket.objects.get(key)
        if old is not None:
            old.path.unlink(missing_ok=True)
        obj = S3Object(
            path,
            size,
            f'"{digest}-{len(parts)}"',
            upload.content_type,
            upload.metadata,
            upload.sse,
            upload.kms_key,
            {},
            self.clock(),
        )
        bucket.objects[key] = obj
        result = ET.Element("CompleteMultipartUploadResult")
        _sub(result, "Location", f"{request.scheme}://{request.host}/{bucket.name}/{quote(key)}")
        _sub(result, "Bucket", bucket.name)
        _sub(result, "Key", key)
        _sub(result, "ETag", obj.etag)
        response = _xml(result)
        response.headers.update(self._sse_headers(obj.sse, obj.kms_key))
        return response

    def _list_uploads(self, request: web.Request, bucket: Bucket) -> web.Response:
        """ListMultipartUploads: uploads in progress (so tests can see none is left billed)."""
        prefix = request.query.get("prefix", "")
        encode = request.query.get("encoding-type") == "url"
        enc = (lambda s: quote(s, safe="/")) if encode else (lambda s: s)
        max_uploads = self._max_keys(request, "max-uploads")
        uploads = sorted(
            (u for u in bucket.uploads.values() if u.key.startswith(prefix)),
            key=lambda u: (u.key, u.initiated),
        )
        root = ET.Element("ListMultipartUploadsResult")
        _sub(root, "Bucket", bucket.name)
        _sub(root, "KeyMarker", "")
        _sub(root, "UploadIdMarker", "")
        _sub(root, "Prefix", enc(prefix))
        _sub(root, "MaxUploads", max_uploads)
        if encode:
            _sub(root, "EncodingType", "url")
        # Markers are not served: a listing longer than max-uploads is refused instead of
        # silently cut.
        if len(uploads) > max_uploads:
            raise _s3_error(
                501, "NotImplemented", "Paging multipart upload listings is not served."
            )
        _sub(root, "IsTruncated", "false")
        for upload in uploads:
            item = _sub(root, "Upload", None)
            _sub(item, "Key", enc(upload.key))
            _sub(item, "UploadId", upload.id)
            _sub(item, "Initiated", _iso(upload.initiated))
            _sub(item, "StorageClass", "STANDARD")
        return _xml(root)


class FakeS3(S3):
    """S3 alone, on a port of its own: what an S3 file store needs, without the job API
    (``FakeBedrock`` documents the arguments; paths under the job API's roots are S3 keys
    of a bucket that cannot exist)."""

    def app(self) -> web.Application:
        return self.make_app(routes=[web.route("*", "/{tail:.*}", self._dispatch)])

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw_path, _, raw_query = request.raw_path.partition("?")
        record = self.record(request, account=None, key=None, raw_path=raw_path)
        access_key, cred = self._authenticate(request, False, raw_path, raw_query, b"")
        record.key, record.account = access_key, cred.account
        return await self._s3(request, cred, raw_path, record)
