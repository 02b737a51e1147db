"""The province file: the shipped example loads, and invalid files fail naming the field."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vcc_domain.errors import ConfigError, NotFound
from vcc_domain.province import (
    AgentGroup,
    GroupPattern,
    Province,
    Role,
    expand_agent_group,
    load_province_file,
    parse_province,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "ops" / "vcc_ops" / "examples" / "yunnan.toml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
PROVINCE = load_province_file(EXAMPLE)


def _broken(*edits: tuple[str, str]) -> ConfigError:
    text = EXAMPLE_TEXT
    for old, new in edits:
        assert old in text, f"example no longer contains {old!r}"
        text = text.replace(old, new, 1)
    with pytest.raises(ConfigError) as info:
        parse_province(text, "broken.toml")
    return info.value


# -- the example ---------------------------------------------------------------------


def test_example_has_the_expected_shape() -> None:
    assert PROVINCE.name == "Yunnan"
    assert len(PROVINCE.sites) >= 4
    assert len(PROVINCE.agents) >= 300
    assert PROVINCE.site("KM").seats == 200
    assert {"KM", "QJ", "DL", "YX"} <= {s.id for s in PROVINCE.sites}
    assert PROVINCE.site("DL").area_codes == ("0872",)
    takers = [a for a in PROVINCE.agents_at("KM") if a.takes_calls]
    assert len(takers) == PROVINCE.site("KM").seats


def test_every_dialed_code_maps_to_exactly_one_business() -> None:
    codes = [c for b in PROVINCE.businesses for c in b.dialed_codes]
    assert len(codes) == len(set(codes))
    assert {"1000", "112", "114", "170", "180", "189"} <= set(codes)
    for b in PROVINCE.businesses:
        for code in b.dialed_codes:
            assert PROVINCE.business_for_code(code).id == b.id
    assert PROVINCE.business_for_code("112").kind == "fault"


def test_unknown_code_goes_to_the_general_business() -> None:
    assert PROVINCE.business_for_code("99999").id == PROVINCE.general_business == "general"


def test_nearest_sites_start_at_home_and_grow_in_distance() -> None:
    order = PROVINCE.nearest_sites("0872")
    assert order[0].id == "DL"
    distances = [PROVINCE.distance_km("DL", s.id) for s in order]
    assert distances == sorted(distances)
    assert PROVINCE.nearest_sites("0871")[0].id == "KM"
    with pytest.raises(NotFound):
        PROVINCE.nearest_sites("0999")


def test_explicit_distance_wins_over_coordinates() -> None:
    assert PROVINCE.distance_km("KM", "DL") == PROVINCE.distance_km("DL", "KM") == 330.0
    assert 100 < PROVINCE.distance_km("KM", "QJ") < 140  # great circle, ~120 km


def test_agents_are_expanded_with_stable_ids_and_levels() -> None:
    km = PROVINCE.agents_at("KM")
    assert PROVINCE.agent("KM-0001").home_site == "KM"
    assert all(1 <= lvl <= 5 for a in PROVINCE.agents for lvl in a.skills.values())
    general = [a for a in km if a.role is Role.GENERAL]
    assert general and all(a.general_level is not None for a in general)
    assert any(a.role is Role.QA and a.id.startswith("KM-QA-") for a in km)


def test_businesses_carry_ivr_sla_and_work_orders() -> None:
    fault = PROVINCE.business("fault")
    assert fault.service_levels["vip"].percent == 95
    assert fault.service_levels["ordinary"].percent == 85
    assert fault.work_order is not None and fault.work_order.callback_percent == 5
    complaint = PROVINCE.business("complaint").work_order
    assert complaint is not None and (
        complaint.deadline_working_days,
        complaint.latest_working_days,
    ) == (2, 4)
    assert PROVINCE.business("whistleblowing").accepting_sites == ("KM",)
    assert PROVINCE.business("general").accepts("HH")
    menu = PROVINCE.business("general").ivr
    assert menu.max_invalid_tries == PROVINCE.routing.max_invalid_tries == 3
    assert menu.node(menu.root).prompt.en.startswith("Welcome")
    assert PROVINCE.tiers.target("vip").percent == 90


def test_tariff_charges_per_started_unit() -> None:
    tariff = PROVINCE.tariff_on(date(2025, 6, 1))
    assert tariff.version == "2025-01"
    assert [tariff.access_charge_fen(s) for s in (0, 1, 180, 181, 360)] == [0, 18, 18, 36, 36]
    assert tariff.inter_site_fee_fen(61) == 10 + 2 * 5
    assert PROVINCE.tariff_on(date(2024, 1, 1)).version == "2023-01"
    with pytest.raises(NotFound):
        PROVINCE.tariff_on(date(2000, 1, 1))


def test_content_hash_is_stable_and_follows_content() -> None:
    again = parse_province(EXAMPLE_TEXT)
    assert again == PROVINCE
    assert again.content_hash() == PROVINCE.content_hash()
    json.dumps(PROVINCE.to_dict())
    changed = parse_province(EXAMPLE_TEXT.replace("seats = 40", "seats = 41", 1))
    assert changed.content_hash() != PROVINCE.content_hash()


# -- invalid files -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'home_site = "KM"\nrole = "system_admin"',
            'home_site = "XX"\nrole = "system_admin"',
            "agents[0].home_site: unknown site 'XX'",
        ),
        (
            'dialed_codes = ["114"]',
            'dialed_codes = ["112"]',
            "businesses[2].dialed_codes[0]: '112' is already used by business 'fault'",
        ),
        ("seats = 200", "seats = -5", "sites[0].seats: must be >= 0, got -5"),
        ("seats = 200", 'seats = "200"', "sites[0].seats: must be an integer"),
        ("ivr_ports = 450", "ivr_port = 450", "sites[0].ivr_port: unknown key 'ivr_port'"),
        (
            '"5" = "directory"',
            '"5" = "nowhere"',
            "businesses[0].ivr.nodes[0].options.5: unknown IVR node 'nowhere'",
        ),
        ('queue = "bill"', 'queue = "billz"', "businesses[0].ivr.nodes[1].queue: unknown business"),
        ('name = "Yunnan"\n', "", "province.name: required field is missing"),
        ('id = "QJ"', 'id = "KM"', "sites[1].id: duplicate site 'KM'"),
        (
            "distances_km = { DL = 330.0 }",
            "distances_km = { XX = 3.0 }",
            "sites[0].distances_km.XX: unknown site 'XX'",
        ),
        (
            'accepting_sites = ["KM"]',
            'accepting_sites = ["ZZ"]',
            "businesses[5].accepting_sites[0]: unknown site 'ZZ'",
        ),
        ('skill = "fault"', 'skill = "faults"', "businesses[1].skill: unknown skill 'faults'"),
        (
            "skills = { complaint = 5, fault = 5 }",
            "skills = { complaint = 6 }",
            "agents[1].skills.complaint: must be between 1 and 5, got 6",
        ),
        (
            "vip = { percent = 90, within_s = 20 }",
            "vip = { percent = 101, within_s = 20 }",
            "customer_tiers.service_level.vip.percent: must be <= 100, got 101",
        ),
        (
            'id_prefix = "KM-DM"',
            'id_prefix = "KM-QA"\nstart = 1',
            "agent_groups[5]: duplicate agent id 'KM-QA-0001'",
        ),
        ('role = "qa"', 'role = "cleaner"', "agent_groups[4].role: must be one of"),
        ("general_levels = [2, 3, 4, 3, 5]", "", "agent_groups[1].general_levels: a general agent"),
    ],
)
def test_invalid_file_names_the_field(old: str, new: str, expected: str) -> None:
    err = _broken((old, new))
    assert expected in str(err)
    assert err.details["source"] == "broken.toml"


def test_malformed_toml_names_the_line() -> None:
    text = EXAMPLE_TEXT.rstrip("\n") + "\nthis is = = not toml\n"
    line = text.count("\n")
    with pytest.raises(ConfigError) as info:
        parse_province(text)
    assert str(info.value).startswith(f"line {line}: ")


def test_all_problems_are_reported_together() -> None:
    err = _broken(
        ("seats = 200", "seats = -5"),
        ('dialed_codes = ["114"]', 'dialed_codes = ["112"]'),
        ('home_site = "KM"\nrole = "system_admin"', 'home_site = "XX"\nrole = "system_admin"'),
    )
    problems = err.details["problems"]
    assert len(problems) == 3
    assert str(err).startswith("3 problems in broken.toml:")
    for field in ("sites[0].seats", "businesses[2].dialed_codes[0]", "agents[0].home_site"):
        assert any(p.startswith(field) for p in problems)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_province_file(tmp_path / "nope.toml")


# -- properties ----------------------------------------------------------------------


@given(
    count=st.integers(1, 300),
    start=st.integers(0, 5000),
    prefix=st.sampled_from(["KM", "QJ-X", "A1"]),
    skills=st.lists(st.sampled_from(["billing", "fault", "complaint"]), max_size=4),
    levels=st.lists(st.integers(1, 5), min_size=1, max_size=5),
    pattern=st.sampled_from(list(GroupPattern)),
)
def test_group_expansion_yields_count_agents_with_stable_unique_ids(
    count: int,
    start: int,
    prefix: str,
    skills: list[str],
    levels: list[int],
    pattern: GroupPattern,
) -> None:
    group = AgentGroup(
        "KM", count, prefix, start, Role.SPECIALIST, tuple(skills), pattern, tuple(levels)
    )
    agents = expand_agent_group(group)
    assert len(agents) == count
    assert len({a.id for a in agents}) == count
    assert agents[0].id == f"{prefix}-{start:04d}"
    assert expand_agent_group(group) == agents
    for a in agents:
        assert set(a.skills) <= set(skills)
        assert all(lvl in levels for lvl in a.skills.values())


@given(
    st.sampled_from([s.id for s in PROVINCE.sites]), st.sampled_from([s.id for s in PROVINCE.sites])
)
def test_distance_is_symmetric_and_zero_only_to_itself(a: str, b: str) -> None:
    d = PROVINCE.distance_km(a, b)
    assert d == PROVINCE.distance_km(b, a)
    assert (d == 0) == (a == b)


def test_province_type_is_frozen() -> None:
    with pytest.raises(AttributeError):
        PROVINCE.name = "Other"  # type: ignore[misc]
    assert isinstance(PROVINCE, Province)
