"""The directory's web pages: browse and search, a group's own services, and reports.

Pages are thin HTML shells; their scripts use this service's JSON API with the sign-in
cookie that the referrals service sets (one cookie serves every port of the host). The
page shell, the look and the small script helpers are shared with the referrals
service (``shared.pages``) and served from this service's own origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from shared.auth import Role
from shared.pages import Shell

__all__ = ["add_pages"]

HERE = Path(__file__).parent
shell = Shell("directory", HERE / "templates")
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
    shell.add_to(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def _page(request: Request, template: str, roles: tuple[Role, ...] = (), **context) -> Response:
    """Render ``template`` for a signed-in person; ``roles`` limits who (admins pass)."""
    return shell.page(request, template, roles, **context)


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


@pages.get("/admin/moderation", response_class=HTMLResponse)
def moderation(request: Request) -> Response:
    return _page(request, "moderation.html", (Role.ADMIN,))


@pages.get("/admin/import", response_class=HTMLResponse)
def import_page(request: Request) -> Response:
    return _page(request, "import.html", (Role.ADMIN,))
