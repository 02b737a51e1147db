"""Typed, error-collecting readers over parsed TOML tables.

Each reader returns a usable placeholder when a value is wrong and records the problem
with its field path (``sites[1].seats``), so one pass reports every problem at once.
Keys a table never asked for are reported as unknown: a typo must not pass silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final

from vcc_domain.errors import ConfigError
from vcc_domain.province import Text


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "a table",
}


def type_name(value: Any) -> str:
    if isinstance(value, date):
        return "a date"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


class Problems:
    """The problems found so far, in file order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def error(self, source: str) -> ConfigError:
        lines = [f"{p}: {m}" if p else m for p, m in self.items]
        if len(self.items) == 1:
            path, message = self.items[0]
            return ConfigError(message, field=path or None, source=source, problems=lines)
        text = f"{len(lines)} problems in {source}:\n" + "\n".join(f"  {line}" for line in lines)
        return ConfigError(text, source=source, problems=lines)


class Table:
    """One TOML table being read, with its path and the shared problem list."""

    def __init__(self, data: Mapping[str, Any], path: str, problems: Problems) -> None:
        self.data = data
        self.path = path
        self.problems = problems
        self._seen: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def problem(self, key: str, message: str) -> None:
        self.problems.add(self.at(key) if key else self.path, message)

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, default: Any) -> tuple[bool, Any]:
        """(present, value); records a missing required field."""
        self._seen.add(key)
        if key in self.data:
            return True, self.data[key]
        if default is REQUIRED:
            self.problem(key, "required field is missing")
        return False, None

    def _typed(self, key: str, value: Any, kind: type | tuple[type, ...], want: str) -> bool:
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
        if not ok:
            self.problem(key, f"must be {want}, got {type_name(value)} {value!r}")
        return ok

    def string(
        self,
        key: str,
        default: Any = REQUIRED,
        pattern: re.Pattern[str] | None = None,
        choices: frozenset[str] | None = None,
    ) -> str:
        present, value = self._get(key, default)
        if not present:
            return default if isinstance(default, str) else ""
        if not self._typed(key, value, str, "a string"):
            return ""
        return self.check_str(key, value, pattern, choices)

    def check_str(
        self, key: str, value: str, pattern: re.Pattern[str] | None, choices: frozenset[str] | None
    ) -> str:
        if choices is not None and value not in choices:
            self.problem(key, f"must be one of {', '.join(sorted(choices))}; got {value!r}")
            return ""
        if pattern is not None and not pattern.fullmatch(value):
            self.problem(key, f"{value!r} does not match {pattern.pattern}")
            return ""
        if not value.strip():
            self.problem(key, "must not be empty")
        return value

    def optional_str(self, key: str, pattern: re.Pattern[str] | None = None) -> str | None:
        self._seen.add(key)
        return self.string(key, None, pattern) if key in self.data else None

    def integer(
        self, key: str, default: Any = REQUIRED, lo: int | None = None, hi: int | None = None
    ) -> int:
        present, value = self._get(key, default)
        if not present:
            return default if isinstance(default, int) else 0
        if not self._typed(key, value, int, "an integer"):
            return 0
        return self.check_int(key, value, lo, hi)

    def check_int(self, key: str, value: int, lo: int | None, hi: int | None) -> int:
        if lo is not None and value < lo:
            self.problem(key, f"must be >= {lo}, got {value}")
        elif hi is not None and value > hi:
            self.problem(key, f"must be <= {hi}, got {value}")
        return value

    def optional_int(self, key: str, lo: int | None = None, hi: int | None = None) -> int | None:
        self._seen.add(key)
        return self.integer(key, None, lo, hi) if key in self.data else None

    def number(self, key: str, lo: float, hi: float) -> float | None:
        present, value = self._get(key, None)
        if not present or not self._typed(key, value, (int, float), "a number"):
            return None
        if not lo <= value <= hi:
            self.problem(key, f"must be between {lo} and {hi}, got {value}")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        present, value = self._get(key, default)
        if not present or not self._typed(key, value, bool, "a boolean"):
            return default
        return bool(value)

    def day(self, key: str) -> date:
        present, value = self._get(key, REQUIRED)
        if present and isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        if present and isinstance(value, date):
            return value
        if present:
            self.problem(key, f"must be a date like 2024-01-01, got {value!r}")
        return date.min

    def instant_ms(self, key: str, default: Any = REQUIRED) -> int:
        """A moment with its UTC offset (TOML ``2026-12-05T08:00:00+08:00``, or the same as
        an ISO string in the directory's JSON), as ms since the epoch; 0 when absent."""
        present, value = self._get(key, default)
        if not present:
            return 0
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                pass
        if isinstance(value, datetime) and value.tzinfo is not None:
            return round(value.timestamp() * 1000)
        self.problem(
            key,
            f"must be a date and time with its offset, like 2026-12-05T08:00:00+08:00; got {value!r}",
        )
        return 0

    def strings(
        self,
        key: str,
        default: Any = REQUIRED,
        pattern: re.Pattern[str] | None = None,
        nonempty: bool = False,
    ) -> tuple[str, ...]:
        present, value = self._get(key, default)
        if not present:
            return tuple(default) if isinstance(default, tuple | list) else ()
        if not self._typed(key, value, list, "an array of strings"):
            return ()
        out = []
        for i, item in enumerate(value):
            if self._typed(f"{key}[{i}]", item, str, "a string"):
                out.append(self.check_str(f"{key}[{i}]", item, pattern, None))
        if nonempty and not value:
            self.problem(key, "must not be empty")
        return tuple(out)

    def integers(self, key: str, default: tuple[int, ...], lo: int, hi: int) -> tuple[int, ...]:
        present, value = self._get(key, default)
        if not present:
            return default
        if not self._typed(key, value, list, "an array of integers"):
            return default
        out = []
        for i, item in enumerate(value):
            if self._typed(f"{key}[{i}]", item, int, "an integer"):
                out.append(self.check_int(f"{key}[{i}]", item, lo, hi))
        return tuple(out)

    def number_map(
        self,
        key: str,
        lo: float,
        hi: float,
        integer: bool = False,
        key_choices: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        """An inline table of name -> number, e.g. ``skills = { billing = 4 }``."""
        sub = self.table(key)
        out: dict[str, Any] = {}
        if sub is None:
            return out
        for name, value in sub.data.items():
            sub._seen.add(name)
            if key_choices is not None and name not in key_choices:
                sub.problem(
                    name, f"unknown key {name!r}; expected one of {', '.join(sorted(key_choices))}"
                )
                continue
            kind = int if integer else (int, float)
            if not sub._typed(name, value, kind, "an integer" if integer else "a number"):
                continue
            if not lo <= value <= hi:
                sub.problem(name, f"must be between {lo} and {hi}, got {value}")
            out[name] = value if integer else float(value)
        return out

    def text(self, key: str) -> Text:
        """A bilingual text: ``{ zh = "...", en = "..." }``."""
        sub = self.table(key, required=True)
        if sub is None:
            return Text("", "")
        text = Text(sub.string("zh"), sub.string("en"))
        sub.close()
        return text

    def table(self, key: str, required: bool = False) -> Table | None:
        present, value = self._get(key, REQUIRED if required else None)
        if not present or not self._typed(key, value, dict, "a table"):
            return None
        return Table(value, self.at(key), self.problems)

    def tables(self, key: str, required: bool = False) -> list[Table]:
        """An array of tables (``[[key]]``), each with path ``key[i]``."""
        present, value = self._get(key, REQUIRED if required else None)
        if not present or not self._typed(key, value, list, "an array of tables"):
            return []
        out = []
        for i, item in enumerate(value):
            if self._typed(f"{key}[{i}]", item, dict, "a table"):
                out.append(Table(item, self.at(f"{key}[{i}]"), self.problems))
        if required and not value:
            self.problem(key, "must not be empty")
        return out

    def close(self) -> None:
        """Report every key that no reader asked for."""
        for key in self.data:
            if key not in self._seen:
                expected = ", ".join(sorted(self._seen)) or "nothing"
                self.problem(key, f"unknown key {key!r} (expected one of: {expected})")
