"""The admin API under ``/api``: releases, subscribers, the outbox; the same validated models as the CLI.

The bearer token is checked before routing (`security.ApiGate`). Every error is JSON naming the field,
``{"error": {"field": "attachments.0.url", "problem": "..."}}``, made in exactly one place per error
kind (the exception handlers at the bottom). The request bodies are read as plain JSON and validated by
`ReleaseInput.parse` with the newsroom's time zone, exactly as `release add` does; the OpenAPI document
still describes them, from the same pydantic model.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsroom_feed.errors import InputError, NewsroomError, NotFound, StoreError
from newsroom_feed.mail import outbox
from newsroom_feed.models import CORRECTION_NOTE_MAX, OutboxStatus, ReleaseInput, iso
from newsroom_feed.people import subscriber_csv, subscriptions
from newsroom_feed.store.database import Store
from newsroom_feed.web.state import WebState, state_of

ReleaseStatusFilter = Literal["published", "scheduled", "embargoed", "retracted"]
SubscriberStatusFilter = Literal["pending", "active", "unsubscribed", "bounced"]
OutboxStatusFilter = OutboxStatus
T = TypeVar("T")

_MAX_BODY = 1_000_000

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["field", "problem"],
            "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
        }
    },
}
_CORRECTION_SCHEMA = {
    "type": "object",
    "title": "Correction",
    "required": ["note"],
    "properties": {
        "note": {"type": "string", "minLength": 1, "maxLength": CORRECTION_NOTE_MAX},
        "changes": {"$ref": "#/components/schemas/ReleaseChanges"},
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for code, text in ((401, "No or wrong bearer token"), (404, "No such release"), (422, "Invalid input"))
}


def create_api(state: WebState) -> FastAPI:
    """The admin API as an app of its own, mounted at ``/api`` (so its OpenAPI is ``/api/openapi.json``)."""
    api = FastAPI(
        title="newsroom-feed admin API",
        version="1",
        description="Releases, subscribers and the outbox. Every call needs `Authorization: Bearer <token>`.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=_ERRORS,
    )
    api.state.web = state

    @api.get("/releases", tags=["releases"], summary="List releases, newest first")
    def list_releases(
        request: Request,
        status: ReleaseStatusFilter | None = None,
        category: str | None = Query(default=None, max_length=200),
        limit: int | None = Query(default=None, ge=1, le=10_000),
    ) -> list[dict[str, Any]]:
        web = state_of(request)
        now = web.clock()
        releases = _store(request).list_releases(now=now, status=status, category=category, limit=limit)
        return [release.to_document(now) for release in releases]

    @api.post(
        "/releases",
        tags=["releases"],
        status_code=201,
        summary="Add a release",
        openapi_extra=_body_schema("ReleaseInput"),
    )
    async def create_release(request: Request) -> JSONResponse:
        data = await _json_body(request)
        web = state_of(request)

        def work() -> dict[str, Any]:
            document = ReleaseInput.parse(data, web.settings.zone)
            now = web.clock()
            return _store(request).add_release(document, now).to_document(now)

        created = await _in_thread(work)
        return JSONResponse(created, status_code=201, headers={"location": f"/api/releases/{created['id']}"})

    @api.get("/releases/{ref}", tags=["releases"], summary="One release by id, slug, number or uid")
    def get_release(request: Request, ref: str) -> dict[str, Any]:
        now = state_of(request).clock()
        return _store(request).get_release(ref).to_document(now)

    @api.patch(
        "/releases/{ref}",
        tags=["releases"],
        summary="Change fields of a release (uid, number and slug stay)",
        openapi_extra=_body_schema("ReleaseChanges"),
    )
    async def update_release(request: Request, ref: str) -> dict[str, Any]:
        data = await _json_body(request)
        if not isinstance(data, dict):
            raise InputError("", "the changes must be a JSON object of release fields")
        _known_fields(data, "")
        web = state_of(request)

        def work() -> dict[str, Any]:
            now = web.clock()
            return _store(request).update_release(ref, data, now).to_document(now)

        return await _in_thread(work)

    @api.post("/releases/{ref}/retract", tags=["releases"], summary="Take a release out of every output")
    def retract_release(request: Request, ref: str) -> dict[str, Any]:
        now = state_of(request).clock()
        return _store(request).retract_release(ref, now).to_document(now)

    @api.post(
        "/releases/{ref}/corrections",
        tags=["releases"],
        status_code=201,
        summary="Correct a release: the changes and a note for readers, kept with its time",
        openapi_extra=_body_schema("Correction"),
    )
    async def correct_release(request: Request, ref: str) -> JSONResponse:
        note, changes = _correction(await _json_body(request))
        web = state_of(request)

        def work() -> dict[str, Any]:
            now = web.clock()
            try:
                corrected = _store(request).correct_release(ref, note, changes, now)
            except InputError as error:
                if error.field in ("note", "release", ""):
                    raise
                raise InputError(f"changes.{error.field}", error.problem) from None
            return corrected.to_document(now)

        corrected = await _in_thread(work)
        return JSONResponse(
            corrected, status_code=201, headers={"location": f"/api/releases/{corrected['id']}"}
        )

    @api.get("/subscribers", tags=["subscribers"], summary="Subscribers, whatever their status")
    def list_subscribers(
        request: Request, status: SubscriberStatusFilter | None = None
    ) -> list[dict[str, Any]]:
        rows = subscriptions.list_subscribers(_store(request), status=status)
        return [subscriptions.subscriber_document(subscriber) for subscriber in rows]

    @api.get(
        "/subscribers/export",
        tags=["subscribers"],
        summary="Subscribers as CSV (the `subscriber import` format)",
        response_class=Response,
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    def export_subscribers(request: Request, status: SubscriberStatusFilter | None = "active") -> Response:
        buffer = io.StringIO()
        subscriber_csv.export_subscribers(_store(request), buffer, status=status)
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="subscribers.csv"'},
        )

    @api.get("/outbox", tags=["outbox"], summary="Outbox counts by status and kind, and the newest rows")
    def outbox_status(
        request: Request,
        status: OutboxStatusFilter | None = None,
        limit: int = Query(default=50, ge=0, le=1000),
    ) -> dict[str, Any]:
        store = _store(request)
        rows = outbox.list_rows(store, statuses=(status,) if status else (), limit=limit)
        return {
            "counts": outbox.counts(store),
            "waiting": outbox.waiting(store),
            "next_due": iso(due) if (due := outbox.next_due(store)) else None,
            "items": [row.to_json() for row in rows],
        }

    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    _install_error_handlers(api)
    return api


# -- helpers -------------------------------------------------------------------------------------------


def _store(request: Request) -> Store:
    return state_of(request).stores.get()


async def _in_thread(work: Callable[[], T]) -> T:
    """Store work off the event loop: each worker thread has its own connection (`state.Stores`)."""
    return await run_in_threadpool(work)


async def _json_body(request: Request) -> Any:
    """The request body as JSON.

    :raises InputError: the body is not JSON (field ``body``).
    """
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise InputError("body", f"must be at most {_MAX_BODY} bytes")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError("body", f"is not valid JSON: {error}") from None


def _correction(data: Any) -> tuple[str, dict[str, Any]]:
    """The note and the changes of a correction request, ``{"note": ..., "changes": {...}}``.

    :raises InputError: not an object, an unknown field (``changes.<name>`` inside the changes), a note
        that is not a string; the note's own rules are the store's.
    """
    if not isinstance(data, dict):
        raise InputError("", 'a correction must be a JSON object: {"note": ..., "changes": {...}}')
    unknown = sorted(set(data) - {"note", "changes"})
    if unknown:
        raise InputError(unknown[0], "is not a field of a correction (note, changes)")
    note, changes = data.get("note"), data.get("changes")
    changes = {} if changes is None else changes  # a note alone corrects; [] or "" is no object
    if not isinstance(note, str):
        raise InputError("note", "is required: a string that says what was corrected")
    if not isinstance(changes, dict):
        raise InputError("changes", "must be a JSON object of release fields")
    _known_fields(changes, "changes.")
    return note, changes


def _known_fields(changes: dict[str, Any], prefix: str) -> None:
    """:raises InputError: ``<prefix><name>`` of the first field a release does not have."""
    unknown = sorted(set(changes) - set(ReleaseInput.model_fields))
    if unknown:
        raise InputError(f"{prefix}{unknown[0]}", "is not a field of this document")


def _body_schema(name: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


def _openapi(api: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the release models (from `ReleaseInput`) and the error shape."""
    if api.openapi_schema:
        return api.openapi_schema
    document = get_openapi(
        title=api.title,
        version=api.version,
        description=api.description,
        routes=api.routes,
        servers=[{"url": "/api"}],
    )
    schema = ReleaseInput.model_json_schema(ref_template="#/components/schemas/{model}")
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.update(schema.pop("$defs", {}))
    components["ReleaseInput"] = schema
    changes = copy.deepcopy(schema)
    changes.pop("required", None)
    changes["title"] = "ReleaseChanges"
    components["ReleaseChanges"] = changes
    components["Correction"] = _CORRECTION_SCHEMA
    components["Error"] = _ERROR_SCHEMA
    document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    document["security"] = [{"bearer": []}]
    api.openapi_schema = document
    return document


