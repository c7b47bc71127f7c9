"""The desk's first page: where things stand and where to go."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from newsroom_feed.people.users import DeskUser
from newsroom_feed.web.desk.core import editor, lang_of, render
from newsroom_feed.web.desk.words import words

router = APIRouter()


@router.get("/")
def home(request: Request, user: Annotated[DeskUser, Depends(editor)]) -> Response:
    t = words(lang_of(request))
    return render(request, "home.html", user, title=t["home_title"])
