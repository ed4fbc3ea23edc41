"""The one page shell both services' web pages use: the base template, form-field
macros, error pages, the stylesheet, the small script helpers and the favicon.

Each service serves these itself under ``/assets`` (so no page loads anything from
another origin) and keeps only its own pages in its ``templates/`` and ``static/``. The
menu links to pages of both services: ``at`` in every template's context holds each
service's prefix, empty for the service rendering the page and the other's origin
otherwise. Browsers asking for an unknown or forbidden path get an HTML page; API
clients keep FastAPI's JSON answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from shared.auth import Principal, Role, principal_from_request
from shared.settings import Settings
from shared.web import DomainError, http_error

__all__ = ["SERVICES", "Shell", "home_for", "signed_in", "wants_html"]

HERE = Path(__file__).parent
SERVICES = ("referrals", "directory")


def wants_html(scope: Scope) -> bool:
    """A browser navigating (``Accept: text/html``), not ``fetch`` or an API client."""
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return b"text/html" in value
    return False


def home_for(principal: Principal, at: dict[str, str]) -> str:
    """Where a person lands after signing in: the page their role works from. ``at``
    is each service's link prefix (``Shell.links``)."""
    if principal.role is Role.PRACTICE_STAFF:
        return f"{at['referrals']}/referrals"
    if principal.role is Role.GROUP_MEMBER:
        return f"{at['directory']}/my-services"
    if principal.role is Role.COMMISSIONER:
        return f"{at['directory']}/reports"
    return f"{at['referrals']}/worklist"


def signed_in(request: Request) -> Principal | None:
    try:
        return principal_from_request(request)
    except (DomainError, HTTPException):  # not signed in, or the session ended
        return None


class Shell:
    """Renders one service's pages inside the shared shell."""

    def __init__(self, service: str, templates: Path, sign_in_here: bool = False) -> None:
        if service not in SERVICES:
            raise ValueError(f"service must be one of {SERVICES}")
        self.service = service
        self.sign_in_here = sign_in_here  # the service that hosts the sign-in page
        self.templates = Jinja2Templates(directory=[templates, HERE / "templates"])

    # --- wiring ---------------------------------------------------------------------

    def add_to(self, app: FastAPI) -> None:
        """Serve the shell's files and answer browsers' 404s and 403s with pages."""
        app.mount("/assets", StaticFiles(directory=HERE / "static"), name="assets")

        @app.get("/favicon.ico", include_in_schema=False)
        def favicon() -> FileResponse:
            return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

        @app.exception_handler(StarletteHTTPException)
        async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
            if exc.status_code in (403, 404) and wants_html(request.scope):
                user = signed_in(request)
                template = "not_found.html" if exc.status_code == 404 else "forbidden.html"
                if template == "forbidden.html" and user is None:
                    template = "signed_out.html"
                return self.render(
                    request, template, user, status_code=exc.status_code, home=self.home(request)
                )
            return await http_error(request, exc)

    # --- rendering ------------------------------------------------------------------

    def links(self, settings: Settings) -> dict[str, str]:
        origins = {"referrals": settings.referrals_url, "directory": settings.directory_url}
        return {name: "" if name == self.service else origins[name] for name in SERVICES}

    def home(self, request: Request) -> str:
        at = self.links(request.app.state.settings)
        user = signed_in(request)
        return home_for(user, at) if user else f"{at['referrals']}/"

    def security_headers(self, settings: Settings) -> dict[str, str]:
        others = " ".join(o for o in self.links(settings).values() if o)
        return {
            "Content-Security-Policy": (
                "default-src 'self'; img-src 'self' data:; connect-src 'self'; "
                f"form-action 'self' {others}; frame-ancestors 'none'; base-uri 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        }

    def render(
        self,
        request: Request,
        template: str,
        user: Principal | None,
        status_code: int = 200,
        **context,
    ) -> HTMLResponse:
        settings: Settings = request.app.state.settings
        return self.templates.TemplateResponse(
            request,
            template,
            {
                "user": user,
                "settings": settings,
                "at": self.links(settings),
                "here": (self.service, request.url.path),
                **context,
            },
            status_code=status_code,
            headers=self.security_headers(settings),
        )

    def page(
        self, request: Request, template: str, roles: Sequence[Role] = (), **context
    ) -> Response:
        """``template`` for a signed-in person with one of ``roles`` (any role when
        empty; administrators always pass). Others are sent to sign in, or told the page
        is not for their role."""
        user = signed_in(request)
        settings: Settings = request.app.state.settings
        if user is None:
            if self.sign_in_here:
                return RedirectResponse("/", status_code=303)
            return self.render(request, "signed_out.html", None, status_code=401)
        if roles and user.role not in roles and user.role is not Role.ADMIN:
            home = home_for(user, self.links(settings))
            return self.render(request, "forbidden.html", user, status_code=403, home=home)
        return self.render(request, template, user, **context)
