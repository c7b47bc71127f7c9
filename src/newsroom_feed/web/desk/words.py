# ruff: noqa: E501  (sentences read better whole than cut at 110 columns)
"""The words of the desk, Polish first, English second; each area of the desk adds its own.

`words(lang)` merges the areas' dictionaries once. A word one language has and the other lacks is a
test failure (tests/web/desk), and templates render with StrictUndefined, so it is never a blank.
"""

from __future__ import annotations

import functools
from typing import Final

#: Words every desk page uses: the frame, sign-in, the account page, messages.
COMMON: Final[dict[str, dict[str, str]]] = {
    "pl": {
        "desk": "Biuro prasowe",
        "skip": "Przejdź do treści",
        "nav_label": "Menu biura prasowego",
        "nav_home": "Start",
        "nav_releases": "Komunikaty",
        "nav_subscribers": "Subskrybenci",
        "nav_outbox": "Wysyłka",
        "nav_health": "Stan usługi",
        "nav_users": "Użytkownicy",
        "nav_account": "Moje konto",
        "sign_out": "Wyloguj",
        "other_language": "English",
        "signed_in_as": "Zalogowano jako",
        "role_editor": "redaktor",
        "role_admin": "administrator",
        "errors_title": "Popraw zaznaczone pola",
        "required": "(wymagane)",
        "optional": "(nieobowiązkowe)",
        "save": "Zapisz",
        "cancel": "Anuluj",
        "back": "Wróć",
        "yes": "tak",
        "no": "nie",
        "none": "brak",
        "login_title": "Logowanie do biura prasowego",
        "login_lead": "Zaloguj się adresem e-mail i hasłem, które ustawił Ci administrator.",
        "email": "Adres e-mail",
        "password": "Hasło",
        "password_hint": "Co najmniej 12 znaków.",
        "sign_in": "Zaloguj",
        "bad_login": "Nieprawidłowy adres e-mail lub hasło.",
        "login_locked": (
            "Zbyt wiele nieudanych prób logowania. Spróbuj ponownie za {minutes} min "
            "albo poproś administratora o nowe hasło."
        ),
        "code_title": "Kod jednorazowy",
        "code_lead": "Wpisz 6-cyfrowy kod z aplikacji uwierzytelniającej albo jeden z kodów zapasowych.",
        "code": "Kod",
        "code_hint": "6 cyfr z aplikacji albo 10 cyfr kodu zapasowego.",
        "bad_code": "Ten kod nie pasuje albo został już użyty.",
        "verify": "Potwierdź",
        "signed_out": "Wylogowano. Do zobaczenia!",
        "session_ended": "Sesja wygasła albo nie jesteś zalogowany. Zaloguj się, aby kontynuować.",
        "forbidden_title": "Brak dostępu",
        "forbidden_text": "Ta strona jest tylko dla administratorów. Jeśli jej potrzebujesz, poproś administratora.",
        "not_found_title": "Nie ma takiej strony",
        "not_found_text": "Nie znaleźliśmy tego, czego szukasz. Może zostało usunięte.",
        "csrf_title": "Formularz wygasł",
        "csrf_text": "Ze względów bezpieczeństwa formularz trzeba wysłać jeszcze raz. Wróć i spróbuj ponownie.",
        "rate_title": "Za dużo prób",
        "rate_text": "Wysłano zbyt wiele formularzy w krótkim czasie. Odczekaj chwilę i spróbuj ponownie.",
        "setup_title": "Ustaw hasło",
        "setup_lead": "Ustaw hasło do biura prasowego dla konta {email}.",
        "setup_invalid": "Ten link nie jest już ważny (wygasa po 24 godzinach i działa raz). Poproś administratora o nowy.",
        "new_password": "Nowe hasło",
        "repeat_password": "Powtórz hasło",
        "passwords_differ": "Hasła się różnią.",
        "password_set": "Hasło ustawione. Możesz się zalogować.",
        "account_title": "Moje konto",
        "current_password": "Obecne hasło",
        "wrong_password": "To nie jest Twoje obecne hasło.",
        "change_password": "Zmień hasło",
        "password_changed": "Hasło zmienione. Pozostałe sesje zostały zakończone.",
        "totp_heading": "Kody jednorazowe (logowanie dwuetapowe)",
        "totp_on": "Logowanie dwuetapowe jest włączone. Pozostało kodów zapasowych: {left}.",
        "totp_off": "Logowanie dwuetapowe jest wyłączone.",
        "totp_setup_lead": (
            "Dodaj konto w aplikacji uwierzytelniającej (np. FreeOTP, Aegis, Google Authenticator), "
            "wpisując ten klucz, a potem wpisz kod, który pokaże aplikacja."
        ),
        "totp_key": "Klucz",
        "totp_uri": "Adres do aplikacji",
        "totp_enable": "Włącz logowanie dwuetapowe",
        "totp_disable": "Wyłącz logowanie dwuetapowe",
        "totp_enabled": "Włączono logowanie dwuetapowe. Zapisz kody zapasowe w bezpiecznym miejscu: każdy działa raz i nie pokażemy ich ponownie.",
        "totp_disabled": "Wyłączono logowanie dwuetapowe.",
        "recovery_codes": "Kody zapasowe",
        "home_title": "Biuro prasowe",
        "home_lead": "Pisz, planuj i śledź komunikaty prasowe.",
        "audit_heading": "Historia zmian",
        "audit_when": "Kiedy",
        "audit_who": "Kto",
        "audit_what": "Co",
        "audit_field": "Pole",
        "audit_old": "Było",
        "audit_new": "Jest",
        "audit_empty": "Brak zapisanych zmian.",
        "page_of": "Strona {page} z {pages}",
        "previous_page": "Poprzednia strona",
        "next_page": "Następna strona",
        "pagination": "Strony wyników",
    },
    "en": {
        "desk": "Newsroom desk",
        "skip": "Skip to content",
        "nav_label": "Desk menu",
        "nav_home": "Home",
        "nav_releases": "Releases",
        "nav_subscribers": "Subscribers",
        "nav_outbox": "Outbox",
        "nav_health": "Service health",
        "nav_users": "Users",
        "nav_account": "My account",
        "sign_out": "Sign out",
        "other_language": "Polski",
        "signed_in_as": "Signed in as",
        "role_editor": "editor",
        "role_admin": "admin",
        "errors_title": "Correct the marked fields",
        "required": "(required)",
        "optional": "(optional)",
        "save": "Save",
        "cancel": "Cancel",
        "back": "Back",
        "yes": "yes",
        "no": "no",
        "none": "none",
        "login_title": "Sign in to the newsroom desk",
        "login_lead": "Sign in with the e-mail address and password an admin set up for you.",
        "email": "E-mail address",
        "password": "Password",
        "password_hint": "At least 12 characters.",
        "sign_in": "Sign in",
        "bad_login": "Wrong e-mail address or password.",
        "login_locked": (
            "Too many failed sign-ins. Try again in {minutes} min or ask an admin for a new password."
        ),
        "code_title": "One-time code",
        "code_lead": "Enter the 6-digit code from your authenticator app, or one of your recovery codes.",
        "code": "Code",
        "code_hint": "6 digits from the app, or a 10-digit recovery code.",
        "bad_code": "This code does not match or was already used.",
        "verify": "Verify",
        "signed_out": "You are signed out. See you!",
        "session_ended": "Your session ended or you are not signed in. Sign in to go on.",
        "forbidden_title": "No access",
        "forbidden_text": "This page is for admins only. Ask an admin if you need it.",
        "not_found_title": "No such page",
        "not_found_text": "We could not find what you are looking for. It may have been removed.",
        "csrf_title": "The form expired",
        "csrf_text": "For your security the form must be sent again. Go back and try once more.",
        "rate_title": "Too many attempts",
        "rate_text": "Too many forms were sent in a short time. Wait a moment and try again.",
        "setup_title": "Set your password",
        "setup_lead": "Set the newsroom desk password of {email}.",
        "setup_invalid": "This link is no longer valid (it expires after 24 hours and works once). Ask an admin for a new one.",
        "new_password": "New password",
        "repeat_password": "Repeat the password",
        "passwords_differ": "The passwords differ.",
        "password_set": "Your password is set. You can sign in now.",
        "account_title": "My account",
        "current_password": "Current password",
        "wrong_password": "This is not your current password.",
        "change_password": "Change password",
        "password_changed": "Password changed. Your other sessions were ended.",
        "totp_heading": "One-time codes (two-step sign-in)",
        "totp_on": "Two-step sign-in is on. Recovery codes left: {left}.",
        "totp_off": "Two-step sign-in is off.",
        "totp_setup_lead": (
            "Add an account in your authenticator app (FreeOTP, Aegis, Google Authenticator, ...) by typing "
            "this key, then enter the code the app shows."
        ),
        "totp_key": "Key",
        "totp_uri": "Address for the app",
        "totp_enable": "Turn two-step sign-in on",
        "totp_disable": "Turn two-step sign-in off",
        "totp_enabled": "Two-step sign-in is on. Keep the recovery codes somewhere safe: each works once and we will not show them again.",
        "totp_disabled": "Two-step sign-in is off.",
        "recovery_codes": "Recovery codes",
        "home_title": "Newsroom desk",
        "home_lead": "Write, schedule and follow press releases.",
        "audit_heading": "Change history",
        "audit_when": "When",
        "audit_who": "Who",
        "audit_what": "What",
        "audit_field": "Field",
        "audit_old": "Was",
        "audit_new": "Is",
        "audit_empty": "No changes recorded.",
        "page_of": "Page {page} of {pages}",
        "previous_page": "Previous page",
        "next_page": "Next page",
        "pagination": "Result pages",
    },
}

#: The areas' dictionaries, in the order they are merged (a later area must not reuse an earlier key).
_AREAS: list[dict[str, dict[str, str]]] = [COMMON]


def register(area: dict[str, dict[str, str]]) -> None:
    """Add an area's words (called at import by each desk module)."""
    _AREAS.append(area)
    words.cache_clear()


@functools.cache
def words(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for area in _AREAS:
        merged.update(area.get(lang, area["pl"]))
    return merged


def areas() -> list[dict[str, dict[str, str]]]:
    return list(_AREAS)
