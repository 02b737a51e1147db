"""``vcc settings``: every setting of every process, with its variable, default and meaning.

Rows come from two places, each defined once: the options every service process takes
(``vcc hub`` / ``vcc site``, each also a ``VCC_*`` variable) and the settings classes of
:mod:`vcc_ops.settings_registry`. ``--readme README.md`` rewrites the README's table
between ``<!-- settings:begin -->`` and ``<!-- settings:end -->``.

:func:`settings_options` turns the fields of a settings class that declare a flag into
click options; :func:`take_flags` hands their values to the settings loader.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vcc_ops.exits import BadInput
from vcc_ops.settings_registry import PROCESSES, all_settings
from vcc_proto.settings import SettingInfo, describe, spec_of

BEGIN = "<!-- settings:begin -->"
END = "<!-- settings:end -->"
COLUMNS = ("variable", "flag", "process", "part", "type", "default", "meaning")


def settings_options(cls: type[Any]) -> Callable[[Any], Any]:
    """Click options for the fields of ``cls`` that declare a flag (value left to the
    settings loader: the option's default is "not given")."""

    def decorate(func: Any) -> Any:
        for info in reversed(describe(cls)):
            if not info.flag:
                continue
            shape: dict[str, Any] = (  # a yes/no setting is a bare flag
                {"is_flag": True}
                if info.type == "bool"
                else {"metavar": info.type.split()[0].upper()}
            )
            func = click.option(
                info.flag,
                info.name,
                envvar=info.env,
                default=None,
                help=f"{info.help} [{info.env}; default: {info.default or '(empty)'}]",
                **shape,
            )(func)
        return func

    return decorate


def take_flags(cls: type[Any], kw: dict[str, Any]) -> dict[str, object]:
    """Remove the options :func:`settings_options` added from ``kw``; the given ones as
    ``{variable: value}`` for :func:`vcc_proto.settings.load`."""
    flags: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        spec = spec_of(f)
        if spec is not None and spec.flag:
            value = kw.pop(f.name, None)
            if value is not None:
                flags[spec.env] = value
    return flags


def option_rows(cli: click.Group) -> list[dict[str, str]]:
    """The options of the service commands that have a ``VCC_*`` variable and are not a
    settings class's flag (those are listed with their class)."""
    known = {info.env for info, _ in all_settings()}
    rows: dict[str, dict[str, str]] = {}
    ctx = click.Context(cli)
    for process in PROCESSES:
        command = cli.get_command(ctx, process)
        for param in command.params if command else []:
            env = param.envvar if isinstance(param.envvar, str) else ""
            if not env or env in known or not isinstance(param, click.Option):
                continue
            if env in rows:
                rows[env]["process"] += f", {process}"
                continue
            meaning, _, said = (param.help or "").partition(" Default: ")
            default = param.default
            shown = (
                "(required)"
                if param.required
                else said.rstrip(".")
                if default in (None, "")
                else str(default)
            )
            rows[env] = {
                "variable": env,
                "flag": param.opts[0],
                "process": process,
                "part": "options",
                "type": _click_type(param),
                "default": shown,
                "meaning": meaning.rstrip("."),
            }
    return list(rows.values())


def setting_rows(cli: click.Group) -> list[dict[str, str]]:
    return option_rows(cli) + [_row(info, processes) for info, processes in all_settings()]


def _row(info: SettingInfo, processes: list[str]) -> dict[str, str]:
    return {
        "variable": info.env,
        "flag": info.flag,
        "process": ", ".join(processes),
        "part": info.part,
        "type": info.type,
        "default": info.default,
        "meaning": info.help,
    }


def _click_type(param: click.Option) -> str:
    name = param.type.name
    return {"integer": "int", "text": "str", "file": "path", "directory": "path"}.get(name, name)


def render_markdown(rows: list[dict[str, str]]) -> str:
    lines = [
        "| variable | flag | process | part | type | default | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"`{r['variable']}`",
            f"`{r['flag']}`" if r["flag"] else "",
            r["process"],
            r["part"],
            r["type"],
            f"`{r['default']}`" if r["default"] else "",
            r["meaning"].replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_text(rows: list[dict[str, str]]) -> str:
    width = max(len(r["variable"]) for r in rows)
    out = []
    for r in rows:
        flag = f" ({r['flag']})" if r["flag"] else ""
        default = r["default"] or '""'
        out.append(
            f"{r['variable']:<{width}}  {r['process']:<9}  {r['type']:<6}  "
            f"default {default}{flag}\n{'':<{width}}  {r['meaning']}"
        )
    return "\n".join(out) + "\n"


def readme_block(cli: click.Group) -> str:
    return (
        "Generated by `vcc settings --readme README.md` from the settings classes; "
        "a flag beats its variable, which beats the default.\n\n"
        + render_markdown(setting_rows(cli))
    )


def replace_section(text: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    """``text`` with what lies between the markers (the settings ones unless given)
    replaced by ``block``."""
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(end) < text.index(begin):
        raise ValueError(f"expected one {begin} followed by one {end}")
    head, rest = text.split(begin, 1)
    _old, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block.rstrip()}\n{end}{tail}"


@click.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--markdown", is_flag=True, help="A Markdown table.")
@click.option(
    "--readme",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Rewrite the table between the settings markers of this file.",
)
@click.pass_context
def settings(ctx: click.Context, as_json: bool, markdown: bool, readme: Path | None) -> None:
    """Every setting of every process: variable, flag, default and meaning."""
    cli = ctx.find_root().command
    assert isinstance(cli, click.Group)
    if readme is not None:
        try:
            readme.write_text(replace_section(readme.read_text(), readme_block(cli)))
        except ValueError as err:
            raise BadInput(f"{readme}: {err}") from err
        click.echo(f"updated the settings table of {readme}")
        return
    rows = setting_rows(cli)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif markdown:
        click.echo(render_markdown(rows), nl=False)
    else:
        click.echo(render_text(rows), nl=False)
