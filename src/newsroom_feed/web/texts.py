"""The words of the subscriber pages, in Polish and English; the consent text is stored as shown here.

Kept as data rather than spread over templates so that the text a subscriber agreed to and the text the
store records are the same string, and so a missing translation is a test failure (templates render with
StrictUndefined), not a blank on the page.
"""

from __future__ import annotations

from typing import Final

TEXTS: Final[dict[str, dict[str, str]]] = {
    "pl": {
        "skip": "Przejdź do treści",
        "subscribe_title": "Powiadomienia e-mail o informacjach prasowych",
        "subscribe_lead": (
            "Zapisz się, aby dostawać nowe informacje prasowe e-mailem: od razu albo w codziennym lub "
            "cotygodniowym zestawieniu. Wyślemy wiadomość z linkiem potwierdzającym."
        ),
        "other_language": "English",
        "email": "Adres e-mail",
        "email_hint": "Na ten adres wyślemy link potwierdzający.",
        "name": "Imię i nazwisko",
        "optional": "(nieobowiązkowe)",
        "kind": "Kim jesteś?",
        "kind_journalist": "Dziennikarz lub dziennikarka",
        "kind_city": "Pracownik urzędu miasta",
        "kind_other": "Inna osoba",
        "organization": "Redakcja lub instytucja",
        "categories": "Kategorie",
        "categories_hint": "Bez zaznaczenia dostaniesz wszystkie informacje prasowe.",
        "frequency": "Jak często?",
        "frequency_immediate": "Od razu po publikacji",
        "frequency_daily": "Codzienne zestawienie",
        "frequency_weekly": "Cotygodniowe zestawienie",
        "language": "Język wiadomości",
        "language_pl": "polski",
        "language_en": "angielski",
        "consent": (
            "Zgadzam się na otrzymywanie informacji prasowych e-mailem i na przetwarzanie mojego adresu "
            "oraz podanych danych wyłącznie w tym celu. Mogę wypisać się w każdej chwili linkiem z każdej "
            "wiadomości."
        ),
        "honeypot": "Nie wypełniaj tego pola",
        "subscribe_button": "Zapisz się",
        "errors_title": "Popraw zaznaczone pola:",
        "error_email": "Podaj poprawny adres e-mail, np. jan.kowalski@example.pl.",
        "error_consent": "Zaznacz zgodę, bez niej nie możemy wysyłać wiadomości.",
        "error_choice": "Wybierz jedną z podanych możliwości.",
        "error_too_long": "Ten tekst jest za długi.",
        "sent_title": "Sprawdź skrzynkę",
        "sent_text": (
            "Jeśli adres jest poprawny, za chwilę przyjdzie na niego wiadomość z linkiem potwierdzającym. "
            "Subskrypcja zacznie działać po kliknięciu linku. Nie widzisz wiadomości? Zajrzyj do spamu."
        ),
        "confirm_title": "Potwierdź subskrypcję",
        "confirm_text": (
            "Kliknij przycisk, aby potwierdzić, że chcesz dostawać informacje prasowe e-mailem na ten "
            "adres. Bez potwierdzenia nie wyślemy żadnej wiadomości."
        ),
        "confirm_button": "Potwierdzam subskrypcję",
        "confirmed_title": "Subskrypcja potwierdzona",
        "confirmed_text": "Dziękujemy. Od teraz będziesz dostawać informacje prasowe e-mailem.",
        "confirmed_journalist_text": (
            "Dziękujemy. Od teraz będziesz dostawać informacje prasowe e-mailem. Twoje zgłoszenie "
            "dziennikarskie czeka na weryfikację przez biuro prasowe."
        ),
        "preferences_link": "Zmień ustawienia subskrypcji",
        "invalid_title": "Link jest nieważny",
        "invalid_text": (
            "Ten link wygasł albo jest niepełny. Skopiuj go z wiadomości w całości albo zapisz się ponownie."
        ),
        "subscribe_again": "Zapisz się ponownie",
        "unsubscribe_title": "Wypisz się z powiadomień",
        "unsubscribe_text": "Po kliknięciu przycisku nie wyślemy już na ten adres żadnej wiadomości.",
        "unsubscribe_button": "Wypisz mnie",
        "unsubscribed_title": "Wypisano",
        "unsubscribed_text": (
            "Nie będziesz już dostawać od nas wiadomości. Dziękujemy za dotychczasową uwagę."
        ),
        "preferences_title": "Ustawienia subskrypcji",
        "preferences_for": "Adres:",
        "save_button": "Zapisz ustawienia",
        "saved": "Zapisano ustawienia.",
        "personal_feed_title": "Twój kanał RSS",
        "personal_feed_text": (
            "Te same informacje prasowe co w Twoich wiadomościach, w czytniku kanałów. Adres jest tylko "
            "dla Ciebie: nie udostępniaj go."
        ),
        "personal_feed_new_text": "Jeśli adres trafił do innych osób, utwórz nowy: stary przestanie działać.",
        "personal_feed_new_button": "Nowy adres kanału",
        "personal_feed_replaced": "Utworzono nowy adres kanału. Poprzedni już nie działa.",
        "erase_title": "Usuń moje dane",
        "erase_text": (
            "Usuniemy Twój adres, imię, instytucję i historię zgody. W rejestrze wysyłek zostanie tylko "
            "informacja, że wiadomość była wysłana, bez adresu. Tego nie da się cofnąć."
        ),
        "erase_confirm": "Rozumiem, że subskrypcja i moje dane zostaną usunięte.",
        "erase_button": "Usuń moje dane",
        "erased_title": "Dane usunięte",
        "erased_text": "Usunęliśmy Twoje dane. Nie dostaniesz od nas już żadnej wiadomości.",
        "error_erase_confirm": "Zaznacz, że rozumiesz skutki usunięcia danych.",
        "csrf_title": "Formularz wygasł",
        "csrf_text": (
            "Ze względów bezpieczeństwa formularz trzeba wysłać ponownie. Wróć i spróbuj jeszcze raz."
        ),
        "rate_title": "Zbyt wiele prób",
        "rate_text": "Z tego adresu wysłano ostatnio zbyt wiele formularzy. Spróbuj ponownie za chwilę.",
        "busy_title": "Chwilowo nie przyjmujemy zapisów",
        "busy_text": (
            "W ciągu ostatniej godziny zapisało się bardzo wiele nowych adresów, więc wstrzymaliśmy "
            "wysyłanie wiadomości potwierdzających. Nic nie zostało zapisane ani wysłane. Spróbuj ponownie "
            "za godzinę."
        ),
        "back": "Wróć do formularza",
        "home": "Strona główna",
    },
    "en": {
        "skip": "Skip to content",
        "subscribe_title": "Press release alerts by e-mail",
        "subscribe_lead": (
            "Sign up to receive new press releases by e-mail: as soon as they are published, or in a daily "
            "or weekly digest. We will send you a message with a confirmation link."
        ),
        "other_language": "Polski",
        "email": "E-mail address",
        "email_hint": "We will send the confirmation link to this address.",
        "name": "Name",
        "optional": "(optional)",
        "kind": "Who are you?",
        "kind_journalist": "Journalist",
        "kind_city": "City hall staff",
        "kind_other": "Someone else",
        "organization": "Newsroom or institution",
        "categories": "Categories",
        "categories_hint": "Choose none to receive every press release.",
        "frequency": "How often?",
        "frequency_immediate": "As soon as published",
        "frequency_daily": "Daily digest",
        "frequency_weekly": "Weekly digest",
        "language": "Language of the messages",
        "language_pl": "Polish",
        "language_en": "English",
        "consent": (
            "I agree to receive press releases by e-mail and to the processing of my address and the data "
            "given here for that purpose only. I can unsubscribe at any time with the link in every message."
        ),
        "honeypot": "Leave this field empty",
        "subscribe_button": "Subscribe",
        "errors_title": "Please correct the marked fields:",
        "error_email": "Enter a valid e-mail address, e.g. jane.doe@example.com.",
        "error_consent": "Please tick the consent box; without it we cannot send you messages.",
        "error_choice": "Choose one of the options given.",
        "error_too_long": "This text is too long.",
        "sent_title": "Check your inbox",
        "sent_text": (
            "If the address is valid, a message with a confirmation link is on its way. Your subscription "
            "starts when you follow the link. No message? Check your spam folder."
        ),
        "confirm_title": "Confirm your subscription",
        "confirm_text": (
            "Press the button to confirm that you want to receive press releases by e-mail at this "
            "address. Without confirmation we send no messages."
        ),
        "confirm_button": "Confirm my subscription",
        "confirmed_title": "Subscription confirmed",
        "confirmed_text": "Thank you. From now on you will receive press releases by e-mail.",
        "confirmed_journalist_text": (
            "Thank you. From now on you will receive press releases by e-mail. Your journalist "
            "application is awaiting verification by the press office."
        ),
        "preferences_link": "Change your subscription settings",
        "invalid_title": "This link is not valid",
        "invalid_text": (
            "The link has expired or is incomplete. Copy the whole link from the message, or sign up again."
        ),
        "subscribe_again": "Sign up again",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_text": "Once you press the button we will send no more messages to this address.",
        "unsubscribe_button": "Unsubscribe me",
        "unsubscribed_title": "Unsubscribed",
        "unsubscribed_text": "You will receive no more messages from us. Thank you for reading.",
        "preferences_title": "Subscription settings",
        "preferences_for": "Address:",
        "save_button": "Save settings",
        "saved": "Settings saved.",
        "personal_feed_title": "Your news feed",
        "personal_feed_text": (
            "The same press releases as in your e-mails, in a feed reader. The address is yours alone: "
            "do not share it."
        ),
        "personal_feed_new_text": (
            "If the address has reached others, make a new one: the old one stops working."
        ),
        "personal_feed_new_button": "New feed address",
        "personal_feed_replaced": "A new feed address was made. The previous one no longer works.",
        "erase_title": "Erase my data",
        "erase_text": (
            "We will erase your address, name, institution and consent record. The delivery ledger keeps "
            "only the fact that a message was sent, without the address. This cannot be undone."
        ),
        "erase_confirm": "I understand that my subscription and my data will be erased.",
        "erase_button": "Erase my data",
        "erased_title": "Data erased",
        "erased_text": "We have erased your data. You will receive no more messages from us.",
        "error_erase_confirm": "Tick the box to confirm you understand what erasing means.",
        "csrf_title": "The form has expired",
        "csrf_text": "For your security the form has to be sent again. Go back and try once more.",
        "rate_title": "Too many attempts",
        "rate_text": "Too many forms were sent from this address recently. Please try again in a while.",
        "busy_title": "Sign-ups are paused for now",
        "busy_text": (
            "A great many new addresses signed up in the last hour, so we have paused sending "
            "confirmation messages. Nothing was stored or sent. Please try again in an hour."
        ),
        "back": "Back to the form",
        "home": "Home page",
    },
}


def texts(language: str) -> dict[str, str]:
    """The words for ``language``, Polish for anything not translated."""
    return TEXTS.get(language, TEXTS["pl"])


def consent_text(language: str) -> str:
    """The exact consent sentence shown beside the checkbox, which the store records."""
    return texts(language)["consent"]
