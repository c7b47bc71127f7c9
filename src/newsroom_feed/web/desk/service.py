"""The health page for admins: what ``/healthz`` tells an operator, as a page, and a little more.

The last build (when, and whether it failed, with ``build_state.last_error``), who holds the
single-instance lock (the daemon that sends: its process id on this machine, or none), the outbox backlog,
the schema version and the number of releases. Read-only: nothing here changes the service.
"""

from __future__ import annotations

import socket
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from newsroom_feed import lock
from newsroom_feed.mail import outbox
from newsroom_feed.people.users import DeskUser
from newsroom_feed.store import desk_service
from newsroom_feed.store.schema import MIGRATIONS
from newsroom_feed.web.desk import words as desk_words
from newsroom_feed.web.desk.core import admin, lang_of, render, store_of
from newsroom_feed.web.desk.words import words
from newsroom_feed.web.state import state_of

router = APIRouter()

WORDS = {
    "pl": {
        "hlt_title": "Stan usługi",
        "hlt_ok": "Wszystko działa.",
        "hlt_degraded": "Usługa działa, ale ostatnia budowa stron się nie powiodła.",
        "hlt_build": "Ostatnia budowa stron i kanałów",
        "hlt_built_at": "Kiedy",
        "hlt_never": "jeszcze nie było",
        "hlt_result": "Wynik",
        "hlt_result_ok": "udana",
        "hlt_result_failed": "nieudana",
        "hlt_last_error": "Ostatni błąd",
        "hlt_lock": "Usługa wysyłająca (blokada jednej instancji)",
        "hlt_holder": "Blokadę trzyma",
        "hlt_holder_pid": "proces {pid} na {host}",
        "hlt_holder_unknown": "nieznany proces na {host}",
        "hlt_holder_none": "nikt: usługa nie działa, wiadomości czekają w kolejce",
        "hlt_outbox": "Kolejka wiadomości",
        "hlt_backlog": "Do wysłania",
        "hlt_failed": "Nieudane",
        "hlt_store": "Baza danych",
        "hlt_schema": "Wersja schematu",
        "hlt_schema_value": "{version} z {latest}",
        "hlt_releases": "Komunikaty w bazie",
    },
    "en": {
        "hlt_title": "Service health",
        "hlt_ok": "All is well.",
        "hlt_degraded": "The service runs, but the last build of the pages failed.",
        "hlt_build": "Last build of the pages and feeds",
        "hlt_built_at": "When",
        "hlt_never": "none yet",
        "hlt_result": "Result",
        "hlt_result_ok": "succeeded",
        "hlt_result_failed": "failed",
        "hlt_last_error": "Last error",
        "hlt_lock": "Sending service (single-instance lock)",
        "hlt_holder": "Lock held by",
        "hlt_holder_pid": "process {pid} on {host}",
        "hlt_holder_unknown": "an unknown process on {host}",
        "hlt_holder_none": "nobody: the service is not running, messages wait in the queue",
        "hlt_outbox": "Message queue",
        "hlt_backlog": "To send",
        "hlt_failed": "Failed",
        "hlt_store": "Database",
        "hlt_schema": "Schema version",
        "hlt_schema_value": "{version} of {latest}",
        "hlt_releases": "Releases stored",
    },
}
desk_words.register(WORDS)


def _holder_text(t: dict[str, str], pid: int | None) -> str:
    """The lock is an OS file lock on this machine's disk: whoever holds it runs here."""
    host = socket.gethostname()
    if pid is None:
        return t["hlt_holder_none"]
    return (
        t["hlt_holder_pid"].format(pid=pid, host=host) if pid else t["hlt_holder_unknown"].format(host=host)
    )


@router.get("/health")
def health(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    t = words(lang_of(request))
    store = store_of(request)
    state = store.build_state()
    by_status = {status: sum(kinds.values()) for status, kinds in outbox.counts(store).items()}
    return render(
        request, "health.html", user, title=t["hlt_title"], state=state,
        holder=_holder_text(t, lock.held_by(state_of(request).settings.database)),
        backlog=by_status.get("pending", 0) + by_status.get("sending", 0), failed=by_status.get("failed", 0),
        schema=t["hlt_schema_value"].format(version=store.schema_version, latest=len(MIGRATIONS)),
        releases=desk_service.release_count(store),
    )  # fmt: skip
