"""Telling systemd how the daemon is doing: the sd_notify protocol (readiness, status, watchdog, stop).

The protocol is one datagram of ``KEY=value`` lines sent to the unix socket named by ``$NOTIFY_SOCKET``
(a path, or an abstract name written with a leading ``@``); see sd_notify(3). Written here in a few
lines instead of adding a dependency (python-systemd needs libsystemd headers to build; sdnotify is
unmaintained). Outside systemd there is no socket and every call is a no-op.

``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` are read here rather than in `settings.py`:
they are the service manager's channel to this very process, not something an operator configures, and
they must not be overridable from a TOML file or `.env`.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger("newsroom_feed.systemd")


class Notifier:
    """The daemon's line to systemd (``Type=notify``); every method is harmless without one."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = _socket_address(address) if address else None
        #: Seconds between two WATCHDOG=1 pings: half the unit's ``WatchdogSec=``, as sd_watchdog_enabled(3)
        #: advises, so one late wake-up of the loop does not get the process killed.
        self.watchdog_interval = watchdog_usec / 2_000_000 if watchdog_usec and self.address else None
        self._socket: socket.socket | None = None
        self._failed = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        """The notifier systemd set up for this process, if any.

        A ``WATCHDOG_PID`` naming another process (a parent that exec'd us without passing the watchdog
        on) switches the watchdog off, as sd_watchdog_enabled(3) does.
        """
        address = environ.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        pid = environ.get("WATCHDOG_PID")
        if pid is None or pid.strip() == str(os.getpid()):
            try:
                usec = int(environ.get("WATCHDOG_USEC", "")) or None
            except ValueError:
                usec = None
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, **fields: str) -> bool:
        """Send one datagram of ``KEY=value`` lines; True when it was handed to the socket.

        A failure (systemd gone, a full socket buffer) is logged once and otherwise ignored: the service
        keeps serving, and systemd's own timeouts deal with a notifier that went quiet.
        """
        if self.address is None:
            return False
        # A value is one line of the datagram: a newline would start a new (bogus) assignment.
        message = "\n".join(f"{key}={' '.join(value.splitlines())}" for key, value in fields.items())
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto(message.encode("utf-8"), self.address)
        except OSError as error:
            if not self._failed:
                log.warning("cannot notify systemd", socket=_printable(self.address), error=str(error))
                self._failed = True
            return False
        self._failed = False
        return True

    def status(self, text: str) -> bool:
        """What `systemctl status` shows on its Status: line."""
        return self.notify(STATUS=text)

    def ready(self, status: str) -> bool:
        """The service serves now: systemd ends the start job and starts what waits for us."""
        return self.notify(READY="1", STATUS=status)

    def stopping(self, status: str = "Stopping") -> bool:
        return self.notify(STOPPING="1", STATUS=status)

    def watchdog(self) -> bool:
        return self.notify(WATCHDOG="1")

    async def keep_alive(self) -> None:
        """Ping the watchdog from the event loop until cancelled.

        From the loop, not a thread: a thread would keep pinging while the loop that serves, sends and
        builds is stuck, which is exactly what the watchdog is there to catch.
        """
        interval = self.watchdog_interval
        if interval is None:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(interval)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _socket_address(name: str) -> str:
    # An abstract socket has no file: its name starts with a NUL byte, which the variable spells '@'.
    return "\0" + name[1:] if name.startswith("@") else name


def _printable(address: str) -> str:
    return "@" + address[1:] if address.startswith("\0") else address
