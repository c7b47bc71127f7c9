"""Real mail servers of our own on loopback, for the tests that drive them: Debian's Dovecot (an IMAP bounce
mailbox), NSD (a test DNS zone), Postfix (the relay the sender uses) and the city's mail server behind it
(aiosmtpd); each an instance with its own files in a temp directory, stopped by the test that started it.

Run as ``python -m tests.mail_servers verify-dkim <directory>`` inside a private network and mount
namespace, it serves the zone in ``<directory>`` on port 53 and checks every ``*.eml`` there with
opendkim-testmsg, which can only ask the resolver of /etc/resolv.conf on port 53.
"""

from __future__ import annotations

import asyncio
import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
from aiosmtpd.smtp import SMTP, Envelope, Session
from imap_tools import MailBoxUnencrypted

from .smtp_server import LoopListener, Received
from .test_daemon import wait_until

DOVECOT = Path("/usr/sbin/dovecot")
NSD = Path("/usr/sbin/nsd")
POSTFIX = Path("/usr/sbin/postfix")
OPENDKIM_TESTMSG = Path("/usr/sbin/opendkim-testmsg")


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (NSD listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


# -- Dovecot ------------------------------------------------------------------------------------------


@dataclass
class Dovecot:
    port: int
    username: str
    password: str
    home: Path
    #: The self-signed certificate the TLS listener presents, when started with TLS.
    certificate: Path | None = None

    def client(self) -> MailBoxUnencrypted:
        return MailBoxUnencrypted("127.0.0.1", self.port).login(self.username, self.password)

    def folder_sizes(self, *folders: str) -> dict[str, int]:
        with self.client() as box:
            return {folder: len(box.uids("ALL")) if _select(box, folder) else 0 for folder in folders}


def _select(box: MailBoxUnencrypted, folder: str) -> bool:
    if not box.folder.exists(folder):
        return False
    box.folder.set(folder)
    return True


def _wait_for_greeting(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dovecot exited: {log.read_text(errors='replace') if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                if connection.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("dovecot did not answer within 15 s")


def _accounts() -> tuple[pwd.struct_passwd, str]:
    """(the mail user, the login user). Dovecot serves no mail as root and runs no login process as
    root: under root (CI containers) the mail belongs to ``nobody`` and logins run as ``dovenull``."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.getuid())
        return me, me.pw_name
    try:
        login = pwd.getpwnam("dovenull").pw_name
    except KeyError:
        login = "nobody"
    return pwd.getpwnam("nobody"), login


def start_dovecot(home: Path, *, tls: bool = False) -> tuple[subprocess.Popen[bytes], Dovecot]:
    mail_user, login_user = _accounts()
    me = pwd.getpwuid(os.getuid())
    port = free_port()
    maildir = home / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for path in (home, maildir, *(maildir / sub for sub in ("new", "cur", "tmp"))):
        os.chown(path, mail_user.pw_uid, mail_user.pw_gid)
    (home / "passwd").write_text(f"bounces:{{PLAIN}}secret:{mail_user.pw_uid}:{mail_user.pw_gid}::{home}::\n")
    certificate = None
    ssl_lines = "ssl = no"
    if tls:
        certificate, key = home / "cert.pem", home / "key.pem"
        request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"]
        san = ["-addext", "subjectAltName=IP:127.0.0.1"]
        subprocess.run(
            ["openssl", *request, *san, "-keyout", str(key), "-out", str(certificate)],
            check=True,
            capture_output=True,
        )
        ssl_lines = f"ssl = required\nssl_cert = <{certificate}\nssl_key = <{key}"
    listener = "imaps" if tls else "imap"
    other = "imap" if tls else "imaps"
    (home / "dovecot.conf").write_text(
        f"""
protocols = imap
listen = 127.0.0.1
base_dir = {home}/run
state_dir = {home}/state
log_path = {home}/dovecot.log
default_internal_user = {me.pw_name}
default_internal_group = {grp.getgrgid(os.getgid()).gr_name}
default_login_user = {login_user}
first_valid_uid = {mail_user.pw_uid}
first_valid_gid = {mail_user.pw_gid}
{ssl_lines}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{maildir}
passdb {{
  driver = passwd-file
  args = {home}/passwd
}}
userdb {{
  driver = passwd-file
  args = {home}/passwd
}}
service imap-login {{
  chroot =
  inet_listener {listener} {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener {other} {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
    )
    (home / "state").mkdir()
    process = subprocess.Popen(
        [str(DOVECOT), "-F", "-c", str(home / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if tls:  # the greeting comes only after a TLS handshake: wait for the port
            _wait_for_port(port, process, home / "dovecot.log")
        else:
            _wait_for_greeting(port, process, home / "dovecot.log")
    except BaseException:
        process.terminate()
        process.wait(10)
        raise
    return process, Dovecot(port, "bounces", "secret", home, certificate)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dovecot exited: {log.read_text(errors='replace') if log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("dovecot did not listen within 15 s")


@contextmanager
def running_dovecot() -> Iterator[Dovecot]:
    """A Dovecot in a directory its mail user can reach (pytest's tmp_path sits under a 0700 directory of
    the user running the tests, which ``nobody`` cannot enter), removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="newsroom-dovecot-"))
    home.chmod(0o755)
    try:
        process, server = start_dovecot(home)
        try:
            yield server
        finally:
            process.terminate()
            process.wait(15)
    finally:
        shutil.rmtree(home, ignore_errors=True)


# -- NSD ----------------------------------------------------------------------------------------------


def soa(domain: str) -> str:
    return f"""$ORIGIN {domain}.
$TTL 60
@           IN SOA ns.{domain}. hostmaster.{domain}. 1 3600 600 86400 60
@           IN NS  ns.{domain}.
ns          IN A   127.0.0.1
"""


class Nsd:
    """One NSD of our own: config, zone, pid and log files in a temp directory, on a loopback port."""

    def __init__(self, directory: Path, domain: str) -> None:
        self.directory = directory
        self.domain = domain
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, records: str, *, port: int | None = None) -> Nsd:
        """Serve the zone of ``records`` on ``port`` (a free one unless given)."""
        directory, domain = self.directory, self.domain
        directory.mkdir(parents=True, exist_ok=True)
        zone = directory / f"{domain}.zone"
        zone.write_text(soa(domain) + records, encoding="utf-8")
        checked = subprocess.run(
            [f"{NSD}-checkzone", domain, str(zone)], capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        self.port = port or free_port()
        config = directory / "nsd.conf"
        config.write_text(
            f"""server:
    ip-address: 127.0.0.1@{self.port}
    port: {self.port}
    username: ""
    chroot: ""
    zonesdir: "{directory}"
    pidfile: "{directory}/nsd.pid"
    logfile: "{directory}/nsd.log"
    xfrdfile: "{directory}/xfrd.state"
    zonelistfile: "{directory}/zone.list"
    xfrdir: "{directory}"
    database: ""
    server-count: 1
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: {domain}
    zonefile: "{zone}"
""",
            encoding="utf-8",
        )
        self.process = subprocess.Popen(
            [str(NSD), "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_until(self._answers, 10.0, 0.05)
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            logfile = self.directory / "nsd.log"
            log = logfile.read_text(errors="replace") if logfile.exists() else ""
            raise AssertionError(f"nsd exited {self.process.returncode}: {log}")
        query = dns.message.make_query(f"{self.domain}.", "SOA")
        try:
            answer = dns.query.udp(query, "127.0.0.1", timeout=0.2, port=self.port)
        except (dns.exception.Timeout, OSError):
            return False
        return bool(answer.answer)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()


# -- the city's mail server: aiosmtpd behind the relay -------------------------------------------------


class CityMailServer(LoopListener):
    """aiosmtpd standing for the mail server of the city's domain, the relay's next hop: it refuses the
    mailboxes it is told to at RCPT (after the relay accepted the message, as a real one does), keeps
    what it accepts, and hands mail for ``local_domain`` (the bounce address) to ``deliver_local``."""

    def __init__(self, local_domain: str) -> None:
        super().__init__("city-mail")
        self.local_domain = local_domain.lower()
        #: Address -> the reply to RCPT TO, every time it is tried (``550 5.1.1 ...``, ``451 4.2.2 ...``).
        self.refusals: dict[str, str] = {}
        #: RCPT TO attempts per address, refused or not.
        self.attempts: Counter[str] = Counter()
        self.received: list[Received] = []
        self.deliver_local: Callable[[bytes], None] | None = None
        self.lock = threading.Lock()

    def start(self) -> CityMailServer:
        self.listen(lambda: SMTP(self, hostname="mx.gmina.example.pl"))
        return self

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.attempts[address.lower()] += 1
            refusal = self.refusals.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        assert isinstance(content, bytes)
        received = Received(str(envelope.mail_from), [str(rcpt) for rcpt in envelope.rcpt_tos], content)
        local = any(rcpt.lower().endswith("@" + self.local_domain) for rcpt in received.recipients)
        if local and self.deliver_local is not None:
            # The mailbox's own store, off the loop: an IMAP APPEND of exactly the bytes received.
            await asyncio.get_running_loop().run_in_executor(None, self.deliver_local, content)
        with self.lock:
            self.received.append(received)
        return "250 2.0.0 OK queued"

    def forget(self) -> None:
        """Start afresh: nothing received, nothing tried, nothing refused."""
        with self.lock:
            self.received.clear()
            self.attempts.clear()
            self.refusals.clear()

    def messages_to(self, address: str) -> list[Received]:
        with self.lock:
            return [item for item in self.received if address.lower() in map(str.lower, item.recipients)]


# -- Postfix: the relay the sender uses -----------------------------------------------------------------

#: The daemons an instance that only relays needs, none chrooted (the queue is in a temp directory).
MASTER_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """Debian's Postfix as an instance of our own (``postfix -c <directory>``): its smtpd on a loopback
    port, everything relayed to ``[127.0.0.1]:<next hop>``, no local delivery, short queue timings so that
    a deferred message expires within seconds."""

    def __init__(self, directory: Path, next_hop_port: int, *, myhostname: str, queue_lifetime: int) -> None:
        self.directory = directory
        self.config = directory / "conf"
        self.log = directory / "postfix.log"
        self.next_hop_port = next_hop_port
        self.myhostname = myhostname
        self.queue_lifetime = queue_lifetime
        self.port = 0

    def start(self) -> Postfix:
        self.config.mkdir(parents=True)
        (self.directory / "queue").mkdir(mode=0o755)
        self.port = free_port()
        d = self.directory
        (self.config / "main.cf").write_text(
            f"""compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
maillog_file = {self.log}
maillog_file_prefixes = {d}
mail_owner = postfix
setgid_group = postdrop
myhostname = {self.myhostname}
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{self.next_hop_port}
smtp_tls_security_level = none
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
maximal_queue_lifetime = {self.queue_lifetime}s
bounce_queue_lifetime = {self.queue_lifetime}s
delay_warning_time = 0
""",
            encoding="utf-8",
        )
        (self.config / "master.cf").write_text(
            f"127.0.0.1:{self.port} inet n - n - - smtpd\n{MASTER_SERVICES}", encoding="utf-8"
        )
        self._postfix("check")
        self._postfix("start")
        wait_until(self._greets, 15.0, 0.05)
        return self

    def _postfix(self, command: str) -> None:
        # Postfix tells what went wrong on a terminal or in its log, never on a pipe: show the log.
        done = subprocess.run(
            [str(POSTFIX), "-c", str(self.config), command], capture_output=True, text=True, timeout=60
        )
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        assert done.returncode == 0, f"postfix {command}: {done.stdout}{done.stderr}{log}"

    def _greets(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                return connection.recv(100).startswith(b"220 ")
        except OSError:
            return False

    def master_pid(self) -> int | None:
        pidfile = self.directory / "queue" / "pid" / "master.pid"
        try:
            return int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def queue_is_empty(self) -> bool:
        return not any(
            files for sub in ("incoming", "active", "deferred", "maildrop")
            for _, _, files in os.walk(self.directory / "queue" / sub)
        )  # fmt: skip

    def stop(self) -> None:
        """`postfix stop` waits for the master; a master still there after it is ended by its pid."""
        pid = self.master_pid()
        if pid is None:
            return
        subprocess.run([str(POSTFIX), "-c", str(self.config), "stop"], capture_output=True, timeout=60)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, 9)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- opendkim-testmsg, asking our NSD on port 53 in a network namespace of its own ------------------------


def namespaces_allowed() -> bool:
    """Whether this user may make a private network and mount namespace (root may, in CI containers)."""
    try:
        done = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and shutil.which("ip") is not None


def verify_with_opendkim(
    directory: Path, domain: str, records: str, messages: dict[str, bytes]
) -> dict[str, str]:
    """opendkim-testmsg's verdict on each message ("" when it verifies, else what it printed).

    It asks the resolver in /etc/resolv.conf, on port 53 only: so it runs in a network namespace of its
    own (only a loopback there), where our NSD serves ``records`` on 127.0.0.1:53 and a resolv.conf
    bound over the real one points at it; the machine's resolver and port 53 are never touched.
    """
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    (directory / "records").write_text(records, encoding="utf-8")
    (directory / "domain").write_text(domain, encoding="utf-8")
    for name, data in messages.items():
        (directory / f"{name}.eml").write_bytes(data)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["unshare", "--mount", "--net", "--", sys.executable, "-m", "tests.mail_servers", "verify-dkim",
         str(directory)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    verdicts: dict[str, str] = json.loads(done.stdout)
    return verdicts


def _verify_in_namespace(directory: Path) -> dict[str, str]:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    resolv = directory / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n", encoding="utf-8")
    subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)
    nsd = Nsd(directory / "nsd", (directory / "domain").read_text(encoding="utf-8"))
    nsd.start((directory / "records").read_text(encoding="utf-8"), port=53)
    try:
        verdicts = {}
        for message in sorted(directory.glob("*.eml")):
            done = subprocess.run(
                [str(OPENDKIM_TESTMSG), "-t", str(directory)],
                input=message.read_bytes(),
                capture_output=True,
                timeout=30,
            )
            said = (done.stdout + done.stderr).decode(errors="replace").strip()
            verdicts[message.stem] = "" if done.returncode == 0 and not said else f"{done.returncode}: {said}"
        return verdicts
    finally:
        nsd.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["verify-dkim"]:
        print(json.dumps(_verify_in_namespace(Path(sys.argv[2]))))
    else:
        sys.exit("usage: python -m tests.mail_servers verify-dkim <directory>")
