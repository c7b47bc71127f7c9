"""The `user` commands: desk accounts for press officers (editors) and admins."""

from __future__ import annotations

import sys

import click

from newsroom_feed.cli.base import Context, choice_option, cli, emit_json, local_time, pass_context
from newsroom_feed.models import utcnow
from newsroom_feed.people import users
from newsroom_feed.site.layout import desk_setup_url
from newsroom_feed.store.audit import OPERATOR


@cli.group()
def user() -> None:
    """Desk users (press officers and admins at /desk/): add, list, passwd, remove."""


def _password_from_stdin() -> str | None:
    """The password piped on stdin (its first line), or None when stdin is a terminal or empty."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    return line or None


def _setup_url(context: Context, user_id: int) -> str:
    settings = context.settings
    token = users.Links(settings.verifying_keys()).setup_link(context.store, user_id, utcnow())
    return desk_setup_url(settings.base_url, token)


@user.command("add")
@click.argument("email")
@choice_option(
    "--role",
    ["editor", "admin"],
    "editor",
    "Editors write and publish; admins also manage users and subscribers.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the user (and the set-up link) as JSON.")
@pass_context
def user_add(context: Context, email: str, role: str, as_json: bool) -> None:
    """Add the desk user EMAIL. The password is read from stdin (its first line, at least 12
    characters); without one, a one-time set-up link valid 24 hours is printed instead.

    \b
    printf '%s\\n' "$PASSWORD" | newsroom-feed user add ola@example.pl --role admin
    newsroom-feed user add jan@example.pl          # prints https://.../desk/setup/...
    """
    password = _password_from_stdin()
    added = users.add(context.store, email, role, utcnow(), OPERATOR, password)
    link = None if password is not None else _setup_url(context, added.id)
    if as_json:
        emit_json({**added.to_json(), "setup_link": link})
        return
    click.echo(f"Added {added.email} ({added.role}).")
    if link:
        click.echo(f"Set-up link (valid 24 h, works once): {link}")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the users as a JSON array.")
@pass_context
def user_list(context: Context, as_json: bool) -> None:
    """Every desk user: address, role, status (invited, active, disabled), one-time codes, last sign-in."""
    found = users.listing(context.store)
    if as_json:
        emit_json([item.to_json() for item in found])
        return
    for item in found:
        document = item.to_json()
        last = local_time(item.last_sign_in_at, context) if item.last_sign_in_at else "never"
        codes = "codes on" if item.totp_enabled else "codes off"
        click.echo(f"{item.email}\t{item.role}\t{document['status']}\t{codes}\tlast sign-in: {last}")
    click.echo(f"{len(found)} user{'s' if len(found) != 1 else ''}", err=True)


@user.command("passwd")
@click.argument("email")
@click.option("--link", is_flag=True, help="Print a new one-time set-up link instead of reading a password.")
@pass_context
def user_passwd(context: Context, email: str, link: bool) -> None:
    """Set the password of EMAIL from stdin (its first line), ending their sessions; or, with --link
    (or when stdin is empty), forget the password and print a new set-up link valid 24 hours."""
    found = users.get(context.store, email)
    password = None if link else _password_from_stdin()
    if password is None:
        users.reset(context.store, found.id, utcnow(), OPERATOR)
        click.echo(f"Set-up link for {found.email} (valid 24 h, works once): {_setup_url(context, found.id)}")
        return
    users.set_password(context.store, found.id, password, utcnow(), OPERATOR)
    click.echo(f"Password of {found.email} changed; their sessions ended.")


@user.command("remove")
@click.argument("email")
@pass_context
def user_remove(context: Context, email: str) -> None:
    """Remove the desk user EMAIL; their sessions end. The audit log keeps what they did, by address.
    The last admin cannot be removed."""
    found = users.get(context.store, email)
    users.remove(context.store, found.id, utcnow(), OPERATOR)
    click.echo(f"Removed {found.email}.")
