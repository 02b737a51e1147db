"""Typed settings: the loader (flags beat variables beat defaults, a bad value names its
variable), the registry of every process's settings and the README's generated table."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from vcc_domain.clock import ScaledClock, SystemClock
from vcc_hub.settings import HubNodeSettings, ReportsSettings, load_hub_settings
from vcc_ops.cli import main
from vcc_ops.settings_cli import BEGIN, END, readme_block, replace_section
from vcc_ops.settings_registry import PROCESSES, all_parts, parts_for, variables_for
from vcc_proto.nodeconfig import TimeSettings
from vcc_proto.settings import SettingsError, describe, load, setting
from vcc_site.settings import SiteNodeSettings, WorkOrderSettings, load_site_settings

README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass(frozen=True, slots=True)
class Sample:
    count: int = setting("VCC_T_COUNT", 3, "how many", flag="--count")
    ratio: float = setting("VCC_T_RATIO", 0.5, "how much")
    on: bool = setting("VCC_T_ON", True, "whether")
    name: str = setting("VCC_T_NAME", "x", "what")
    path: Path | None = setting("VCC_T_PATH", None, "where")
    items: tuple[str, ...] = setting("VCC_T_ITEMS", (), "which")


def test_defaults_when_nothing_is_given() -> None:
    assert load(Sample, {}) == Sample()
    assert load(Sample, {"VCC_T_COUNT": "", "VCC_T_NAME": "  "}) == Sample()


def test_variables_are_converted_to_the_field_types() -> None:
    got = load(
        Sample,
        {
            "VCC_T_COUNT": "7",
            "VCC_T_RATIO": "2",
            "VCC_T_ON": "off",
            "VCC_T_NAME": "km",
            "VCC_T_PATH": "/tmp/x",
            "VCC_T_ITEMS": "a, b,,c",
        },
    )
    assert got == Sample(7, 2.0, False, "km", Path("/tmp/x"), ("a", "b", "c"))


def test_a_flag_beats_its_variable() -> None:
    got = load(Sample, {"VCC_T_COUNT": "7"}, flags={"VCC_T_COUNT": 9})
    assert got.count == 9
    assert load(Sample, {"VCC_T_COUNT": "7"}, flags={"VCC_T_COUNT": "11"}).count == 11
    assert load(Sample, {"VCC_T_COUNT": "7"}, flags={"VCC_T_COUNT": None}).count == 7


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"VCC_T_COUNT": "many"}, "VCC_T_COUNT: 'many' is not a valid int"),
        ({"VCC_T_RATIO": "nan"}, "VCC_T_RATIO: 'nan' is not a valid float"),
        ({"VCC_T_ON": "maybe"}, "VCC_T_ON: 'maybe' is not a valid bool"),
    ],
)
def test_a_bad_variable_is_an_error_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(Sample, env)
    assert str(caught.value) == named


def test_a_bad_flag_is_an_error_naming_the_flag_and_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        load(Sample, {}, flags={"VCC_T_COUNT": "lots"})
    assert str(caught.value) == "--count (VCC_T_COUNT): 'lots' is not a valid int"


def test_settings_are_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        load(Sample, {}).count = 1  # type: ignore[misc]


def test_describe_lists_variable_flag_type_default_and_meaning() -> None:
    first = describe(Sample)[0]
    assert (first.env, first.flag, first.type, first.default, first.help) == (
        "VCC_T_COUNT",
        "--count",
        "int",
        "3",
        "how many",
    )
    assert describe(Sample)[4].type == "path or none"


def test_site_settings_load_every_part_from_one_environment() -> None:
    got = load_site_settings(
        {
            "VCC_OVERFLOW": "off",
            "VCC_RELAY_BATCH": "10",
            "VCC_SITE_ENDPOINTS": "KM=h:1",
            "VCC_TIME_SPEED": "60",
        },
        flags={"VCC_SEED_CUSTOMERS": 5},
    )
    assert not got.overflow.enabled and got.relay.batch == 10
    assert got.sites.static_map() == {"KM": "h:1"} and got.site.seed_customers == 5
    assert isinstance(got.time.clock(), ScaledClock)
    assert load_site_settings({}) == SiteNodeSettings()
    assert isinstance(SiteNodeSettings().time.clock(), SystemClock)


def test_checks_beyond_the_type_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="VCC_HOLIDAYS"):
        load(WorkOrderSettings, {"VCC_HOLIDAYS": "2025-13-01"})
    with pytest.raises(SettingsError, match="VCC_SQI"):
        load(ReportsSettings, {"VCC_SQI": "{not json"})
    with pytest.raises(SettingsError, match="VCC_TIME_SPEED"):
        load(TimeSettings, {"VCC_TIME_SPEED": "0.5"}).clock()
    assert load_hub_settings({"VCC_EVENT_GAP_GRACE_S": "4"}).events.gap_grace_s == 4.0
    assert load_hub_settings({}) == HubNodeSettings()


def test_each_variable_means_one_thing_per_process() -> None:
    for process in PROCESSES:
        names = [info.env for part in parts_for(process) for info in describe(part)]
        assert len(names) == len(set(names)), process
        assert all(name.startswith("VCC_") for name in names)
    assert "VCC_OVERFLOW" in variables_for("site") and "VCC_OVERFLOW" not in variables_for("hub")
    assert all(parts for parts in all_parts().values())


def test_vcc_settings_prints_json_and_markdown() -> None:
    runner = CliRunner()
    shown = runner.invoke(main, ["settings", "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"VCC_FAULT_DROP_EVENT"' in shown.output and '"VCC_NATS"' in shown.output
    table = runner.invoke(main, ["settings", "--markdown"])
    assert "| `VCC_OVERFLOW` |" in table.output


def test_readme_settings_table_is_up_to_date() -> None:
    text = README.read_text(encoding="utf-8")
    expected = replace_section(text, readme_block(main))
    assert text == expected, (
        "the README's settings table is out of date: run `vcc settings --readme README.md`"
    )


def test_replace_section_needs_one_pair_of_markers() -> None:
    assert replace_section(f"a\n{BEGIN}\nold\n{END}\nb", "new") == f"a\n{BEGIN}\nnew\n{END}\nb"
    with pytest.raises(ValueError):
        replace_section("no markers", "new")
