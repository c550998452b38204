"""OpenAI's own schemas, for checking that the fake's and the router's objects fit them.

``tests/data/openai-schemas.json`` is the subset of ``../shared/openai-openapi.yaml`` the tests
use (so a clone without ``shared/`` still tests); ``test_spec`` checks it still matches.
Regenerate with ``python -m tests.spec``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parent
SHARED_SPEC = ROOT.parent.parent / "shared" / "openai-openapi.yaml"
VENDORED = ROOT / "data" / "openai-schemas.json"
NAMES = (
    "OpenAIFile",
    "ListFilesResponse",
    "DeleteFileResponse",
    "Batch",
    "ListBatchesResponse",
    "ErrorResponse",
    "FineTuningJob",
    "ListPaginatedFineTuningJobsResponse",
    "ListFineTuningJobEventsResponse",
    "ListFineTuningJobCheckpointsResponse",
)


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _draft2020(node: Any) -> Any:
    """OpenAPI 3.0's boolean ``exclusiveMinimum``/``exclusiveMaximum`` (beside ``minimum``)
    as JSON Schema 2020-12's numeric form; jsonschema would read ``true`` as the number 1."""
    if isinstance(node, list):
        return [_draft2020(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _draft2020(value) for key, value in node.items()}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), bool) and out.pop(bound) and limit in out:
            out[bound] = out.pop(limit)
    return out


def extract(spec_path: Path = SHARED_SPEC) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    schemas = yaml.load(spec_path.read_text(), Loader=loader)["components"]["schemas"]
    wanted, todo = {}, list(NAMES)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted[name] = _draft2020(schemas[name])
            todo.extend(_refs(schemas[name]))
    return dict(sorted(wanted.items()))


def schemas() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(VENDORED.read_text())
    return loaded


def validator(name: str) -> Draft202012Validator:
    document = {"components": {"schemas": schemas()}}
    registry: Registry[Any] = Registry().with_resource("urn:openai", Resource.opaque(document))
    return Draft202012Validator(
        {"$ref": f"urn:openai#/components/schemas/{name}"}, registry=registry
    )


def check(name: str, obj: Any) -> None:
    errors = sorted(validator(name).iter_errors(obj), key=str)
    assert not errors, f"{name} does not fit the OpenAI spec: {errors[0].message} in {obj}"


if __name__ == "__main__":
    VENDORED.write_text(json.dumps(extract(), indent=1, sort_keys=True) + "\n")
