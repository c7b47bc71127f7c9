# ruff: noqa: E501  (sentences read better whole than cut at 110 columns)
"""Journalists for admins: the applicants and verified journalists, verify / refuse / revoke, and revoking
everyone at one outlet after a breach (with a confirmation step).

The rules and the audit are `people.journalists`'s (each change audited with subject ``subscriber`` and
put in the consent history); a refusal of the rules (say, revoking someone not verified) is shown beside
that journalist's buttons.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from newsroom_feed.errors import InputError, NotFound
from newsroom_feed.people import journalists
from newsroom_feed.people.users import DeskUser
from newsroom_feed.web.desk import words as desk_words
from newsroom_feed.web.desk.core import (
    actor,
    admin,
    checked_form,
    lang_of,
    message,
    now_of,
    render,
    see_other,
    store_of,
    text,
)
from newsroom_feed.web.desk.words import words
from newsroom_feed.web.state import state_of

router = APIRouter()

WORDS = {
    "pl": {
        "jrn_nav": "Dziennikarze",
        "jrn_title": "Dziennikarze",
        "jrn_lead": "Dziennikarze zgłoszeni przez formularz /journalists/apply. Zweryfikowani dostają komunikaty objęte embargiem przed jego upływem, jeśli zaakceptowali aktualne warunki (wersja {version}).",
        "jrn_list": "Zgłoszenia i zweryfikowani",
        "jrn_empty": "Nikt się jeszcze nie zgłosił.",
        "jrn_person": "Dziennikarz",
        "jrn_outlet": "Redakcja",
        "jrn_work_url": "Publikacje",
        "jrn_press_card": "Legitymacja",
        "jrn_terms": "Warunki",
        "jrn_terms_none": "brak",
        "jrn_terms_old": "(nieaktualne)",
        "jrn_status": "Stan",
        "jrn_subscription_pending": "adres niepotwierdzony",
        "jrn_actions": "Działania",
        "jrn_v_applied": "czeka na weryfikację",
        "jrn_v_verified": "zweryfikowany",
        "jrn_v_refused": "odrzucony",
        "jrn_v_revoked": "dostęp odebrany",
        "jrn_verify": "Zweryfikuj",
        "jrn_refuse": "Odrzuć",
        "jrn_revoke": "Odbierz dostęp",
        "jrn_verify_who": "Zweryfikuj: {email}",
        "jrn_refuse_who": "Odrzuć: {email}",
        "jrn_revoke_who": "Odbierz dostęp: {email}",
        "jrn_filter": "Pokaż",
        "jrn_filter_all": "wszystkich",
        "jrn_filter_button": "Filtruj",
        "jrn_outlet_heading": "Odbierz dostęp całej redakcji",
        "jrn_outlet_hint": "Po złamaniu embarga: odbiera dostęp wszystkim zweryfikowanym dziennikarzom tej redakcji (wielkość liter bez znaczenia). Przed wykonaniem pokażemy, kogo to dotyczy.",
        "jrn_outlet_name": "Nazwa redakcji",
        "jrn_outlet_next": "Dalej",
        "jrn_outlet_confirm_title": "Odebrać dostęp redakcji?",
        "jrn_outlet_lead": "Dostęp stracą od razu ci zweryfikowani dziennikarze redakcji „{outlet}”:",
        "jrn_outlet_confirm": "Tak, odbierz dostęp wszystkim",
        "jrn_outlet_required": "Podaj nazwę redakcji.",
        "jrn_outlet_nobody": "W tej redakcji nie ma zweryfikowanych dziennikarzy.",
        "jrn_done_verify": "Zweryfikowano {email}.",
        "jrn_done_refuse": "Odrzucono zgłoszenie {email}.",
        "jrn_done_revoke": "Odebrano dostęp: {email}.",
        "jrn_done_outlet": "Odebrano dostęp dziennikarzom redakcji: {count}.",
        "jrn_not_found": "Nie ma takiego dziennikarza.",
    },
    "en": {
        "jrn_nav": "Journalists",
        "jrn_title": "Journalists",
        "jrn_lead": "Journalists who applied with the /journalists/apply form. Verified ones receive releases under embargo before it lifts, once they have accepted the current terms (version {version}).",
        "jrn_list": "Applications and verified journalists",
        "jrn_empty": "Nobody has applied yet.",
        "jrn_person": "Journalist",
        "jrn_outlet": "Outlet",
        "jrn_work_url": "Work",
        "jrn_press_card": "Press card",
        "jrn_terms": "Terms",
        "jrn_terms_none": "none",
        "jrn_terms_old": "(outdated)",
        "jrn_status": "Status",
        "jrn_subscription_pending": "address not confirmed",
        "jrn_actions": "Actions",
        "jrn_v_applied": "awaiting verification",
        "jrn_v_verified": "verified",
        "jrn_v_refused": "refused",
        "jrn_v_revoked": "revoked",
        "jrn_verify": "Verify",
        "jrn_refuse": "Refuse",
        "jrn_revoke": "Revoke",
        "jrn_verify_who": "Verify {email}",
        "jrn_refuse_who": "Refuse {email}",
        "jrn_revoke_who": "Revoke {email}",
        "jrn_filter": "Show",
        "jrn_filter_all": "everyone",
        "jrn_filter_button": "Filter",
        "jrn_outlet_heading": "Revoke a whole outlet",
        "jrn_outlet_hint": "After a breach: revokes every verified journalist of this outlet (case does not matter). You will see whom it covers before it is done.",
        "jrn_outlet_name": "Outlet name",
        "jrn_outlet_next": "Next",
        "jrn_outlet_confirm_title": "Revoke the outlet?",
        "jrn_outlet_lead": "These verified journalists of “{outlet}” lose their access at once:",
        "jrn_outlet_confirm": "Yes, revoke them all",
        "jrn_outlet_required": "Enter the outlet's name.",
        "jrn_outlet_nobody": "This outlet has no verified journalists.",
        "jrn_done_verify": "Verified {email}.",
        "jrn_done_refuse": "Refused the application of {email}.",
        "jrn_done_revoke": "Revoked {email}.",
        "jrn_done_outlet": "Journalists of the outlet revoked: {count}.",
        "jrn_not_found": "There is no such journalist.",
    },
}
desk_words.register(WORDS)

#: Which buttons a journalist of each verification gets (as `people.journalists` allows them).
ACTIONS = {
    "applied": ("verify", "refuse"),
    "verified": ("revoke",),
    "refused": ("verify",),
    "revoked": ("verify",),
}


def _list_page(
    request: Request, user: DeskUser, status: int = 200, *, errors: dict[str, str] | None = None,
    outlet: str = "",
) -> Response:  # fmt: skip
    t = words(lang_of(request))
    settings = state_of(request).settings
    store = store_of(request)
    shown = request.query_params.get("status")
    verification = shown if shown in journalists.VERIFICATIONS else None
    people = journalists.listing(store, verification)
    current = journalists.terms_version(settings)
    notice = ""
    done, email = request.query_params.get("done"), request.query_params.get("email", "")
    if done in ("verify", "refuse", "revoke"):
        notice = t[f"jrn_done_{done}"].format(email=email)
    elif done == "outlet":
        notice = t["jrn_done_outlet"].format(count=request.query_params.get("count", "0"))
    return render(
        request, "journalists.html", user, status, title=t["jrn_title"], people=people, actions=ACTIONS,
        current_terms=current, verifications=journalists.VERIFICATIONS, shown=verification or "",
        errors=errors or {}, outlet=outlet, notice=notice,
    )  # fmt: skip


@router.get("/journalists")
def journalist_list(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    return _list_page(request, user)


async def _act(request: Request, user: DeskUser, subscriber_id: int, action: str) -> Response:
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    store, now, who = store_of(request), now_of(request), actor(user)
    settings = state_of(request).settings
    try:
        if action == "verify":
            done = journalists.verify(store, settings, subscriber_id, now, who, source="desk")
        elif action == "refuse":
            done = journalists.refuse(store, subscriber_id, now, who, source="desk")
        else:
            done = journalists.revoke(store, subscriber_id, now, who, source="desk")
    except NotFound:
        return message(request, user, "not_found_title", "jrn_not_found", 404)
    except InputError as error:
        return _list_page(request, user, 400, errors={f"person-{subscriber_id}": error.problem})
    return see_other("/desk/journalists?" + urlencode({"done": action, "email": done.email}))


@router.post("/journalists/{subscriber_id:int}/verify")
async def verify(request: Request, subscriber_id: int, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    return await _act(request, user, subscriber_id, "verify")


@router.post("/journalists/{subscriber_id:int}/refuse")
async def refuse(request: Request, subscriber_id: int, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    return await _act(request, user, subscriber_id, "refuse")


@router.post("/journalists/{subscriber_id:int}/revoke")
async def revoke(request: Request, subscriber_id: int, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    return await _act(request, user, subscriber_id, "revoke")


# -- a whole outlet ----------------------------------------------------------------------------------


@router.get("/journalists/outlet")
def outlet_confirm(request: Request, user: Annotated[DeskUser, Depends(admin)], outlet: str = "") -> Response:
    """The confirmation step: whom revoking ``outlet`` covers, and the button that does it."""
    t = words(lang_of(request))
    outlet = outlet.strip()
    if not outlet:
        return _list_page(request, user, 400, errors={"outlet": t["jrn_outlet_required"]})
    found = journalists.at_outlet(store_of(request), outlet)
    if not found:
        return _list_page(request, user, 400, errors={"outlet": t["jrn_outlet_nobody"]}, outlet=outlet)
    return render(
        request,
        "journalist_outlet.html",
        user,
        title=t["jrn_outlet_confirm_title"],
        outlet=outlet,
        people=found,
    )


@router.post("/journalists/outlet")
async def outlet_revoke(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    t = words(lang_of(request))
    outlet = text(form, "outlet")
    if not outlet:
        return _list_page(request, user, 400, errors={"outlet": t["jrn_outlet_required"]})
    try:
        done = journalists.revoke_outlet(
            store_of(request), outlet, now_of(request), actor(user), source="desk"
        )
    except NotFound:
        return _list_page(request, user, 400, errors={"outlet": t["jrn_outlet_nobody"]}, outlet=outlet)
    return see_other(f"/desk/journalists?done=outlet&count={len(done)}")
