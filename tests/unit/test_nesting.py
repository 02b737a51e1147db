"""Nesting bounds of documents read from outside."""

from __future__ import annotations

import json

import pytest

from vcc_domain.errors import InvalidInput
from vcc_domain.nesting import MAX_DEPTH, check_depth, parse_bounded


def nested(depth: int) -> object:
    """``depth`` arrays one inside the other."""
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_depth_at_the_limit_passes_and_one_more_is_refused() -> None:
    assert check_depth(nested(MAX_DEPTH), "doc") == nested(MAX_DEPTH)
    with pytest.raises(InvalidInput) as err:
        check_depth([nested(MAX_DEPTH)], "doc")
    assert err.value.field == "doc"


def test_maps_count_as_levels() -> None:
    with pytest.raises(InvalidInput):
        check_depth({"a": {"b": nested(MAX_DEPTH)}}, "doc")


def test_input_too_deep_to_parse_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_bounded(lambda: json.loads("[" * 200_000 + "]" * 200_000), "entity_json")
    assert err.value.field == "entity_json"
