"""Exit codes of the ``vcc`` command and how a failure is shown.

0 ok; 1 a difference found or a check failed; 2 invalid input or usage (click's own
code for a bad option); 3 a server that could not be reached (hub, etcd or NATS down).
A command run with ``--json`` prints its failure as JSON on stdout too
(``{"error": ..., "field": ..., "exit": ...}``), so a script never parses text.
"""

from __future__ import annotations

import itertools
import json
import sys
from enum import IntEnum
from typing import NoReturn

import click

from vcc_domain.errors import ErrorKind, VccError


class Exit(IntEnum):
    OK = 0
    DIFFERENCE = 1
    USAGE = 2
    UNREACHABLE = 3


UNREACHABLE_KINDS = (
    ErrorKind.UNAVAILABLE,
    ErrorKind.EXHAUSTED,
    ErrorKind.NOT_LEADER,
    ErrorKind.INTERNAL,
)


def exit_of(err: VccError) -> Exit:
    """Unreachable (or failing) servers exit 3; anything the caller gave exits 2."""
    return Exit.UNREACHABLE if err.kind in UNREACHABLE_KINDS else Exit.USAGE


class Unreachable(click.ClickException):
    """A server the command needs did not answer: exit 3."""

    exit_code = Exit.UNREACHABLE


class BadInput(click.ClickException):
    """A file or value the command cannot use: exit 2."""

    exit_code = Exit.USAGE


class CheckFailed(click.ClickException):
    """The command found a difference or a check failed: exit 1."""

    exit_code = Exit.DIFFERENCE


def resolve_command(root: click.Group, argv: list[str]) -> click.Command:
    """The (sub)command a command line names, found without running anything."""
    cmd: click.Command = root
    args = list(argv)
    while isinstance(cmd, click.Group):
        i = 0
        while i < len(args) and args[i].startswith("-"):
            opt = next(
                (
                    p
                    for p in cmd.params
                    if isinstance(p, click.Option) and args[i].split("=", 1)[0] in p.opts
                ),
                None,
            )
            takes_value = opt is not None and not opt.is_flag and not opt.count
            i += 2 if takes_value and "=" not in args[i] else 1
        if i >= len(args):
            return cmd
        sub = cmd.get_command(click.Context(cmd), args[i])
        if sub is None:
            return cmd
        cmd, args = sub, args[i + 1 :]
    return cmd


def json_requested(root: click.Group, argv: list[str]) -> bool:
    """Whether the command line asked for JSON on stdout: a ``--json`` flag (not ``--json
    FILE``) or ``--format json``."""
    if "--format=json" in argv or any(
        a == "--format" and b == "json" for a, b in itertools.pairwise(argv)
    ):
        return True
    if "--json" not in argv:
        return False
    cmd = resolve_command(root, argv)
    return any(isinstance(p, click.Option) and "--json" in p.opts and p.is_flag for p in cmd.params)


def fail(message: str, code: int, *, as_json: bool, field: str | None = None) -> NoReturn:
    """Show one failure (JSON on stdout, or ``error: ...`` on stderr) and exit with ``code``."""
    if as_json:
        click.echo(json.dumps({"error": message, "field": field, "exit": code}))
    else:
        click.echo(f"error: {f'{field}: ' if field else ''}{message}", err=True)
    sys.exit(code)


def fail_vcc(err: VccError, *, as_json: bool) -> NoReturn:
    fail(err.message, exit_of(err), as_json=as_json, field=err.field)


def fail_click(err: click.ClickException, *, as_json: bool) -> NoReturn:
    """Click's own errors keep their text and code; with --json they are JSON as well."""
    if not as_json:
        err.show()
        sys.exit(err.exit_code)
    field = None
    if isinstance(err, click.BadParameter | click.MissingParameter) and err.param is not None:
        field = err.param.opts[0] if err.param.opts else err.param.name
    fail(err.format_message(), err.exit_code, as_json=True, field=field)