def _error(status: int, field: str, problem: str) -> JSONResponse:
    return JSONResponse({"error": {"field": field, "problem": problem}}, status_code=status)


def _install_error_handlers(api: FastAPI) -> None:
    """Every error of the API becomes ``{"error": {"field", "problem"}}`` here, and nowhere else."""

    async def input_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, InputError)
        return _error(422, error.field or "body", error.problem)

    async def not_found(request: Request, error: Exception) -> Response:
        return _error(404, "ref", str(error))

    async def store_error(request: Request, error: Exception) -> Response:
        return _error(503, "database", str(error))

    async def newsroom_error(request: Request, error: Exception) -> Response:
        return _error(409, "", str(error))

    async def validation_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "is invalid"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        problem = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
        return _error(422, where, problem)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        headers = dict(error.headers) if error.headers else None
        response = _error(error.status_code, "", str(error.detail))
        if headers:
            response.headers.update(headers)
        return response

    api.add_exception_handler(InputError, input_error)
    api.add_exception_handler(NotFound, not_found)
    api.add_exception_handler(StoreError, store_error)
    api.add_exception_handler(NewsroomError, newsroom_error)
    api.add_exception_handler(RequestValidationError, validation_error)
    api.add_exception_handler(StarletteHTTPException, http_error)
