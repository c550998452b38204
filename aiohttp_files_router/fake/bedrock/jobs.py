"""Bedrock's model invocation jobs: create, get, list, stop, and the run that writes their
output to S3 (Bedrock API reference, botocore's service model)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import string
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from .common import (
    CHUNK,
    DEFAULT_TIMEOUT_HOURS,
    KEY_CHARS,
    PHASES,
    RECORD_ID,
    TERMINAL,
    AwsCredential,
    Bucket,
    Job,
    S3Object,
    _br_error,
    _invalid,
    _iso,
)
from .models import (
    CACHE_MIN_TOKENS,
    _check_claude,
    _check_nova,
    _claude_answer,
    _nova_answer,
    _titan_invoke,
    _tools_refused,
)
from .s3 import S3

# The model families whose records this fake answers (models.py), by their model IDs'
# prefixes (Bedrock user guide, "Supported foundation models"); any other model is refused.
_FAMILIES = (
    ("anthropic.claude", "claude"),
    ("amazon.nova", "nova"),
    ("amazon.titan-embed-text-v2", "titan-embed"),
)
# A cross-region inference profile ID is a model ID behind its geography (Bedrock user guide,
# "Supported Regions and models for inference profiles": us., eu., apac., ...).
_GEOGRAPHY = re.compile(r"^(us|eu|apac|jp|au|ca|us-gov|global)\.")


class Jobs(S3):
    """The model invocation job API, reading input from and writing output to S3."""

    # -- Bedrock ----------------------------------------------------------------------------
    def _bedrock(
        self, request: web.Request, cred: AwsCredential, raw_path: str, body: bytes
    ) -> web.Response:
        if raw_path == "/model-invocation-job" and request.method == "POST":
            return self._create_job(cred, body)
        if raw_path == "/model-invocation-jobs" and request.method == "GET":
            return self._list_jobs(request, cred)
        rest = raw_path[len("/model-invocation-job/") :]
        if request.method == "POST" and rest.endswith("/stop"):
            return self._stop_job(cred, unquote(rest[: -len("/stop")]))
        if request.method == "GET" and rest:
            job = self._job(cred, unquote(rest))
            self._advance(job)
            return web.json_response(self._describe(job))
        raise _br_error(404, "UnknownOperationException", "Unknown operation")

    def _check_shape(self, shape: Any, value: Any, path: str, problems: list[str]) -> None:
        """Validate ``value`` against a botocore shape (length, pattern, enum, range, required).

        Smithy patterns are not anchored; the least helpful reading matches them whole.
        """
        at = path or "request"
        kind = shape.type_name
        meta = shape.metadata
        if kind == "structure":
            if not isinstance(value, dict):
                problems.append(
                    f"Value at '{at}' failed to satisfy constraint: Member must be a structure"
                )
                return
            for name in shape.required_members:
                if value.get(name) is None:
                    where = f"{path}.{name}" if path else name
                    problems.append(
                        f"Value null at '{where}' failed to satisfy constraint: "
                        "Member must not be null"
                    )
            for name, item in value.items():
                where = f"{path}.{name}" if path else name
                if name not in shape.members:
                    problems.append(f"Unknown member '{where}'")
                elif item is not None:
                    self._check_shape(shape.members[name], item, where, problems)
            if meta.get("union") and sum(v is not None for v in value.values()) != 1:
                problems.append(
                    f"Value at '{at}' failed to satisfy constraint: "
                    "Member must have exactly one member set"
                )
        elif kind == "string":
            if not isinstance(value, str):
                problems.append(
                    f"Value at '{at}' failed to satisfy constraint: Member must be a string"
                )
                return
            shown = value if len(value) < 200 else value[:200] + "..."
            if ("min" in meta and len(value) < meta["min"]) or (
                "max" in meta and len(value) > meta["max"]
            ):
                problems.append(
                    f"Value '{shown}' at '{at}' failed to satisfy constraint: Member must have "
                    f"length between {meta.get('min', 0)} and {meta.get('max')}"
                )
            if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
                problems.append(
                    f"Value '{shown}' at '{at}' failed to satisfy constraint: Member must "
                    f"satisfy regular expression pattern: {meta['pattern']}"
                )
            if shape.enum and value not in shape.enum:
                problems.append(
                    f"Value '{shown}' at '{at}' failed to satisfy constraint: Member must "
                    f"satisfy enum value set: [{', '.join(shape.enum)}]"
                )
        elif kind in ("integer", "long"):
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(
                    f"Value at '{at}' failed to satisfy constraint: Member must be a number"
                )
                return
            if ("min" in meta and value < meta["min"]) or ("max" in meta and value > meta["max"]):
                problems.append(
                    f"Value '{value}' at '{at}' failed to satisfy constraint: Member must have "
                    f"value between {meta.get('min')} and {meta.get('max')}"
                )
        elif kind == "list":
            if not isinstance(value, list):
                problems.append(
                    f"Value at '{at}' failed to satisfy constraint: Member must be a list"
                )
                return
            if ("min" in meta and len(value) < meta["min"]) or (
                "max" in meta and len(value) > meta["max"]
            ):
                problems.append(
                    f"Value at '{at}' failed to satisfy constraint: Member must have length "
                    f"between {meta.get('min', 0)} and {meta.get('max')}"
                )
            for i, item in enumerate(value):
                self._check_shape(shape.member, item, f"{at}.{i + 1}.member", problems)

    @staticmethod
    def _family(model_id: str) -> str | None:
        """The model family of a model ID, inference profile ID or their ARNs."""
        name = _GEOGRAPHY.sub("", model_id.rsplit("/", 1)[-1])
        return next((family for prefix, family in _FAMILIES if name.startswith(prefix)), None)

    def _create_job(self, cred: AwsCredential, body: bytes) -> web.Response:
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            raise _br_error(400, "SerializationException", "Malformed request body") from None
        shape = self._model.operation_model("CreateModelInvocationJob").input_shape
        problems: list[str] = []
        self._check_shape(shape, req, "", problems)
        if problems:
            raise _invalid(*problems)
        role_account = req["roleArn"].split(":")[4]
        if role_account != cred.account:
            # iam:PassRole on another account's role is not allowed (Bedrock user guide,
            # "Create a custom service role for batch inference").
            raise _br_error(
                403,
                "AccessDeniedException",
                f"User is not authorized to perform: iam:PassRole on resource: {req['roleArn']}",
            )
        family = self._family(req["modelId"])
        if family is None:
            # Only the families this fake can answer for (Claude Messages, Nova) run here.
            raise _br_error(400, "ValidationException", "The provided model identifier is invalid.")
        if (
            "s3InputDataConfig" not in req["inputDataConfig"]
            or "s3OutputDataConfig" not in req["outputDataConfig"]
        ):
            raise _invalid("Only S3 input and output data configurations are supported.")
        token = req.get("clientRequestToken")
        comparable = {k: v for k, v in req.items() if k != "clientRequestToken"}
        for job in self.jobs.values():
            if job.account != cred.account:
                continue
            if token is not None and job.client_token == token:
                # Idempotency (the reference links EC2's "Ensuring idempotency"): the same
                # token and parameters answer the same job; other parameters are a conflict.
                if job.request == comparable:
                    return web.json_response({"jobArn": job.arn})
                raise _br_error(
                    400,
                    "ConflictException",
                    "The clientRequestToken was already used with different parameters.",
                )
            if job.name == req["jobName"]:
                # Docs silent on name reuse; least helpful: a name is used once per account.
                raise _br_error(
                    400,
                    "ConflictException",
                    f"A job with the name {req['jobName']} already exists.",
                )
        if req.get("modelInvocationType", "InvokeModel") != "InvokeModel":
            # Converse-shaped records are not answered by this fake: refused, not misread.
            raise _invalid(
                "modelInvocationType Converse is not served by this fake; use InvokeModel."
            )
        job_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))
        now = self.clock()
        job = Job(
            id=job_id,
            arn=f"arn:aws:bedrock:{self.region}:{cred.account}:model-invocation-job/{job_id}",
            account=cred.account,
            name=req["jobName"],
            model_id=req["modelId"],
            family=family,
            role_arn=req["roleArn"],
            client_token=token,
            request=comparable,
            submit=now,
            timeout_hours=req.get("timeoutDurationInHours") or DEFAULT_TIMEOUT_HOURS,
            modified=now,
        )
        self.jobs[job.id] = job
        return web.json_response({"jobArn": job.arn})

    def _job(self, cred: AwsCredential, identifier: str) -> Job:
        pattern = self._model.shape_for("ModelInvocationJobIdentifier").metadata["pattern"]
        if not re.fullmatch(pattern, identifier):
            raise _invalid(
                f"Value '{identifier}' at 'jobIdentifier' failed to satisfy constraint: Member "
                f"must satisfy regular expression pattern: {pattern}"
            )
        job = self.jobs.get(identifier.rsplit("/", 1)[-1])
        if (
            job is None
            or job.account != cred.account
            or (identifier.startswith("arn:") and identifier != job.arn)
        ):
            raise _br_error(
                404,
                "ResourceNotFoundException",
                f"The specified job {identifier} could not be found.",
            )
        return job

    def _describe(self, job: Job) -> dict[str, Any]:
        """GetModelInvocationJobResponse / ModelInvocationJobSummary (service model)."""
        status = self._status(job)
        if status == "Stopping" and job.stopping_shown is None:
            job.stopping_shown = self.clock()
        obj: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "modelId": job.model_id,
            "roleArn": job.role_arn,
            "status": status,
            "submitTime": _iso(job.submit),
            "lastModifiedTime": _iso(job.modified),
            "inputDataConfig": job.request["inputDataConfig"],
            "outputDataConfig": job.request["outputDataConfig"],
            "timeoutDurationInHours": job.timeout_hours,
            "jobExpirationTime": _iso(job.submit + job.timeout_hours * 3600),
        }
        if job.client_token is not None:
            obj["clientRequestToken"] = job.client_token
        for name in ("vpcConfig", "modelInvocationType"):
            if name in job.request:
                obj[name] = job.request[name]
        if job.message is not None:
            obj["message"] = job.message
        if job.ended is not None:
            obj["endTime"] = _iso(job.ended)
        # The record counts are documented members; when they appear is not. Least helpful:
        # only once the job has run.
        obj.update(job.counts)
        return obj

    def _status(self, job: Job) -> str:
        if job.final:
            return job.final
        if job.stop_at is not None:
            return "Stopping"
        if self.phase_seconds <= 0:
            return "InProgress"
        phase = int((self.clock() - job.submit) // self.phase_seconds)
        return PHASES[min(phase, 3)]

    def _finish(self, job: Job, status: str, at: float, message: str | None = None) -> None:
        job.final, job.ended, job.modified = status, at, at
        job.message = message

    def _advance(self, job: Job) -> None:
        """Move a job along the fake's clock: Submitted, Validating, Scheduled, InProgress
        (``phase_seconds`` each), then Completed; Failed when validation fails (at the end of
        Validating); Expired or PartiallyCompleted at ``timeoutDurationInHours``; Stopping
        then Stopped after StopModelInvocationJob.

        The Bedrock API reference (GetModelInvocationJob, response element ``status``, the
        same text in ModelInvocationJobSummary and botocore's service model) has "Stopping -
        This job is being stopped by a user" and "Stopped - This job was stopped by a user";
        StopModelInvocationJob answers only an empty HTTP 200
        (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_GetModelInvocationJob.html,
        .../API_StopModelInvocationJob.html). Nothing says how soon Stopped follows, so the
        least helpful reading: a stopped job is Stopping for ``cancel_seconds`` and, however
        short that is, until a Get or List answer has shown it Stopping once. A caller that
        stops a job and reads it at once always sees Stopping."""
        if job.final:
            return
        now, p = self.clock(), self.phase_seconds
        if job.stop_at is not None:
            due = job.stop_at + self.cancel_seconds
            if job.stopping_shown is not None and now >= due:
                # No source says a stopped job writes its partial output; least helpful: none.
                self._finish(job, "Stopped", max(due, job.stopping_shown))
            return
        deadline = job.submit + job.timeout_hours * 3600
        validate_at, run_at, done_at = (job.submit + k * p for k in (2, 3, 4))
        if not job.validated and now >= validate_at and validate_at < deadline:
            job.validated = True
            problem = self._validate(job)
            if problem is not None:
                self._finish(job, "Failed", validate_at, problem)
                return
        if now >= run_at and deadline > run_at:
            missing = self._missing_input(job)
            if missing is not None:
                # Docs silent on an input removed after validation; least helpful: Failed.
                self._finish(job, "Failed", min(now, done_at, deadline), missing)
                return
        if now >= deadline and deadline < done_at:
            if deadline <= run_at:
                self._finish(job, "Expired", deadline, "The job did not start before it timed out.")
            else:
                self._run(job, (deadline - run_at) / p)
                self._finish(
                    job,
                    "PartiallyCompleted",
                    deadline,
                    "The job timed out before every record was processed.",
                )
            return
        if now >= done_at:
            self._run(job, 1.0)
            self._finish(job, "Completed", done_at)

    def _missing_input(self, job: Job) -> str | None:
        uri = job.request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        bucket = self.buckets[self._split_uri(uri)[0]]
        for key in job.inputs:
            if key not in bucket.objects:
                return f"The input S3 object s3://{bucket.name}/{key} no longer exists."
        return None

    @staticmethod
    def _split_uri(uri: str) -> tuple[str, str]:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return bucket, key

    def _validate(self, job: Job) -> str | None:
        """What Bedrock checks while Validating; the job's message names what failed."""
        in_uri = job.request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        out_uri = job.request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        for uri in (in_uri, out_uri):
            bucket = self.buckets.get(self._split_uri(uri)[0])
            if bucket is None or bucket.owner != job.account:
                return f"Access denied to the S3 location {uri} with role {job.role_arn}."
        bucket = self.buckets[self._split_uri(in_uri)[0]]
        key = self._split_uri(in_uri)[1]
        if key and not key.endswith("/"):
            if key not in bucket.objects:
                return f"The input S3 object {in_uri} does not exist."
            keys = [key]
        else:
            keys = sorted(k for k in bucket.objects if k.startswith(key))
        for k in keys:
            # batch-inference-data: input files "must end in the extension .jsonl"; the S3Uri
            # pattern's characters apply to every key (least helpful reading for a folder).
            if not k.endswith(".jsonl") or not KEY_CHARS.fullmatch(k):
                return (
                    f"The input file s3://{bucket.name}/{k} is not valid: input files must end "
                    "in .jsonl and their keys may contain only the characters "
                    "[-!_*'().a-zA-Z0-9/]."
                )
        if not keys:
            return f"No .jsonl input files were found at {in_uri}."
        total = 0
        for k in keys:
            with bucket.objects[k].path.open("rb") as fh:
                for number, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    total += 1
                    problem = self._check_record(line)
                    if problem:
                        return (
                            f"Invalid record in s3://{bucket.name}/{k} at line {number}: {problem}."
                        )
        job.inputs = keys
        if total < self.min_records:
            # User guide quotas: "Minimum number of records per batch inference job" (100).
            return (
                f"The number of records in the job's input ({total}) is less than the minimum "
                f"number of records per batch inference job ({self.min_records})."
            )
        job.counts = {}
        return None

    def _check_record(self, line: bytes) -> str | None:
        try:
            row = json.loads(line)
        except ValueError:
            return "the line is not valid JSON"
        if not isinstance(row, dict):
            return "the line is not a JSON object"
        if not isinstance(row.get("modelInput"), dict):
            return "modelInput must be a JSON object"
        if "recordId" in row:
            rid = row["recordId"]
            if (
                not isinstance(rid, str)
                or not RECORD_ID.fullmatch(rid)
                or len(rid) > self.record_id_max
            ):
                return (
                    f"recordId must be an alphanumeric string of at most {self.record_id_max} "
                    "characters"
                )
        return None

    def _lines(self, bucket: Bucket, key: str) -> list[int]:
        offsets = []
        with bucket.objects[key].path.open("rb") as fh:
            pos = 0
            for line in fh:
                if line.strip():
                    offsets.append(pos)
                pos += len(line)
        return offsets

    def _run(self, job: Job, fraction: float) -> None:
        """Answer the records into ``<output uri>/<job id>/<input file name>.out`` and write
        ``manifest.json.out`` beside them (batch-inference-results).

        "The order of records in the output JSONL file is not guaranteed to match the order of
        records in the input JSONL file" (batch-inference-data): records come out in an order
        hashed from the job ID. Only line offsets are held, never the records.
        """
        in_bucket = self.buckets[
            self._split_uri(job.request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"])[0]
        ]
        out_cfg = job.request["outputDataConfig"]["s3OutputDataConfig"]
        out_name, out_prefix = self._split_uri(out_cfg["s3Uri"])
        out_bucket = self.buckets[out_name]
        out_prefix = out_prefix.rstrip("/") + "/" if out_prefix.strip("/") else ""
        kms = out_cfg.get("s3EncryptionKeyId")
        per_file = [(k, self._lines(in_bucket, k)) for k in job.inputs]
        total = sum(len(offsets) for _, offsets in per_file)
        budget = math.floor(total * fraction)
        counts = dict.fromkeys(("processed", "success", "error", "input", "output"), 0)
        for key, offsets in per_file:
            order = sorted(
                range(len(offsets)),
                key=lambda i: hashlib.sha256(f"{job.id}:{key}:{i}".encode()).digest(),
            )
            path = self._new_path()
            with path.open("wb") as out, in_bucket.objects[key].path.open("rb") as src:
                for index in order:
                    if budget <= 0:
                        break
                    budget -= 1
                    src.seek(offsets[index])
                    row = json.loads(src.readline())
                    rid = row.get("recordId")
                    if rid is None:
                        # "If you omit the recordId field, Amazon Bedrock adds it in the output."
                        rid = (
                            hashlib.sha256(f"{job.id}:{key}:{index}".encode())
                            .hexdigest()[:11]
                            .upper()
                        )
                    result: dict[str, Any] = {"recordId": rid, "modelInput": row["modelInput"]}
                    answer, problem = self._invoke(job.family, job.model_id, row["modelInput"])
                    if problem is None and _tools_refused(job, row["modelInput"]):
                        answer, problem = {}, "records that include tools fail in Converse jobs"
                    counts["processed"] += 1
                    if problem is not None:
                        result["error"] = {"errorCode": 400, "errorMessage": problem}
                        counts["error"] += 1
                    else:
                        result["modelOutput"] = answer
                        counts["success"] += 1
                        usage = answer.get("usage", {})
                        counts["input"] += usage.get(
                            "input_tokens", usage.get("inputTokens", 0)
                        ) + answer.get("inputTextTokenCount", 0)
                        counts["output"] += usage.get("output_tokens", usage.get("outputTokens", 0))
                    out.write(json.dumps(result).encode() + b"\n")
            name = key.rsplit("/", 1)[-1]
            self._put_generated(out_bucket, f"{out_prefix}{job.id}/{name}.out", path, kms)
        manifest = {
            "totalRecordCount": total,
            "processedRecordCount": counts["processed"],
            "successRecordCount": counts["success"],
            "errorRecordCount": counts["error"],
            "inputTokenCount": counts["input"],
            "outputTokenCount": counts["output"],
        }
        path = self._new_path()
        path.write_bytes(json.dumps(manifest).encode())
        self._put_generated(out_bucket, f"{out_prefix}{job.id}/manifest.json.out", path, kms)
        job.counts = {
            "totalRecordCount": total,
            "processedRecordCount": counts["processed"],
            "successRecordCount": counts["success"],
            "errorRecordCount": counts["error"],
        }

    def _put_generated(self, bucket: Bucket, key: str, path: Path, kms: str | None) -> None:
        md5 = hashlib.md5()
        with path.open("rb") as fh:
            while data := fh.read(CHUNK):
                md5.update(data)
        old = bucket.objects.get(key)
        if old is not None:
            old.path.unlink(missing_ok=True)
        bucket.objects[key] = S3Object(
            path,
            path.stat().st_size,
            f'"{md5.hexdigest()}"',
            "binary/octet-stream",
            {},
            "aws:kms" if kms else None,
            kms,
            {},
            self.clock(),
        )

    # -- the models -------------------------------------------------------------------------
    def _invoke(
        self, family: str, model_id: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], str | None]:
        if family == "titan-embed":
            return _titan_invoke(body)
        problem = _check_claude(body, model_id) if family == "claude" else _check_nova(body)
        if problem is not None:
            # The runtime's wording for a body the model rejects (InvokeModel
            # ValidationException "Malformed input request: ...").
            return (
                {},
                f"Malformed input request: {problem}, please reformat your input and try again.",
            )
        text_in = json.dumps(body.get("messages"), sort_keys=True)
        digest = hashlib.sha256(f"{model_id}\x00{text_in}".encode()).hexdigest()
        words = ["Fake", "answer", digest[:12], "from", model_id.rsplit("/", 1)[-1]]
        input_tokens = len(text_in.split()) + len(json.dumps(body.get("system", "")).split())
        cached = self._cache(model_id, body, family)
        if family == "claude":
            return _claude_answer(body, model_id, words, input_tokens, cached), None
        return _nova_answer(body, words, input_tokens, cached), None

    def _cache(self, model_id: str, body: dict[str, Any], family: str) -> tuple[str, int] | None:
        """("read" or "write", tokens) of the prompt's cached prefix, if it has one.

        The prefix runs to the last cache checkpoint (Claude: a block with ``cache_control``;
        Nova: a ``cachePoint`` block), system first, then messages (Anthropic "Prompt
        caching"; Nova user guide, "Prompt caching"). Shorter than the minimum, it is not
        cached, with no error (both guides: 1,024 tokens for most models). The first record
        with a prefix writes it, later ones read it.
        """
        marked = "cache_control" if family == "claude" else "cachePoint"
        system = body.get("system")
        blocks = [
            *(system if isinstance(system, list) else []),
            *(
                b
                for m in body.get("messages") or []
                if isinstance(m.get("content"), list)
                for b in m["content"]
            ),
        ]
        last = max(
            (i for i, b in enumerate(blocks) if isinstance(b, dict) and marked in b), default=-1
        )
        if last < 0:
            return None
        prefix = json.dumps(blocks[: last + 1], sort_keys=True)
        tokens = len(prefix.split())
        if tokens < CACHE_MIN_TOKENS:
            return None
        key = hashlib.sha256(f"{model_id}\x00{prefix}".encode()).hexdigest()
        if key in self.cached_prefixes:
            return "read", tokens
        self.cached_prefixes.add(key)
        return "write", tokens

    # -- jobs: list and stop ----------------------------------------------------------------
    def _list_jobs(self, request: web.Request, cred: AwsCredential) -> web.Response:
        q = request.query
        shape = self._model.operation_model("ListModelInvocationJobs").input_shape
        problems: list[str] = []
        values: dict[str, Any] = {}
        for name in ("statusEquals", "nameContains", "nextToken", "sortBy", "sortOrder"):
            if name in q:
                values[name] = q[name]
        if "maxResults" in q:
            try:
                values["maxResults"] = int(q["maxResults"])
            except ValueError:
                problems.append(
                    f"Value '{q['maxResults']}' at 'maxResults' failed to satisfy constraint: "
                    "Member must be a number"
                )
        times: dict[str, float] = {}
        for name in ("submitTimeAfter", "submitTimeBefore"):
            if name in q:
                try:
                    times[name] = datetime.fromisoformat(q[name].replace("Z", "+00:00")).timestamp()
                except ValueError:
                    problems.append(
                        f"Value '{q[name]}' at '{name}' failed to satisfy constraint: "
                        "Member must be a timestamp"
                    )
        self._check_shape(shape, values, "", problems)
        if problems:
            raise _invalid(*problems)
        # The default page size is not documented; least helpful: a small one.
        size = values.get("maxResults", 10)
        start = 0
        if "nextToken" in values:
            try:
                start = int(
                    base64.urlsafe_b64decode(values["nextToken"].encode())
                    .decode()
                    .removeprefix("jobs:")
                )
            except ValueError:
                raise _br_error(400, "ValidationException", "Invalid pagination token.") from None
        jobs = []
        for job in self.jobs.values():
            if job.account != cred.account:
                continue
            self._advance(job)
            if "statusEquals" in values and self._status(job) != values["statusEquals"]:
                continue
            if "nameContains" in values and values["nameContains"] not in job.name:
                continue
            if "submitTimeAfter" in times and job.submit <= times["submitTimeAfter"]:
                continue
            if "submitTimeBefore" in times and job.submit >= times["submitTimeBefore"]:
                continue
            jobs.append(job)
        # sortBy CreationTime only; sortOrder's default is not documented: Descending.
        jobs.sort(
            key=lambda j: j.submit, reverse=values.get("sortOrder", "Descending") == "Descending"
        )
        page = jobs[start : start + size]
        answer: dict[str, Any] = {"invocationJobSummaries": [self._describe(j) for j in page]}
        if start + size < len(jobs):
            answer["nextToken"] = base64.urlsafe_b64encode(f"jobs:{start + size}".encode()).decode()
        return web.json_response(answer)

    def _stop_job(self, cred: AwsCredential, identifier: str) -> web.Response:
        job = self._job(cred, identifier)
        self._advance(job)
        status = self._status(job)
        if status in TERMINAL:
            # The service model lists ConflictException for StopModelInvocationJob.
            raise _br_error(
                400, "ConflictException", f"The job {job.arn} cannot be stopped: it is {status}."
            )
        if job.stop_at is None:
            job.stop_at = job.modified = self.clock()
            self._advance(job)
        return web.json_response({})
