"""What `deploy/` ships: the systemd units (notify, watchdog, private files, hardening score) and the nginx
site, run for real in front of the app: the same security headers on static pages, no header twice on
proxied answers, no subscriber token in the access log, /healthz terse to the public."""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from newsroom_feed import planner
from newsroom_feed.models import ReleaseInput
from newsroom_feed.people import subscriptions
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app
from newsroom_feed.web.security import SECURITY_HEADERS

from .web_helpers import ServerThread, serve

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = ("newsroom-feed.service", "newsroom-feed-backup.service")

#: The app's headers as a browser sees them: name -> value.
APP_HEADERS = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}


def unit_settings(name: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit's [Service] section; a key may repeat (systemd appends)."""
    found: dict[str, list[str]] = collections.defaultdict(list)
    section = ""
    for line in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            found[key].append(value)
    return found


# -- systemd ------------------------------------------------------------------------------------------


def test_the_service_tells_systemd_when_it_is_ready_and_keeps_a_watchdog() -> None:
    service = unit_settings("newsroom-feed.service")
    assert service["Type"] == ["notify"]
    assert service["WatchdogSec"] and int(service["WatchdogSec"][0]) > 0
    assert service["Restart"] == ["on-failure"]  # a watchdog kill is a failure: restarted


@pytest.mark.parametrize("unit", UNITS)
def test_both_units_create_files_and_the_state_directory_for_their_user_only(unit: str) -> None:
    """Both units name the state directory: they must agree on its mode, or each start resets it."""
    found = unit_settings(unit)
    assert found["UMask"] == ["0077"]
    assert found["StateDirectory"] == ["newsroom-feed"]
    assert found["StateDirectoryMode"] == ["0700"]


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_security_rates_both_units_ok(unit: str) -> None:
    binary = shutil.which("systemd-analyze")
    if binary is None:
        pytest.skip("systemd-analyze is not installed here (.ci/run installs systemd)")
    result = subprocess.run(
        [binary, "security", "--offline=yes", "--no-pager", str(DEPLOY / unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\w+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.5, result.stdout
    assert found.group(2) in ("OK", "SAFE")
    # systemd ignores a misspelt directive with only this warning: the hardening would silently go.
    assert "Unknown key" not in result.stderr, result.stderr


# -- nginx, read ------------------------------------------------------------------------------------------


def test_the_nginx_snippet_sends_exactly_the_apps_security_headers() -> None:
    """Runs without nginx: a changed CSP in the app fails here until the snippet follows."""
    snippet = (DEPLOY / "nginx-newsroom-feed-headers.conf").read_text(encoding="utf-8")
    added = dict(re.findall(r'^add_header ([\w-]+) "([^"]*)" always;$', snippet, re.MULTILINE))
    assert {name.lower(): value for name, value in added.items() if name != "Strict-Transport-Security"} == (
        APP_HEADERS
    )


# -- nginx, running ---------------------------------------------------------------------------------------


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(path).is_file()), None
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def substitute(text: str, old: str, new: str) -> str:
    """Replace ``old``, which must be in the shipped file: a config that drifted fails loudly here."""
    assert old in text, f"the shipped nginx site no longer has {old!r}"
    return text.replace(old, new)


@dataclass
class Nginx:
    https: str
    http: str
    access_log: Path


def nginx_version(binary: str) -> tuple[int, ...]:
    answer = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", answer)
    assert found, answer
    return tuple(int(part) for part in found.groups())


def shipped_site(
    version: tuple[int, ...],
    *,
    https_port: int,
    http_port: int,
    app_port: int,
    public_dir: Path,
    folder: Path,
) -> str:
    """deploy/nginx-newsroom-feed.conf with loopback ports and the test's paths, nothing else changed."""
    site = (DEPLOY / "nginx-newsroom-feed.conf").read_text(encoding="utf-8")
    if version < (1, 25, 1):
        # What the site's own comment tells a Debian 12 operator to do.
        site = substitute(site, "    http2 on;\n", "")
        site = substitute(site, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl http2;")
    else:
        site = substitute(site, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = substitute(site, "    listen [::]:443 ssl;\n", "")  # a CI container may have no IPv6
    site = substitute(site, "    listen [::]:80;\n", "")
    site = substitute(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = substitute(site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
    site = substitute(site, "root /var/www/newsroom-feed;", f"root {public_dir};")
    site = substitute(
        site, "/var/log/nginx/newsroom-feed.access.log", str(folder / "newsroom-feed.access.log")
    )
    site = substitute(site, "/etc/letsencrypt/live/prasa.example.pl/", f"{folder}/")
    return substitute(
        site, "snippets/newsroom-feed-headers.conf", str(DEPLOY / "nginx-newsroom-feed-headers.conf")
    )


def private_nginx_conf(folder: Path) -> str:
    """A main nginx.conf that keeps everything (pid, logs, temp files) in ``folder``."""
    temporary = "".join(
        f"    {kind}_temp_path {folder}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx would hand its workers to "nobody", who cannot enter pytest's 0700 temp folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
        f"{temporary}    access_log {folder}/other.access.log;\n    include {folder}/site.conf;\n}}\n"
    )


@pytest.fixture
def nginx(tmp_path: Path, app: ServerThread, settings: Settings) -> Iterator[Nginx]:
    """The shipped site in a private nginx (own prefix, pid, logs, temp dirs) on loopback ports, in front
    of the app, with a self-signed certificate."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed here (.ci/run installs nginx-light)")
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed here (.ci/run installs it)")
    folder = tmp_path / "nginx"
    folder.mkdir()
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", "/CN=prasa.example.pl", "-keyout", str(folder / "privkey.pem"),
         "-out", str(folder / "fullchain.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    https_port, http_port = free_port(), free_port()
    site = shipped_site(
        nginx_version(binary),
        https_port=https_port,
        http_port=http_port,
        app_port=app.port,
        public_dir=settings.public_dir,
        folder=folder,
    )
    (folder / "site.conf").write_text(site, encoding="utf-8")
    (folder / "nginx.conf").write_text(private_nginx_conf(folder), encoding="utf-8")
    command = [binary, "-p", f"{folder}/", "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, (folder / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.02)
        yield Nginx(
            f"https://127.0.0.1:{https_port}",
            f"http://127.0.0.1:{http_port}",
            folder / "newsroom-feed.access.log",
        )
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: finish requests, close the logs
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass
class Site:
    release_path: str
    unsubscribe_token: str


@pytest.fixture
def site(settings: Settings, store: Store, now) -> Site:
    """A built public directory with one release, and an active subscriber's unsubscribe token."""
    release = store.add_release(ReleaseInput.parse({"title": "Złote Lajki 2026 wręczone"}), now)
    planner.build(store, settings, now)
    subscriber = subscriptions.add_subscriber(store, {"email": "ania@gazeta.example.pl"}, now)
    return Site(f"/releases/{release.slug}/", subscriptions.link_token(settings, subscriber, "unsubscribe"))


@pytest.fixture
def app(settings: Settings, site: Site) -> Iterator[ServerThread]:
    with serve(create_app(settings)) as running:
        yield running


def security_headers(response: httpx.Response) -> dict[str, list[str]]:
    return {name: response.headers.get_list(name) for name in APP_HEADERS}


@pytest.mark.slow
def test_nginx_serves_static_pages_with_the_apps_security_headers(
    nginx: Nginx, app: ServerThread, site: Site
) -> None:
    with httpx.Client(verify=False) as client:
        for path in ("/", site.release_path, "/feeds/rss.xml", "/no-such-page/"):
            through_nginx = client.get(f"{nginx.https}{path}")
            from_app = client.get(f"{app.url}{path}")
            assert through_nginx.status_code == from_app.status_code, path
            assert security_headers(through_nginx) == {name: [value] for name, value in APP_HEADERS.items()}
            assert security_headers(through_nginx) == security_headers(from_app), path
            assert through_nginx.headers.get_list("strict-transport-security") == ["max-age=31536000"]


@pytest.mark.slow
def test_nginx_sends_no_header_twice_on_what_the_app_answers(nginx: Nginx, site: Site) -> None:
    token = site.unsubscribe_token
    with httpx.Client(base_url=nginx.https, verify=False) as client:
        answers = [
            client.get("/subscribe"),
            client.get(f"/unsubscribe/{token}"),
            client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}),
            client.get("/healthz"),
            client.get("/api/releases"),
        ]
    for response in answers:
        names = collections.Counter(name.lower() for name, _ in response.headers.multi_items())
        assert [name for name, count in names.items() if count > 1] == [], response.url
        assert security_headers(response) == {name: [value] for name, value in APP_HEADERS.items()}
        assert response.headers["strict-transport-security"] == "max-age=31536000"
    assert [response.status_code for response in answers] == [200, 200, 200, 200, 401]


@pytest.mark.slow
def test_nginx_writes_no_subscriber_token_to_the_access_log(nginx: Nginx, site: Site) -> None:
    token = site.unsubscribe_token
    with httpx.Client(verify=False) as client:
        assert client.get(f"{nginx.https}/unsubscribe/{token}").status_code == 200
        one_click = client.post(f"{nginx.https}/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert one_click.status_code == 200
        assert client.get(f"{nginx.http}/unsubscribe/{token}").status_code == 301
        # The same page with its path spelled in percent-encoding: nginx and the app decode it.
        assert client.get(f"{nginx.https}/%75nsubscribe/{token}").status_code == 200
        page = client.get(
            f"{nginx.https}{site.release_path}", headers={"referer": f"{nginx.https}/preferences/{token}"}
        )
        assert page.status_code == 200
    # nginx writes a request's log line once the response is sent, so the client can be a step ahead.
    expected = f'"GET {site.release_path} HTTP/1.1" 200'
    deadline = time.monotonic() + 10
    log = nginx.access_log.read_text(encoding="utf-8")
    while expected not in log and time.monotonic() < deadline:
        time.sleep(0.05)
        log = nginx.access_log.read_text(encoding="utf-8")
    assert token not in log
    # The requests are still there for the operator, the token replaced.
    assert log.count('"GET /unsubscribe/TOKEN HTTP/1.1" 200') == 2
    assert '"POST /unsubscribe/TOKEN HTTP/1.1" 200' in log
    assert '"GET /unsubscribe/TOKEN HTTP/1.1" 301' in log
    assert expected in log


@pytest.mark.slow
def test_nginx_answers_a_withdrawn_release_with_410_and_its_notice_as_the_app_does(
    nginx: Nginx, app: ServerThread, site: Site, settings: Settings, store: Store, now: datetime
) -> None:
    slug = site.release_path.strip("/").split("/")[1]
    release = store.retract_release(slug, now + timedelta(minutes=1))
    planner.build(store, settings, now + timedelta(minutes=2))
    with httpx.Client(verify=False) as client:
        for base in (nginx.https, app.url):
            answer = client.get(f"{base}{site.release_path}")
            assert answer.status_code == 410, base
            assert "Komunikat wycofany" in answer.text and f"Komunikat nr {release.number}" in answer.text
            assert answer.headers["content-type"].startswith("text/html")
            assert security_headers(answer) == {name: [value] for name, value in APP_HEADERS.items()}
        assert client.get(f"{nginx.https}/gone/{slug}.html").status_code == 404
        assert client.get(f"{nginx.https}/releases/nie-ma-takiego/").status_code == 404


@pytest.mark.slow
def test_nginx_passes_healthz_details_only_to_the_admin_token(nginx: Nginx, settings: Settings) -> None:
    assert settings.admin_token is not None
    bearer = {"authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
    with httpx.Client(base_url=nginx.https, verify=False) as client:
        public = client.get("/healthz")
        operator = client.get("/healthz", headers=bearer)
    assert public.json() == {"status": "ok"}
    assert operator.json()["outbox"] == {"backlog": 0, "failed": 0}
