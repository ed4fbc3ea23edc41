"""What every service's HTTP app has in common: health, readiness, metrics, errors, and
the guard at the edge (a request size limit and the security headers).

Domain errors are raised as ``DomainError`` subclasses with a message meant for the
caller, and mapped to status codes here, in one place. Validation errors answer 422
naming each field and the reason. A body over the limit is a 413 before any route reads
it; every answer says ``nosniff``, and JSON is never cached (it may hold patient data).
"""

from __future__ import annotations

import json

from fastapi import Depends, FastAPI, Request
from fastapi._compat import field_annotation_is_sequence
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.docs import add_docs
from shared.metrics import instrument

__all__ = [
    "Conflict",
    "DomainError",
    "Forbidden",
    "NotFound",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "add_common",
]

MAX_REQUEST_BYTES = 1_000_000  # a referral with long notes is a few kilobytes
SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"same-origin",
    b"x-frame-options": b"DENY",
}


class DomainError(Exception):
    status_code = 400
    headers: dict[str, str] | None = None

    def __init__(self, message: str, **details) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthorized(DomainError):
    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}


class TooManyRequests(DomainError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    status_code = 409


class Unprocessable(DomainError):
    status_code = 422


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append({"field": ".".join(loc) or "body", "reason": reason})
    return errors


class EdgeGuard:
    """ASGI middleware: refuse bodies over ``max_bytes`` with 413 (declared or streamed),
    and add the security headers to every answer, ``Cache-Control: no-store`` to JSON."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        if declared or b"transfer-encoding" in headers:
            body = await self._read(receive)
            if body is None:
                await self._too_large(send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, _with_headers(send))

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body (as far as it came), or None once it passes the limit."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            {
                "detail": f"the request body is over the limit of {self.max_bytes} bytes",
                "field": "body",
            }
        ).encode()
        await _with_headers(send)(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_headers(send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            headers += [(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]
            content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
            is_json = b"json" in content_type
            if is_json and b"cache-control" not in present:
                headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return send_with_headers


ERROR_BODY = {
    "type": "object",
    "description": "Every refusal: a message for people, and the field it concerns",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
        "allowed": {"type": "array", "items": {"type": "string"}},
    },
}
ERRORS = {
    "400": "The request cannot be understood",
    "401": "Not signed in, or the session ended",
    "403": "Signed in, but this role or CSRF check may not",
    "404": "No such thing that you can see",
    "409": "Not allowed in the current state (``allowed`` names what is)",
    "413": "The request body is over the size limit",
    "422": "A field is invalid: ``field`` and ``errors`` name it",
    "429": "Too many failed sign-ins: wait ``Retry-After`` seconds",
}
OPERATION_OUTCOME = {
    "type": "object",
    "description": "A FHIR OperationOutcome: each issue names the FHIRPath it concerns",
    "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}},
}
FHIR_JSON = "application/fhir+json"


def document_errors(app: FastAPI) -> None:
    """Write the refusals every route can really give into the OpenAPI document, with
    the one error body they share (FastAPI's default documents a different 422 body and
    none of the others)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        spec = build()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("ValidationError", None)
        schemas.pop("HTTPValidationError", None)
        schemas["Error"] = ERROR_BODY
        schemas["OperationOutcome"] = OPERATION_OUTCOME
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        fhir = {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}
        for path, operations in spec.get("paths", {}).items():
            fhir_route = path.startswith("/fhir/")
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                codes = (
                    {**ERRORS, "415": "Not a media type this route reads"} if fhir_route else ERRORS
                )
                for code, description in codes.items():
                    responses[code] = {
                        "description": description,
                        "content": {**content, **fhir} if fhir_route else content,
                    }
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at this request's path (asked of the
    routes themselves, so routers included with a prefix count too)."""
    methods = {"OPTIONS"}
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return sorted(methods)


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Starlette's own refusals (404, 405), with a 405 that names every allowed method in
    ``Allow`` (not only the first route's) and an OPTIONS answered with them."""
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        headers = {"Allow": ", ".join(allowed)}
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=headers)
        detail = f"{request.method} is not allowed here: use {', '.join(allowed)}"
        return JSONResponse({"detail": detail}, status_code=405, headers=headers)
    return await http_exception_handler(request, exc)


_SINGLE_VALUED: dict[int, frozenset[str]] = {}


def one_value_each(request: Request) -> None:
    """Refuse a query parameter given more than once where the route takes one value.

    FastAPI would quietly keep the last of ``?page=2&page=x``, so a request its OpenAPI
    document calls invalid got a 200 answer for a value the caller may not have meant."""
    query = request.query_params
    if len(query.multi_items()) == len(query):
        return  # no name given twice: the common case costs two len() calls
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    single = _SINGLE_VALUED.get(id(route))
    if single is None:
        single = _SINGLE_VALUED[id(route)] = frozenset(_single_valued(dependant))
    for name in sorted(single):
        given = len(query.getlist(name))
        if given > 1:
            raise Unprocessable(
                f"{name}: give this query parameter once (it was given {given} times)",
                field=name,
            )


def _single_valued(dependant) -> set[str]:
    names = {
        f.alias
        for f in dependant.query_params
        if not field_annotation_is_sequence(f.field_info.annotation)
    }
    for sub in dependant.dependencies:
        names |= _single_valued(sub)
    return names


def add_common(app: FastAPI, service: str, max_request_bytes: int = MAX_REQUEST_BYTES) -> None:
    """Health, readiness, metrics, error mapping and the edge guard for a service app."""
    instrument(app, service)
    app.add_middleware(EdgeGuard, max_bytes=max_request_bytes)
    app.router.dependencies.append(Depends(one_value_each))
    add_docs(app)
    document_errors(app)

    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.message, **exc.details},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    app.add_exception_handler(StarletteHTTPException, http_error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        summary = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return JSONResponse({"detail": summary, "errors": errors}, status_code=422)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        try:
            with app.state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready", "service": service})
