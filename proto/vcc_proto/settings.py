"""Typed settings: frozen dataclasses whose fields name the ``VCC_*`` variable setting them.

A part of a process declares what it can be told as a frozen dataclass; each field is
made with :func:`setting`, which records the variable, an optional command-line flag and a
one-line meaning beside the field's type and default::

    @dataclass(frozen=True, slots=True)
    class OverflowSettings:
        enabled: bool = setting("VCC_OVERFLOW", True, "move waiting calls to a site ...")

:func:`load` builds one from flags (keyed by variable name), else the environment, else
the default, converting each value to the field's type; a value that does not convert is a
:class:`SettingsError` naming the variable (and the flag). An empty variable counts as
unset. :func:`describe` lists the fields for ``vcc settings`` and the README's table.

Supported field types: ``str``, ``int``, ``float``, ``bool`` (on/off, true/false, yes/no,
1/0), ``Path``, ``tuple[str, ...]`` (comma separated) and any of them ``| None``.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from vcc_domain.errors import ConfigError

T = TypeVar("T")
_KEY = "vcc_setting"
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class Spec:
    """What a settings field says about itself."""

    env: str  # the VCC_* variable
    help: str  # one line: what it changes
    flag: str = ""  # the command-line option that also sets it ("" = variable only)
    default_text: str = ""  # how to show the default when its value says little


class SettingsError(ConfigError):
    """A setting has a value its type does not accept."""


def setting(env: str, default: Any, help: str, *, flag: str = "", default_text: str = "") -> Any:
    """A dataclass field set by ``env`` (and ``flag``), ``default`` when neither is given."""
    return dataclasses.field(default=default, metadata={_KEY: Spec(env, help, flag, default_text)})


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One setting as ``vcc settings`` shows it."""

    part: str  # the settings class
    name: str  # the field
    env: str
    flag: str
    type: str
    default: str
    help: str


def spec_of(f: dataclasses.Field[Any]) -> Spec | None:
    found = f.metadata.get(_KEY)
    return found if isinstance(found, Spec) else None


def describe(cls: type[Any]) -> list[SettingInfo]:
    """The settings of ``cls`` in field order."""
    hints = typing.get_type_hints(cls)
    out: list[SettingInfo] = []
    for f in dataclasses.fields(cls):
        spec = spec_of(f)
        if spec is None:
            continue
        default = spec.default_text or _show(f.default)
        out.append(
            SettingInfo(
                cls.__name__,
                f.name,
                spec.env,
                spec.flag,
                _type_name(hints[f.name]),
                default,
                spec.help,
            )
        )
    return out


def variables(cls: type[Any]) -> list[str]:
    return [info.env for info in describe(cls)]


def load(
    cls: type[T], env: Mapping[str, str] | None = None, flags: Mapping[str, object] | None = None
) -> T:
    """An instance of the settings class ``cls``: each field from ``flags[variable]``
    (a value given on the command line), else ``env[variable]`` (default: the process's
    environment), else its default. Raises :class:`SettingsError` naming the variable."""
    environ: Mapping[str, str] = os.environ if env is None else env
    given = flags or {}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(typing.cast(Any, cls)):
        spec = spec_of(f)
        if spec is None:
            continue
        raw: object = given.get(spec.env)
        source = spec.flag or spec.env
        if raw is None or raw == "":
            raw, source = environ.get(spec.env, ""), spec.env
        if isinstance(raw, str) and not raw.strip():
            continue  # unset: the default
        values[f.name] = convert(raw, hints[f.name], _label(spec, source))
    return cls(**values)


def load_parts(
    bundle: type[T], env: Mapping[str, str] | None = None, flags: Mapping[str, object] | None = None
) -> T:
    """An instance of ``bundle``, a dataclass whose every field is a settings class, each
    part loaded with :func:`load` from the same ``env`` and ``flags``."""
    hints = typing.get_type_hints(bundle)
    parts = {
        f.name: load(hints[f.name], env, flags)
        for f in dataclasses.fields(typing.cast(Any, bundle))
    }
    return bundle(**parts)


def parts_of(bundle: type[Any]) -> list[type[Any]]:
    """The settings classes a bundle (see :func:`load_parts`) is made of."""
    hints = typing.get_type_hints(bundle)
    return [hints[f.name] for f in dataclasses.fields(bundle)]


def convert(raw: object, hint: Any, label: str) -> Any:
    """``raw`` (text, or a value of the right type already) as type ``hint``."""
    kind, optional = _unwrap(hint)
    if optional and isinstance(raw, str) and raw.strip().lower() in ("none", "null"):
        return None
    if not isinstance(raw, str):
        if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        if kind is tuple and isinstance(raw, list | tuple):
            return tuple(str(v) for v in raw)
        if isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
            return raw
        raise SettingsError(f"{raw!r} is not a valid {_type_name(hint)}", field=label)
    text = raw.strip()
    try:
        if kind is bool:
            return _bool(text)
        if kind is int:
            return int(text)
        if kind is float:
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("not a finite number")
            return value
        if kind is Path:
            return Path(text)
        if kind is tuple:
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return raw
    except ValueError:
        raise SettingsError(f"{raw!r} is not a valid {_type_name(hint)}", field=label) from None


def _bool(text: str) -> bool:
    low = text.lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise ValueError(text)


def _label(spec: Spec, source: str) -> str:
    if source == spec.flag:
        return f"{spec.flag} ({spec.env})"
    return spec.env


def _unwrap(hint: Any) -> tuple[type[Any], bool]:
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported settings type {hint!r}")
        return _unwrap(inner[0])[0], True
    if origin is tuple:
        return tuple, False
    if hint in (str, int, float, bool, Path):
        return typing.cast(type[Any], hint), False
    raise TypeError(f"unsupported settings type {hint!r}")


def _type_name(hint: Any) -> str:
    kind, optional = _unwrap(hint)
    names: dict[type[Any], str] = {tuple: "list", Path: "path"}
    name = names.get(kind, kind.__name__)
    return f"{name} or none" if optional else name


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)
