# ruff: noqa: E501  (sentences read better whole than cut at 110 columns)
"""What happened to a release after it went out: its alerts by status with the reasons of failures and
every SMTP attempt, the recipients marked bounced, the digests that carried it, the WebSub pings that
announced it; and the one thing to do about it from there, re-queue its failed alerts.

Editors may retry: it is their release. The retry is the ledger's own (`outbox retry --failed`) for
just these rows, and is written to the audit log (subject ``outbox``, the release's id).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from newsroom_feed.errors import ReleaseNotFound
from newsroom_feed.mail.kinds import ALERT
from newsroom_feed.models import Release, iso
from newsroom_feed.people.users import DeskUser
from newsroom_feed.store import audit, early_access, history
from newsroom_feed.web.desk import words
from newsroom_feed.web.desk.core import (
    Paging,
    actor,
    checked_form,
    editor,
    lang_of,
    message,
    now_of,
    render,
    see_other,
    store_of,
)

router = APIRouter()

#: Alert rows per page of the history.
PER_PAGE = 50

WORDS = {
    "pl": {
        "hist_title": "Historia: {title}",
        "hist_lead": "Co się stało z komunikatem po publikacji: powiadomienia, zestawienia i powiadomienia WebSub.",
        "hist_back": "Wróć do komunikatu",
        "hist_preview": "Podgląd",
        "hist_alerts": "Powiadomienia e-mail",
        "hist_alerts_none": "Nie zaplanowano żadnych powiadomień o tym komunikacie.",
        "hist_counts": "Powiadomienia według stanu",
        "hist_status": "Stan",
        "hist_rows": "Liczba",
        "hist_bounced": "Odbiorców oznaczonych jako odrzucający pocztę (bounced): {count}.",
        "hist_reports": "Zwroty i skargi ze skrzynki zwrotów",
        "hist_report_when": "Kiedy",
        "hist_report_kind": "Rodzaj",
        "hist_report_recipient": "Odbiorca",
        "hist_report_reason": "Powód",
        "hist_filter": "Pokaż",
        "hist_filter_all": "wszystkie",
        "hist_show": "Pokaż",
        "hist_recipient": "Odbiorca",
        "hist_attempts": "Próby",
        "hist_reason": "Powód",
        "hist_sent_at": "Wysłano",
        "hist_deliveries": "Odpowiedzi serwera",
        "hist_erased": "[usunięty]",
        "hist_subscriber_bounced": "odrzuca pocztę",
        "hist_retry_heading": "Ponów nieudane",
        "hist_retry_lead": "Nieudanych powiadomień: {count}. Ponowienie wstawia je znów do kolejki wysyłki (np. gdy przyczyna po stronie serwera została usunięta).",
        "hist_retry": "Ponów nieudane powiadomienia",
        "hist_retried": "Ponownie zakolejkowano powiadomień: {count}.",
        "hist_digests": "Zestawienia",
        "hist_digests_none": "Komunikat nie trafił (jeszcze) do żadnego zestawienia.",
        "hist_digest": "Zestawienie",
        "hist_pings": "Powiadomienia WebSub",
        "hist_pings_none": "Brak zapisanych powiadomień WebSub o tym komunikacie.",
        "hist_at": "Kiedy",
        "hist_hub": "Hub",
        "hist_feed": "Kanał",
        "hist_result": "Wynik",
        "hist_ok": "przyjęte",
        "hist_failed_ping": "nieudane",
        "hist_status_pending": "w kolejce",
        "hist_status_sending": "wysyłane",
        "hist_status_sent": "wysłane",
        "hist_status_failed": "nieudane",
        "hist_status_withdrawn": "wycofane",
        "hist_early": "Kto miał go przed końcem embarga",
        "hist_early_none": "Nikt nie dostał tego komunikatu przed końcem embarga.",
        "hist_early_who": "Subskrybent",
        "hist_early_channel": "Kanał",
        "hist_early_mail": "e-mail",
        "hist_early_feed": "kanał osobisty",
    },
    "en": {
        "hist_title": "History: {title}",
        "hist_lead": "What happened to the release after it went out: alerts, digests and WebSub pings.",
        "hist_back": "Back to the release",
        "hist_preview": "Preview",
        "hist_alerts": "E-mail alerts",
        "hist_alerts_none": "No alerts were planned for this release.",
        "hist_counts": "Alerts by status",
        "hist_status": "Status",
        "hist_rows": "Count",
        "hist_bounced": "Recipients marked bounced: {count}.",
        "hist_reports": "Bounces and complaints from the bounce mailbox",
        "hist_report_when": "When",
        "hist_report_kind": "Kind",
        "hist_report_recipient": "Recipient",
        "hist_report_reason": "Reason",
        "hist_filter": "Show",
        "hist_filter_all": "all",
        "hist_show": "Show",
        "hist_recipient": "Recipient",
        "hist_attempts": "Attempts",
        "hist_reason": "Reason",
        "hist_sent_at": "Sent",
        "hist_deliveries": "Server replies",
        "hist_erased": "[erased]",
        "hist_subscriber_bounced": "bounced",
        "hist_retry_heading": "Retry the failed ones",
        "hist_retry_lead": "Failed alerts: {count}. Retrying puts them back in the sending queue (once the cause, say on the server's side, is gone).",
        "hist_retry": "Retry the failed alerts",
        "hist_retried": "Alerts queued again: {count}.",
        "hist_digests": "Digests",
        "hist_digests_none": "No digest has carried this release (yet).",
        "hist_digest": "Digest",
        "hist_pings": "WebSub pings",
        "hist_pings_none": "No WebSub pings recorded for this release.",
        "hist_at": "When",
        "hist_hub": "Hub",
        "hist_feed": "Feed",
        "hist_result": "Result",
        "hist_ok": "accepted",
        "hist_failed_ping": "failed",
        "hist_status_pending": "queued",
        "hist_status_sending": "sending",
        "hist_status_sent": "sent",
        "hist_status_failed": "failed",
        "hist_status_withdrawn": "withdrawn",
        "hist_early": "Who had it before the lift",
        "hist_early_none": "Nobody had this release before its embargo lifted.",
        "hist_early_who": "Subscriber",
        "hist_early_channel": "Channel",
        "hist_early_mail": "e-mail",
        "hist_early_feed": "personal feed",
    },
}
words.register(WORDS)


def _release(request: Request, release_id: int) -> Release | None:
    try:
        return store_of(request).get_release(release_id)
    except ReleaseNotFound:
        return None


@router.get("/releases/{release_id:int}/history")
def release_history(
    request: Request, release_id: int, user: Annotated[DeskUser, Depends(editor)]
) -> Response:
    release = _release(request, release_id)
    if release is None:
        return message(request, user, "not_found_title", "not_found_text", 404)
    store = store_of(request)
    key = ALERT.key(release.uid)
    counts = history.alert_counts(store, key)
    shown = request.query_params.get("status", "")
    statuses = (shown,) if shown in history.STATUSES else ()
    total = counts[shown] if statuses else sum(counts.values())
    paging = Paging.of(request, total, PER_PAGE)
    rows = history.alert_rows(store, key, statuses, limit=PER_PAGE, offset=paging.offset)
    try:
        retried = int(request.query_params.get("retried", ""))
    except ValueError:
        retried = None
    t = words.words(lang_of(request))
    return render(
        request,
        "history.html",
        user,
        title=t["hist_title"].format(title=release.title),
        release=release,
        statuses=history.STATUSES,
        counts=counts,
        total=sum(counts.values()),
        bounced=history.bounced_count(store, key),
        reports=history.bounce_reports(store, key),
        shown=shown if statuses else "",
        rows=rows,
        attempts=history.attempts_of(store, [row.id for row in rows]),
        paging=paging,
        pager_base=f"/desk/releases/{release.id}/history?" + (f"status={shown}&" if statuses else ""),
        digests=history.digests_with(store, release.id),
        pings=history.pings_about(store, release.id),
        early_reads=early_access.reads_of(store, release.id),
        retried=retried,
        history=audit.entries(store, "outbox", release.id),
    )


@router.post("/releases/{release_id:int}/history/retry")
async def retry_failed(
    request: Request, release_id: int, user: Annotated[DeskUser, Depends(editor)]
) -> Response:
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    release = _release(request, release_id)
    if release is None:
        return message(request, user, "not_found_title", "not_found_text", 404)
    store = store_of(request)
    now = now_of(request)
    with store.transaction():
        ids = history.requeue_failed(store, ALERT.key(release.uid), iso(now))
        if ids:
            changes = {"status": ("failed", "pending"), "outbox_ids": (None, ids)}
            audit.record(store, actor(user), "outbox", release.id, "retry", changes, now)
    return see_other(f"/desk/releases/{release.id}/history?retried={len(ids)}")
