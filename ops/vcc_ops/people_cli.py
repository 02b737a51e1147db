"""``vcc hash-password``: the argon2id hash of a password, for a province file's
``password_hash`` (an agent or an agent group) or a site's initial-secrets file."""

from __future__ import annotations

import sys

import click

from vcc_domain.errors import InvalidInput
from vcc_ops.exits import Exit, fail
from vcc_site.domain.secrets import hash_secret, validate_password


@click.command("hash-password")
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
def hash_password(from_stdin: bool) -> None:
    """Print the argon2id hash of a password (asked twice, not echoed). The person must
    change it at the first sign-in."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        validate_password(password)
    except InvalidInput as err:
        fail(err.message, Exit.USAGE, as_json=False, field=err.field)
    click.echo(hash_secret(password))
