# ruff: noqa: E501  (sentences read better whole than cut at 110 columns)
"""The outbox for admins: the backlog by status and kind, failed messages with their reasons, messages
waiting for their next attempt, and "retry failed".

Retrying only re-queues, as `outbox retry --failed` does before it sends: the desk never sends mail
itself, the holder of the single-instance lock (the daemon) does, so a click can never make a second
sender.
"""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from newsroom_feed.mail import outbox
from newsroom_feed.models import OutboxStatus
from newsroom_feed.people.users import DeskUser
from newsroom_feed.store import audit
from newsroom_feed.store.database import stored_moment
from newsroom_feed.web.desk import words as desk_words
from newsroom_feed.web.desk.core import (
    actor,
    admin,
    checked_form,
    lang_of,
    now_of,
    render,
    see_other,
    store_of,
)
from newsroom_feed.web.desk.words import words

router = APIRouter()

#: Rows shown per table; the counts above them tell how many there are in all.
SHOWN = 100
STATUSES: tuple[str, ...] = get_args(OutboxStatus)

WORDS = {
    "pl": {
        "out_title": "Wysyłka",
        "out_counts": "Wiadomości według stanu i rodzaju",
        "out_kind": "Rodzaj",
        "out_state": "Stan",
        "out_total": "Razem",
        "out_empty": "Kolejka jest pusta.",
        "out_status_pending": "czeka",
        "out_status_sending": "w wysyłce",
        "out_status_sent": "wysłane",
        "out_status_failed": "nieudane",
        "out_status_withdrawn": "wycofane",
        "out_failed": "Nieudane wiadomości",
        "out_failed_none": "Brak nieudanych wiadomości.",
        "out_waiting": "Oczekujące wiadomości",
        "out_waiting_none": "Nic nie czeka na wysłanie.",
        "out_shown": "Pokazano najnowsze {shown} z {total}.",
        "out_key": "Wiadomość",
        "out_recipient": "Odbiorca",
        "out_erased": "(dane usunięte)",
        "out_attempts": "Próby",
        "out_next": "Następna próba",
        "out_reason": "Powód",
        "out_retry": "Ponów nieudane",
        "out_retry_hint": "Nieudane wiadomości wrócą do kolejki z nowym licznikiem prób, a oczekujące staną się pilne. Wyśle je działająca usługa.",
        "out_retried": "Ponownie w kolejce: {count}. Usługa wyśle je przy najbliższej okazji.",
    },
    "en": {
        "out_title": "Outbox",
        "out_counts": "Messages by status and kind",
        "out_kind": "Kind",
        "out_state": "Status",
        "out_total": "Total",
        "out_empty": "The outbox is empty.",
        "out_status_pending": "pending",
        "out_status_sending": "sending",
        "out_status_sent": "sent",
        "out_status_failed": "failed",
        "out_status_withdrawn": "withdrawn",
        "out_failed": "Failed messages",
        "out_failed_none": "No failed messages.",
        "out_waiting": "Waiting messages",
        "out_waiting_none": "Nothing is waiting to be sent.",
        "out_shown": "Showing the newest {shown} of {total}.",
        "out_key": "Message",
        "out_recipient": "Recipient",
        "out_erased": "(data erased)",
        "out_attempts": "Attempts",
        "out_next": "Next attempt",
        "out_reason": "Reason",
        "out_retry": "Retry failed",
        "out_retry_hint": "Failed messages go back to the queue with fresh attempts, and waiting ones become due now. The running service sends them.",
        "out_retried": "Queued again: {count}. The service sends them at its next chance.",
    },
}
desk_words.register(WORDS)


@router.get("/outbox")
def outbox_page(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    t = words(lang_of(request))
    store = store_of(request)
    counts = outbox.counts(store)
    kinds = sorted({kind for by_kind in counts.values() for kind in by_kind})
    totals = {status: sum(counts.get(status, {}).values()) for status in STATUSES}
    failed = outbox.list_rows(store, statuses=("failed",), limit=SHOWN)
    waiting = outbox.list_rows(store, statuses=("pending", "sending"), limit=SHOWN)
    retried = request.query_params.get("retried", "")
    return render(
        request, "outbox.html", user, title=t["out_title"], counts=counts, kinds=kinds, statuses=STATUSES,
        totals=totals, failed=failed, waiting=waiting, moment=stored_moment,
        retried=t["out_retried"].format(count=int(retried)) if retried.isdigit() else "",
    )  # fmt: skip


@router.post("/outbox/retry")
async def retry_failed(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    store, now = store_of(request), now_of(request)
    with store.transaction():
        count = outbox.retry(store, now, include_failed=True)
        audit.record(store, actor(user), "outbox", None, "retry failed", {"queued": (None, count)}, now)
    return see_other(f"/desk/outbox?retried={count}")
