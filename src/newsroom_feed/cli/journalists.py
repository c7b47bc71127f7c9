"""The `journalist` commands: list, verify, refuse and revoke journalists who applied for early access."""

from __future__ import annotations

import click

from newsroom_feed.cli.base import Context, cli, emit_json, pass_context
from newsroom_feed.errors import InputError
from newsroom_feed.models import utcnow
from newsroom_feed.people import journalists
from newsroom_feed.people.journalists import Journalist
from newsroom_feed.store.audit import OPERATOR


@cli.group()
def journalist() -> None:
    """Journalists who applied at /journalists/apply: list, verify, refuse, revoke."""


def _line(item: Journalist) -> str:
    terms = item.terms_version or "no terms accepted"
    return (
        f"{item.email}\t{item.verification}\t{item.outlet or '-'}\t{item.work_url or '-'}\t"
        f"card: {item.press_card or '-'}\tterms: {terms}\tsubscription: {item.status}"
    )


@journalist.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the journalists as a JSON array.")
@click.option(
    "--status",
    type=click.Choice(journalists.VERIFICATIONS),
    default=None,
    help="Only those applied, verified, refused or revoked.",
)
@pass_context
def journalist_list(context: Context, as_json: bool, status: str | None) -> None:
    """Every journalist who applied: address, verification, outlet, work link, press card, the version
    of the terms they last accepted, and the state of their subscription."""
    found = journalists.listing(context.store, status)
    if as_json:
        emit_json([item.to_json() for item in found])
        return
    for item in found:
        click.echo(_line(item))
    click.echo(f"{len(found)} journalist{'s' if len(found) != 1 else ''}", err=True)


@journalist.command("verify")
@click.argument("email")
@click.option(
    "--terms-accepted",
    is_flag=True,
    help="Record that they accepted the current embargo terms (on their behalf, source 'operator').",
)
@pass_context
def journalist_verify(context: Context, email: str, terms_accepted: bool) -> None:
    """Verify the journalist EMAIL: they get early access to releases under embargo."""
    done = journalists.verify(
        context.store, context.settings, email, utcnow(), OPERATOR, terms_accepted=terms_accepted
    )
    current = journalists.accepted_current(context.store, done, context.settings)
    click.echo(f"Verified {done.email} ({done.outlet or 'no outlet'}).")
    if not current:
        click.echo(
            f"They have not accepted the current terms ({journalists.terms_version(context.settings)}): "
            "no early material goes to them until they do (or use --terms-accepted).",
            err=True,
        )


@journalist.command("refuse")
@click.argument("email")
@pass_context
def journalist_refuse(context: Context, email: str) -> None:
    """Refuse the application of EMAIL; they stay an ordinary subscriber."""
    done = journalists.refuse(context.store, email, utcnow(), OPERATOR)
    click.echo(f"Refused {done.email}.")


@journalist.command("revoke")
@click.argument("email", required=False)
@click.option("--outlet", default=None, help="Revoke everyone verified at this outlet (case-insensitive).")
@pass_context
def journalist_revoke(context: Context, email: str | None, outlet: str | None) -> None:
    """Revoke the early access of EMAIL, or with --outlet NAME of everyone verified at that outlet
    (after a breach); it takes effect at once."""
    if (email is None) == (outlet is None):
        raise InputError("email", "give either an address or --outlet NAME, not both and not neither")
    now = utcnow()
    if outlet is not None:
        done = journalists.revoke_outlet(context.store, outlet, now, OPERATOR)
    else:
        done = [journalists.revoke(context.store, email or "", now, OPERATOR)]
    for item in done:
        click.echo(f"Revoked {item.email} ({item.outlet or 'no outlet'}).")
