"""The directory's web pages: browse and search, a group's own services, and reports.

Pages are thin HTML shells; their scripts use this service's JSON API with the sign-in
cookie that the referrals service sets (one cookie serves every port of the host). The
look and the small script helpers live with the referrals service, which hosts
sign-in; these pages load them from ``settings.referrals_url``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from shared.auth import Principal, Role, principal_from_request
from shared.settings import Settings
from shared.web import DomainError

__all__ = ["add_pages"]

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
pages = APIRouter(include_in_schema=False)

DELIVERY = [
    ("in_person", "In person"),
    ("phone", "By phone"),
    ("online", "Online"),
    ("home", "At home"),
]
ACCESSIBILITY = [
    ("wheelchair", "Wheelchair access"),
    ("step_free", "Step-free access"),
    ("hearing_loop", "Hearing loop"),
    ("bsl", "British Sign Language"),
    ("large_print", "Large print"),
    ("quiet_space", "Quiet space"),
    ("accessible_toilet", "Accessible toilet"),
    ("carers_free", "Carer comes free"),
]


def add_pages(app: FastAPI) -> None:
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def _signed_in(request: Request) -> Principal | None:
    try:
        return principal_from_request(request)
    except DomainError:  # not signed in, or the session ended
        return None


def _security_headers(settings: Settings) -> dict[str, str]:
    front = settings.referrals_url
    return {
        "Content-Security-Policy": (
            f"default-src 'self'; script-src 'self' {front}; style-src 'self' {front}; "
            f"img-src 'self' data:; connect-src 'self'; form-action 'self' {front}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def _page(request: Request, template: str, roles: tuple[Role, ...] = (), **context) -> Response:
    """Render ``template`` for a signed-in person; ``roles`` limits who (admins pass)."""
    settings: Settings = request.app.state.settings
    user = _signed_in(request)
    status_code = 200
    if user is None:
        template, status_code = "signed_out.html", 401
    elif roles and user.role not in roles and user.role is not Role.ADMIN:
        template, status_code = "forbidden.html", 403
    return templates.TemplateResponse(
        request,
        template,
        {"user": user, "settings": settings, **context},
        status_code=status_code,
        headers=_security_headers(settings),
    )


@pages.get("/", response_class=HTMLResponse)
def browse(request: Request) -> Response:
    return _page(request, "browse.html")


@pages.get("/my-services", response_class=HTMLResponse)
def my_services(request: Request) -> Response:
    return _page(
        request,
        "my_services.html",
        (Role.GROUP_MEMBER,),
        delivery=DELIVERY,
        accessibility=ACCESSIBILITY,
    )


@pages.get("/reports", response_class=HTMLResponse)
def reports(request: Request) -> Response:
    return _page(request, "reports.html", (Role.COMMISSIONER, Role.LINK_WORKER))
