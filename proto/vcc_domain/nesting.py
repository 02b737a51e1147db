"""Nesting bounds of documents read from outside (province TOML, directory JSON).

The parsers recurse once per level of nesting: input nested thousands deep exhausts the
interpreter's stack (a RecursionError, which reached callers as INTERNAL with a long
traceback). :func:`parse_bounded` turns that into InvalidInput naming the field, and
:func:`check_depth` (iterative) refuses documents nested deeper than any province needs,
so later recursive walks (conversion, hashing, validation) stay far from the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from vcc_domain.errors import InvalidInput

T = TypeVar("T")

#: A province document nests about 5 deep (tables of arrays of tables of maps).
MAX_DEPTH = 32


def parse_bounded(parse: Callable[[], T], field: str) -> T:
    """``parse()``; InvalidInput naming ``field`` when the input is nested too deep to
    parse at all."""
    try:
        return parse()
    except RecursionError:
        raise InvalidInput(
            f"the document is nested deeper than {MAX_DEPTH} levels", field=field
        ) from None


def check_depth(value: Any, field: str, limit: int = MAX_DEPTH) -> Any:
    """``value`` when its tables and arrays nest at most ``limit`` deep, else InvalidInput
    naming ``field``. Walks iteratively (no recursion of its own)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            raise InvalidInput(f"the document is nested deeper than {limit} levels", field=field)
        stack.extend((child, depth + 1) for child in children)
    return value
