"""The newsroom desk at ``/desk/``: press officers write, embargo and follow releases; admins also manage
subscribers, the outbox and users. Server-rendered (Jinja2 templates in ``templates/desk``); every page
works without script, and the little script there is (``desk.js``: the embargo countdown) is ours, served
from here, with no build step.

`install(app, state)` adds the routes, the desk's share of the state and the answers to "not signed in"
(a redirect to the sign-in page) and "not an admin" (a 403 page).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import Response

from newsroom_feed.bundled import bundled_templates
from newsroom_feed.people.users import DeskUser
from newsroom_feed.web.desk import areas, auth, home
from newsroom_feed.web.desk.core import (
    PREFIX,
    AdminOnly,
    DeskState,
    SignInRequired,
    current_user,
    editor,
    message,
    see_other,
)
from newsroom_feed.web.state import WebState

ASSETS = {"desk.css": "text/css; charset=utf-8", "desk.js": "text/javascript; charset=utf-8"}


def install(app: FastAPI, state: WebState) -> None:
    app.state.desk = DeskState.build(state)
    router = APIRouter(prefix=PREFIX)
    router.include_router(auth.router)
    router.include_router(home.router)
    for area in areas.routers():
        router.include_router(area)
    router.add_api_route("/assets/{name}", asset, methods=["GET"])
    # Last: any other desk path asks for a session first, so a visitor learns nothing of which exist.
    router.add_api_route("/{rest:path}", unknown, methods=["GET"])
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, error: SignInRequired) -> Response:
        return see_other(f"{PREFIX}/login?ended=1&next={quote(error.next_path, safe='/')}")

    @app.exception_handler(AdminOnly)
    async def admins_only(request: Request, error: AdminOnly) -> Response:
        return message(request, current_user(request), "forbidden_title", "forbidden_text", 403)


def unknown(request: Request, rest: str, user: Annotated[DeskUser, Depends(editor)]) -> Response:
    return message(request, user, "not_found_title", "not_found_text", 404)


def asset(name: str) -> Response:
    media = ASSETS.get(name)
    if media is None:
        return Response(status_code=404)
    body = (bundled_templates("desk") / "assets" / name).read_bytes()
    return Response(body, media_type=media, headers={"cache-control": "no-cache"})
