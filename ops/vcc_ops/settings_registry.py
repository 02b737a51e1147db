"""Every process's settings in one list: ``vcc settings``, the README's table and the
compose checker read it.

A process's settings are either one settings class (a frozen dataclass whose fields are
made with :func:`vcc_proto.settings.setting`) or a bundle of them (a dataclass whose every
field is a settings class, loaded with :func:`vcc_proto.settings.load_parts`). To register
a process, add one line to :data:`PROCESSES`: its ``vcc`` command and its class. A new part
of a registered process is a new field of its bundle and needs nothing here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vcc_hub.settings import HubNodeSettings
from vcc_proto.settings import SettingInfo, describe, parts_of, spec_of
from vcc_site.edge.settings import EdgeNodeSettings
from vcc_site.settings import SiteNodeSettings

PROCESSES: dict[str, type[Any]] = {
    "site": SiteNodeSettings,
    "hub": HubNodeSettings,
    "edge": EdgeNodeSettings,
}


def is_bundle(cls: type[Any]) -> bool:
    return all(spec_of(f) is None for f in dataclasses.fields(cls))


def parts_for(process: str) -> list[type[Any]]:
    """The settings classes the process reads."""
    cls = PROCESSES[process]
    return parts_of(cls) if is_bundle(cls) else [cls]


def all_parts() -> dict[type[Any], list[str]]:
    """Every settings class (first seen order) and the processes that read it."""
    found: dict[type[Any], list[str]] = {}
    for process in PROCESSES:
        for part in parts_for(process):
            found.setdefault(part, []).append(process)
    return found


def variables_for(process: str) -> set[str]:
    return {info.env for part in parts_for(process) for info in describe(part)}


def all_settings() -> list[tuple[SettingInfo, list[str]]]:
    """Every setting with the processes reading it."""
    return [(info, processes) for part, processes in all_parts().items() for info in describe(part)]
