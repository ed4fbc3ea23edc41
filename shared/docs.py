"""``/docs``: Swagger UI served from this process, never from a CDN.

Swagger UI's bundle and stylesheet come from the installed ``fastapi-offline`` package
(Swagger UI 5, which reads OpenAPI 3.1); the page starts it with a script of our own
(``docs_init.js``), so the page's Content-Security-Policy allows scripts from
this origin only. The other security headers come from ``shared.web.EdgeGuard``.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["DOCS_CSP", "add_docs"]

SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"
INIT_SCRIPT = Path(__file__).parent / "docs_init.js"
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)


def add_docs(app: FastAPI) -> None:
    """Serve ``/docs`` for ``app`` (built with ``docs_url=None, redoc_url=None``)."""
    app.mount("/docs/swagger-ui", StaticFiles(directory=SWAGGER_UI), name="swagger-ui")

    @app.get("/docs/init.js", include_in_schema=False)
    def docs_script() -> FileResponse:
        return FileResponse(INIT_SCRIPT, media_type="text/javascript")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(app.title)} API</title>
<link rel="stylesheet" href="/docs/swagger-ui/swagger-ui.css">
<link rel="icon" href="/docs/swagger-ui/favicon.png">
</head>
<body data-openapi="{escape(app.openapi_url or "/openapi.json")}">
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>"""
        return HTMLResponse(
            page, headers={"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-store"}
        )
