"""The `dkim` commands: keys for signing the service's mail."""

from __future__ import annotations

from pathlib import Path

import click

from newsroom_feed.cli.base import Context, cli, pass_context
from newsroom_feed.errors import InputError
from newsroom_feed.mail import dkim as signing


@cli.group()
def dkim() -> None:
    """DKIM signing keys (RFC 6376): keygen."""


@dkim.command("keygen")
@click.option(
    "--selector",
    required=True,
    help="The selector: the key is published at <selector>._domainkey.<domain> (e.g. newsroom2026).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the private key (default: dkim-<selector>.pem beside the store). Never overwritten.",
)
@pass_context
def dkim_keygen(context: Context, selector: str, out: Path | None) -> None:
    """Write a new 2048-bit RSA key (owner-only file) and print the DNS TXT record to publish.

    \b
    newsroom-feed dkim keygen --selector newsroom2026
    # publish the printed record, then set
    NEWSROOM_DKIM__SELECTOR=newsroom2026 NEWSROOM_DKIM__PRIVATE_KEY_FILE=var/dkim-newsroom2026.pem
    """
    settings = context.settings
    if not signing.SELECTOR.match(selector):
        raise InputError(
            "--selector", "must be letters, digits, '.', '-' or '_' (at most 63), e.g. newsroom2026"
        )
    path = out or settings.database.parent / f"dkim-{selector}.pem"
    key = signing.generate_key(path)
    domain = settings.dkim_domain
    click.echo(signing.zone_line(selector, domain, signing.public_key_record(key)))
    click.echo(
        f"Key written to {path} (mode 0600). Publish the record above, then set "
        f"NEWSROOM_DKIM__SELECTOR={selector} and NEWSROOM_DKIM__PRIVATE_KEY_FILE={path}.",
        err=True,
    )
