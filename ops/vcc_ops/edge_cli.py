"""``vcc edge``: run the access edge process in the foreground.

One flag per setting of :data:`vcc_site.edge.settings.EDGE_SETTINGS`; a flag not given falls
back to its ``VCC_*`` variable, then to the default (:func:`read_edge_settings`).
"""

from __future__ import annotations

import asyncio
import os
from importlib import resources
from pathlib import Path
from typing import Any

import click

from vcc_site.edge.settings import EDGE_SETTINGS, flag_name, read_edge_settings

EXAMPLE_PROVINCE = "yunnan.toml"


def _edge_options(func: Any) -> Any:
    for setting in reversed(EDGE_SETTINGS):
        func = click.option(flag_name(setting), setting.name, default=None,
                            help=f"{setting.help} [env {setting.env}]")(func)
    return func


@click.command()
@_edge_options
def edge(**kw: str | None) -> None:
    """Run the access edge in the foreground: callers reach the nearest live site."""
    from vcc_site.edge.app import run_edge

    flags = dict(kw)
    if flags.get("province_file") is None and not os.environ.get("VCC_PROVINCE"):
        example = Path(str(resources.files("vcc_ops") / "examples" / EXAMPLE_PROVINCE))
        flags["province_file"] = str(example)
    asyncio.run(run_edge(read_edge_settings(flags, os.environ)))
