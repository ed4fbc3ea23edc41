"""The referrals service's web pages: sign-in, the referral form, lists and one referral,
the link workers' worklist, and the referrals a community group receives.

Pages are thin HTML shells; their scripts read and change data through this service's
own JSON API (same origin, the ``sp_token`` cookie), so the API stays the one source of
truth. A page may share its path with a JSON route of the API (``/referrals``,
``/referrals/{id}``): a browser asking for HTML gets the page, any other client the
JSON. ``add_pages`` must therefore run before the API router is included.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match
from starlette.types import Scope

from services.referrals.api import login
from services.referrals.domain import NEED_CATEGORIES, Status
from shared.auth import (
    COOKIE_NAME,
    CSRF_COOKIE,
    Principal,
    Role,
    new_csrf_token,
    principal_from_request,
    same_origin,
)
from shared.pages import Shell, home_for, signed_in, wants_html
from shared.settings import Settings
from shared.web import DomainError

__all__ = ["PageRoute", "add_pages"]

HERE = Path(__file__).parent
shell = Shell("referrals", HERE / "templates", sign_in_here=True)
CROSS_SITE = "Sign in and out from this system's own pages."

STATUS_WORDS = {
    Status.SUBMITTED: "Received: finding groups",
    Status.MATCHES_PROPOSED: "Groups proposed",
    Status.CONTACTED: "Link worker contacting them",
    Status.CONNECTED: "Connected to a group",
    Status.CLOSED: "Closed",
}

# How soon a link worker contacts someone, as promised on the form and its confirmation.
URGENCIES = [
    ("routine", "Routine (within 2 weeks)", "within 2 weeks"),
    ("soon", "Soon (within a week)", "within a week"),
    ("urgent", "Urgent (within 2 working days)", "within 2 working days"),
]

CONTACT_METHODS = [
    ("phone", "Phone"),
    ("text", "Text message"),
    ("email", "Email"),
    ("letter", "Letter"),
    ("in_person", "In person"),
]
CONTACT_RESULTS = [
    ("no_answer", "No answer"),
    ("left_message", "Left a message"),
    ("wrong_number", "Wrong number"),
    ("reached", "Reached them"),
    ("declined", "Reached them: they declined"),
]

# The ONS personal wellbeing questions (ONS4), in the Office for National Statistics'
# wording, each answered 0-10: (API name, short label, question).
ONS4_QUESTIONS = [
    (
        "life_satisfaction",
        "Life satisfaction",
        "Overall, how satisfied are you with your life nowadays?",
    ),
    (
        "worthwhile",
        "Worthwhile",
        "Overall, to what extent do you feel that the things you do in your life are worthwhile?",
    ),
    ("happiness", "Happiness", "Overall, how happy did you feel yesterday?"),
    (
        "anxiety",
        "Anxiety",
        "On a scale where 0 is 'not at all anxious' and 10 is 'completely anxious', "
        "overall, how anxious did you feel yesterday?",
    ),
]
# The Short Warwick-Edinburgh Mental Wellbeing Scale (SWEMWBS): seven statements about
# the last two weeks, each answered 1-5, in the scale's order.
SWEMWBS_STATEMENTS = [
    "I've been feeling optimistic about the future",
    "I've been feeling useful",
    "I've been feeling relaxed",
    "I've been dealing with problems well",
    "I've been thinking clearly",
    "I've been feeling close to other people",
    "I've been able to make up my own mind about things",
]
SWEMWBS_ANSWERS = [
    (1, "None of the time"),
    (2, "Rarely"),
    (3, "Some of the time"),
    (4, "Often"),
    (5, "All of the time"),
]


class PageRoute(APIRoute):
    """A route that answers only requests asking for HTML, so that a page and a JSON
    route can share one path: browsers navigating get the page, ``fetch`` and API
    clients (``Accept: */*`` or ``application/json``) fall through to the JSON route."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is Match.NONE or wants_html(scope):
            return match, child_scope
        return Match.NONE, {}


pages = APIRouter(include_in_schema=False)
# Pages on paths the JSON API also uses (or may come to use): HTML requests only.
api_paths = APIRouter(route_class=PageRoute, include_in_schema=False)


def add_pages(app: FastAPI) -> None:
    """Mount the pages, the shell and this service's scripts (call before including the
    API router)."""
    app.include_router(pages)
    app.include_router(api_paths)
    shell.add_to(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def _render(request: Request, template: str, user: Principal | None, **context) -> Response:
    return shell.render(request, template, user, status_words=STATUS_WORDS, **context)


def _page(request: Request, template: str, roles: tuple[Role, ...], **context) -> Response:
    """Render ``template`` for a signed-in person with one of ``roles`` (admins pass)."""
    return shell.page(request, template, roles, status_words=STATUS_WORDS, **context)


def _home(request: Request, user: Principal) -> str:
    return home_for(user, shell.links(request.app.state.settings))


# --- signing in and out ----------------------------------------------------------------


@pages.get("/")
def front_door(request: Request) -> Response:
    user = signed_in(request)
    if user is not None:
        return RedirectResponse(_home(request, user), status_code=303)
    return _render(request, "login.html", None)


@pages.post("/login")
def sign_in(
    request: Request,
    username: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The API's login, answered with a cookie and a redirect instead of a JSON token."""
    if not same_origin(request):  # nobody can be signed in from another site's form
        return _render(request, "login.html", None, status_code=403, error=CROSS_SITE)
    try:
        answer = login(request, username, password)
    except DomainError as exc:
        return _render(
            request, "login.html", None, status_code=401, error=exc.message, username=username
        )
    settings: Settings = request.app.state.settings
    user = request.app.state.tokens.verify(answer["access_token"])
    response = RedirectResponse(_home(request, user), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        answer["access_token"],
        max_age=settings.token_ttl_minutes * 60,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.set_cookie(  # double-submit CSRF token: the pages' script sends it back
        CSRF_COOKIE,
        new_csrf_token(),
        max_age=settings.token_ttl_minutes * 60,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@pages.post("/logout")
def sign_out(request: Request) -> Response:
    if not same_origin(request):
        return _render(request, "login.html", None, status_code=403, error=CROSS_SITE)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE_NAME, httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, samesite="strict")
    return response


# --- GP practice staff -----------------------------------------------------------------


@api_paths.get("/referrals/new")
def referral_form(request: Request) -> Response:
    return _page(
        request,
        "referral_form.html",
        (Role.PRACTICE_STAFF,),
        need_categories=NEED_CATEGORIES,
        urgencies=URGENCIES,
    )


@api_paths.get("/referrals")
def practice_referrals(request: Request) -> Response:
    user = signed_in(request)
    if user is not None and user.role is Role.LINK_WORKER:
        return RedirectResponse("/worklist", status_code=303)
    contact_within = {value: within for value, _, within in URGENCIES}
    return _page(
        request, "practice_referrals.html", (Role.PRACTICE_STAFF,), contact_within=contact_within
    )


# --- link workers ----------------------------------------------------------------------


@api_paths.get("/worklist")
def worklist(request: Request) -> Response:
    return _page(request, "worklist.html", (Role.LINK_WORKER,))


@api_paths.get("/referrals/{referral_id}")
def referral_page(referral_id: str, request: Request) -> Response:
    return _page(
        request,
        "referral.html",
        (Role.LINK_WORKER, Role.PRACTICE_STAFF),
        referral_id=referral_id,
        contact_methods=CONTACT_METHODS,
        contact_results=CONTACT_RESULTS,
        ons4_questions=ONS4_QUESTIONS,
        swemwbs_statements=SWEMWBS_STATEMENTS,
        swemwbs_answers=SWEMWBS_ANSWERS,
    )


# --- administrators ---------------------------------------------------------------------


@api_paths.get("/admin/users")
def admin_users(request: Request) -> Response:
    return _page(request, "admin_users.html", (Role.ADMIN,))


@api_paths.get("/admin/audit")
def admin_audit(request: Request) -> Response:
    return _page(request, "admin_audit.html", (Role.ADMIN,))


# --- community groups ------------------------------------------------------------------


@pages.get("/group")
def group_referrals(request: Request) -> Response:
    return _page(request, "group_referrals.html", (Role.GROUP_MEMBER,))


@api_paths.get("/group/connections/{connection_id}")
def group_referral(connection_id: str, request: Request) -> Response:
    return _page(request, "group_referral.html", (Role.GROUP_MEMBER,), connection_id=connection_id)


@pages.get("/directory/services")
def search_directory(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    category: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The directory's search, passed through with the caller's own token, so that the
    referral page can search it without the directory allowing other origins."""
    caller = principal_from_request(request)
    if caller.role not in (Role.LINK_WORKER, Role.ADMIN):
        raise HTTPException(403, "this needs the role: link_worker")
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or request.cookies.get(COOKIE_NAME, "")
    params = urllib.parse.urlencode({k: v for k, v in {"q": q, "category": category}.items() if v})
    url = f"{request.app.state.settings.directory_url}/services?{params}&limit=20"
    outgoing = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(outgoing, timeout=5) as answer:
            services = json.load(answer)
    except urllib.error.HTTPError as exc:
        return JSONResponse({"detail": f"the directory answered {exc.code}"}, exc.code)
    except (urllib.error.URLError, TimeoutError) as exc:
        return JSONResponse({"detail": f"the directory is not reachable: {exc}"}, 502)
    return JSONResponse(
        [
            {
                "id": s["id"],
                "name": s["name"],
                "organisation_id": s.get("organisation_id"),
                "organisation_name": s.get("organisation_name", ""),
                "categories": s.get("categories", []),
                "ward": (s.get("location") or {}).get("ward"),
                "places_free": s.get("places_free"),  # None unless the caller may see it
                "availability": s.get("availability"),
                "status": s.get("status"),
            }
            for s in services
        ]
    )
