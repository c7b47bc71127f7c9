"""Logging and progress: structlog events (human or JSON lines) and a progress bar only on a terminal.

`configure_logging` is called once at the edge: by the CLI for every command (`logging_configured`),
by the demo. Every module then logs with ``structlog.get_logger(__name__)``; standard-library loggers
(uvicorn, APScheduler, aiosmtpd) are routed through the same renderer, so one process writes one format.
The daemon logs one event per build (``build``), embargo lift (``lift``), digest run (``digest``) and
delivery outcome (``delivery``).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, Protocol, TextIO

import structlog
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

LogFormat = Literal["human", "json"]

#: Libraries that narrate every step at INFO (APScheduler: "Added job", "Running job"; flufl.bounce:
#: "Running detector" 17 times per report); the daemon logs the events that matter itself.
_CHATTY = ("apscheduler", "aiosmtpd", "mail.log", "httpx", "httpcore", "uvicorn.access", "flufl.bounce")


def configure_logging(
    log_format: LogFormat = "human", level: str = "info", *, stream: TextIO | None = None
) -> None:
    """Route structlog and the standard library to one renderer on ``stream`` (stderr by default).

    Human output is coloured only on a terminal; JSON output is one object per line, UTF-8 kept as is,
    with an ISO 8601 UTC ``timestamp``, ``level``, ``logger`` and ``event``.
    """
    stream = stream or sys.stderr
    numeric = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=_is_terminal(stream), exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error"):
        # uvicorn installs its own handlers unless told otherwise; ours are on the root.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


@contextmanager
def logging_configured(log_format: LogFormat = "human", level: str = "info") -> Iterator[None]:
    """`configure_logging` (to stderr) for the life of one CLI command, then what was there before.

    A process runs one command, so restoring matters only where commands run in-process (the tests, a
    script calling `cli.main` twice): the handler would otherwise outlive the command and write the next
    one's events to the stderr of the first, perhaps closed since.
    """
    names = ["", *_CHATTY, "uvicorn", "uvicorn.error"]
    saved = [
        (logger, list(logger.handlers), logger.level, logger.propagate)
        for logger in map(logging.getLogger, names)
    ]
    structlog_config = structlog.get_config() if structlog.is_configured() else None
    configure_logging(log_format, level)
    try:
        yield
    finally:
        for logger, handlers, numeric, propagate in saved:
            logger.handlers[:] = handlers
            logger.setLevel(numeric)
            logger.propagate = propagate
        if structlog_config is None:
            structlog.reset_defaults()
        else:
            structlog.configure(**structlog_config)


def _dumps(value: Any, **kwargs: Any) -> str:
    kwargs.setdefault("default", str)
    return json.dumps(value, ensure_ascii=False, **kwargs)


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


# -- progress -----------------------------------------------------------------------------------------


class Advance(Protocol):
    """What a long operation reports to: ``advance(n)`` after each step, or ``update`` with absolutes
    (for work whose size is learnt on the way, such as the pages of a backup)."""

    def advance(self, steps: int = 1) -> None: ...

    def update(self, *, completed: int | None = None, total: int | None = None) -> None: ...


class _Quiet:
    def advance(self, steps: int = 1) -> None:
        return None

    def update(self, *, completed: int | None = None, total: int | None = None) -> None:
        return None


class _Bar:
    def __init__(self, progress: Progress, task: Any) -> None:
        self._progress = progress
        self._task = task

    def advance(self, steps: int = 1) -> None:
        self._progress.advance(self._task, steps)

    def update(self, *, completed: int | None = None, total: int | None = None) -> None:
        self._progress.update(self._task, completed=completed, total=total)


@contextmanager
def progress(
    description: str, total: int | None = None, *, stream: TextIO | None = None
) -> Iterator[Advance]:
    """A progress bar on stderr for a long CLI operation (import, build, digest send).

    Shown only when stderr is a terminal: piped or redirected output (cron, CI, a script) stays quiet and
    parseable. ``total=None`` shows a spinner-like counter without a known end.

        with progress("Importing", total=len(rows)) as bar:
            for row in rows:
                ...
                bar.advance()
    """
    stream = stream or sys.stderr
    if not _is_terminal(stream):
        yield _Quiet()
        return
    console = Console(file=stream)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield _Bar(bar, task)
