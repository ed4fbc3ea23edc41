"""The published Open Referral UK profile (../shared/data/openreferral-uk), for tests:
JSON Schema validators of each response shape, and the profile's OpenAPI document made
loadable offline.

The profile's documents need three adjustments to load, none of which loosens a response
schema: their ``$ref``s point at the profile's repository online, so they are replaced by
the same files from the local copy (keeping only JSON Schema keywords); ``"type": "time"``
(not an OpenAPI type) becomes a string holding a time of day as HSDS writes ``opens_at``
(``HH:MM`` or ``HH:MM:SS``); and ``/organizations`` and ``/organizations/{id}``, which the
UK profile lists as required with no body (``null``), get the compiled organization
schemas. The profile's own parameter list (``profile/openapi.json``) is merged over the
HSDS one.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

PROFILE_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "openreferral-uk"
TIME_OF_DAY = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"}
_REMOTE = "https://raw.githubusercontent.com/openreferral/uk-profile/main/schema/"

needs_profile = pytest.mark.skipif(
    not PROFILE_DIR.exists(), reason="the Open Referral UK profile copy is not beside the repo"
)


def _load(relative: str) -> dict:
    return json.loads((PROFILE_DIR / "schema" / relative).read_text())


@cache
def _registry() -> Registry:
    resources = []
    for path in (PROFILE_DIR / "schema").glob("*.json"):
        if path.name == "openapi.json":
            continue
        resources.append(
            (
                path.name,
                Resource.from_contents(
                    json.loads(path.read_text()), default_specification=DRAFT202012
                ),
            )
        )
    return Registry().with_resources(resources)


@cache
def validator(relative: str) -> Draft202012Validator:
    """A validator for ``schema/<relative>`` (e.g. ``compiled/service.json``) with formats
    (uuid, email, uri, date-time) checked."""
    schema = _load(relative)
    schema.setdefault("$id", relative.rsplit("/", 1)[-1])
    return Draft202012Validator(schema, registry=_registry(), format_checker=FormatChecker())


def page_validator() -> Draft202012Validator:
    schema = _load("openapi.json")["components"]["schemas"]["Page"]
    schema = {
        **schema,
        "required": [
            "total_items",
            "total_pages",
            "page_number",
            "size",
            "first_page",
            "last_page",
            "empty",
            "contents",
        ],
    }
    return Draft202012Validator(schema)


def assert_valid(relative: str, document: dict) -> None:
    errors = sorted(validator(relative).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:10])


def _inline(node):
    """Replace remote $refs with the local files' contents (recursively)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REMOTE):
            return copy.deepcopy(_strip(_load(ref.removeprefix(_REMOTE))))
        if node.get("type") == "time":
            return {
                **{k: v for k, v in node.items() if k != "type"},
                "type": "string",
                "format": "time",
            }
        return {k: _inline(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v) for v in node]
    return node


def _strip(schema: dict) -> dict:
    """HSDS schema files carry CSV metadata (``name``, ``path``, ``constraints``...) that
    OpenAPI 3.0 schema objects do not allow; keep the JSON Schema keywords."""
    keep = {
        "type",
        "properties",
        "items",
        "required",
        "enum",
        "format",
        "description",
        "title",
        "minimum",
        "maximum",
        "pattern",
        "additionalProperties",
    }
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key not in keep:
            continue
        if key == "properties":
            out[key] = {k: _strip(v) for k, v in value.items()}
        elif key == "items":
            out[key] = _strip(value)
        else:
            out[key] = value
    return out


def _json_response(schema: dict, description: str) -> dict:
    return {
        "200": {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def profile_openapi(server: str = "/openreferral") -> dict:
    """The profile's OpenAPI document, loadable offline (see the module docstring)."""
    base = _load("openapi.json")
    profile = json.loads((PROFILE_DIR / "profile" / "openapi.json").read_text())
    for path, item in profile["paths"].items():
        if item and path in base["paths"]:
            base["paths"][path]["get"]["parameters"] = item["get"]["parameters"]
    base["components"]["parameters"].update(profile["components"]["parameters"])
    page = {"$ref": "#/components/schemas/Page"}
    base["paths"]["/organizations"] = {
        "get": {
            "operationId": "getPaginatedListOfOrganizations",
            "parameters": [
                {"$ref": "#/components/parameters/page"},
                {"$ref": "#/components/parameters/per_page"},
            ],
            "responses": _json_response(
                {
                    "allOf": [page],
                    "properties": {
                        "contents": {
                            "type": "array",
                            "items": {"$ref": _REMOTE + "compiled/organization_list.json"},
                        }
                    },
                },
                "Paginated organizations",
            ),
        }
    }
    base["paths"]["/organizations/{id}"] = {
        "parameters": [
            {"in": "path", "name": "id", "required": True, "schema": {"type": "string"}}
        ],
        "get": {
            "operationId": "getOrganizationById",
            "responses": _json_response(
                {"$ref": _REMOTE + "compiled/organization.json"}, "One organization"
            ),
        },
    }
    document = _inline(base)
    document["servers"] = [{"url": server}]
    document.pop("jsonSchemaDialect", None)
    return document
