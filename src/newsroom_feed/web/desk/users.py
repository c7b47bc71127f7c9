"""(Being written.) Admins manage desk users here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from newsroom_feed.people.users import DeskUser
from newsroom_feed.web.desk.core import admin, render

router = APIRouter()


@router.get("/users")
def user_list(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    return render(request, "message.html", user, title="Users", text="")
