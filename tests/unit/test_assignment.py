"""Which city serves what: where a call for a business is served (pure domain)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcc_domain.assignment import Placement, placement
from vcc_domain.errors import NotFound
from vcc_domain.province import load_province_file, parse_province

EXAMPLE = Path(__file__).resolve().parents[2] / "ops" / "vcc_ops" / "examples" / "yunnan.toml"
PROVINCE = load_province_file(EXAMPLE)

# a test-only variation: suggestions are taken in Dali, Qujing and Yuxi only
SUGGESTION = 'kind = "suggestion"\nskill = "general"\n'
VARIED = parse_province(
    EXAMPLE.read_text(encoding="utf-8").replace(
        SUGGESTION, SUGGESTION + 'accepting_sites = ["DL", "QJ", "YX"]\n', 1
    ),
    "varied.toml",
)


def test_a_site_that_accepts_the_business_serves_it_itself() -> None:
    assert placement(PROVINCE, "general", "HH") == Placement(here=True)
    assert placement(PROVINCE, "whistleblowing", "KM") == Placement(here=True)


def test_a_site_that_does_not_accept_it_sends_it_to_the_only_site_that_does() -> None:
    where = placement(PROVINCE, "whistleblowing", "DL")
    assert where == Placement(here=False, candidates=("KM",))
    assert not where.refused


def test_candidates_are_the_accepting_sites_nearest_first() -> None:
    assert VARIED.business("suggestion").accepting_sites == ("DL", "QJ", "YX")
    km = placement(VARIED, "suggestion", "KM")
    assert not km.here
    # Yuxi (~80 km) before Qujing (~100 km) before Dali (330 km by road, from the file)
    assert km.candidates == ("YX", "QJ", "DL")
    distances = [VARIED.distance_km("KM", s) for s in km.candidates]
    assert distances == sorted(distances)
    # from Honghe (Mengzi) Yuxi is nearer than Qujing too; Dali is farthest
    assert placement(VARIED, "suggestion", "HH").candidates == ("YX", "QJ", "DL")
    # an accepting site never sends the call on
    assert placement(VARIED, "suggestion", "QJ").here


def test_an_equal_distance_is_broken_by_site_id() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("distances_km = { DL = 330.0 }", "distances_km = { DL = 50.0, QJ = 50.0 }")
    text = text.replace(SUGGESTION, SUGGESTION + 'accepting_sites = ["QJ", "DL"]\n', 1)
    province = parse_province(text, "tie.toml")
    assert placement(province, "suggestion", "KM").candidates == ("DL", "QJ")


def test_no_other_site_accepting_it_is_a_refusal() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        SUGGESTION, SUGGESTION + 'accepting_sites = ["KM"]\n', 1
    )
    province = parse_province(text, "km-only.toml")
    assert placement(province, "suggestion", "KM").here
    assert placement(province, "suggestion", "DL") == Placement(here=False, candidates=("KM",))
    assert Placement(here=False).refused
    assert not Placement(here=True).refused


def test_unknown_business_or_site_is_not_found() -> None:
    with pytest.raises(NotFound):
        placement(PROVINCE, "nope", "KM")
    with pytest.raises(NotFound):
        placement(PROVINCE, "general", "ZZ")
