"""The one exception tree of newsroom_feed.

    NewsroomError
    ├── SettingsError          a setting is missing or wrong (names it)
    ├── InputError (ValueError)  a release, subscriber or import row is invalid (names the field)
    │   └── ImportRowError       one row of an import file, with its line number
    ├── NotFound (LookupError)
    │   ├── ReleaseNotFound
    │   ├── SubscriberNotFound
    │   └── UserNotFound       no desk user with that address or id
    ├── NotYetVisible          a queued message's releases went back under embargo: send it later
    ├── UnknownMessageKind (LookupError)  an outbox row names a kind `mail.kinds.KINDS` does not hold
    ├── RateLimited            a limit for everyone is reached (new-address confirmations per hour)
    ├── StoreError             the database is unusable (locked, newer schema, corrupt)
    ├── LockedError            another process holds the single-instance lock
    └── DeliveryError          one SMTP transaction failed
        ├── TransientDeliveryError   4xx, disconnects, timeouts: retry later
        └── PermanentDeliveryError   5xx: this message will not go

The CLI turns these into exit codes (InputError and SettingsError: 2, others: 1) and the web app into
4xx answers, each in exactly one place.
"""

from __future__ import annotations

from datetime import datetime


class NewsroomError(Exception):
    """Base of every error the service raises on purpose."""


class SettingsError(NewsroomError):
    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


class InputError(NewsroomError, ValueError):
    """Bad input: ``field`` is a dotted path such as ``attachments.0.url``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


class ImportRowError(InputError):
    def __init__(self, line: int, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.line = line

    def __str__(self) -> str:
        where = f"line {self.line}"
        return f"{where}: {self.field}: {self.problem}" if self.field else f"{where}: {self.problem}"


class NotFound(NewsroomError, LookupError):
    pass


class ReleaseNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no release {ref!r} (give an id, a slug, a number such as 12/2026 or a uid)")
        self.ref = ref


class SubscriberNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no subscriber {ref!r}")
        self.ref = ref


class EmbargoLifted(NewsroomError):
    """An early copy (a release shared before its lift) that has not gone by the lift: its embargo
    banner would arrive after the embargo, so it never goes; the public alert or digest tells instead."""

    def __init__(self) -> None:
        super().__init__("embargo lifted before it went")


class NotYetVisible(NewsroomError):
    """Every release of a queued message is hidden again (its embargo was moved later): the message
    waits until ``until`` instead of going out early or being dropped."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"its releases are under embargo until {until.isoformat()}")
        self.until = until


class UnknownMessageKind(NewsroomError, LookupError):
    """A row's kind has no object in `mail.kinds.KINDS`: composing it as some other kind would send the
    wrong mail, so it is not composed at all."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"no message kind {kind!r}")
        self.kind = kind


class RateLimited(NewsroomError):
    """A limit shared by every client is reached; the web answers 429 with ``retry_after`` seconds."""

    def __init__(self, problem: str, retry_after: int) -> None:
        super().__init__(problem)
        self.retry_after = retry_after


class StoreError(NewsroomError):
    pass


class LockedError(NewsroomError):
    pass


class DeliveryError(NewsroomError):
    def __init__(self, code: int | None, reply: str, recipient: str = "") -> None:
        super().__init__(f"{code or 'no reply'} {reply}".strip())
        self.code = code
        self.reply = reply
        self.recipient = recipient


class TransientDeliveryError(DeliveryError):
    pass


class PermanentDeliveryError(DeliveryError):
    pass


class UserNotFound(NotFound):
    def __init__(self, ref: object) -> None:
        super().__init__(f"no desk user {ref}")
        self.ref = ref
