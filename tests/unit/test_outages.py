"""Outages per area (pure): entered as directory entities, validated by the province
loader, announced to callers of the area in force first, then coming."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vcc_domain.clock import ManualClock
from vcc_domain.directory_doc import Change, apply_and_validate, document_from_toml
from vcc_domain.errors import ConfigError
from vcc_domain.outages import Outage, incident_for, notices_for, spoken
from vcc_domain.province import Text
from vcc_ops.cli import example_province_path
from vcc_site.service.access import AccessService
from vcc_site.service.core import SiteCore
from vcc_site.service.recovery import seed_site
from vcc_site.service.selfservice import SelfService
from vcc_site.store.memory import MemorySiteStore

H = 3_600_000


def _ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def cable(**extra: object) -> dict[str, object]:
    return {
        "id": "km-cable",
        "kind": "planned",
        "area_codes": ["0871"],
        "starts_at": "2026-12-05T08:00:00+08:00",
        "ends_at": "2026-12-05T12:00:00+08:00",
        "notice": {"zh": "五华区线路检修", "en": "line work in Wuhua district"},
        **extra,
    }


@pytest.fixture(scope="module")
def doc() -> dict[str, object]:
    return document_from_toml(example_province_path().read_text(encoding="utf-8"))


def test_an_outage_entered_as_a_directory_entity_reaches_the_province(
    doc: dict[str, object],
) -> None:
    _, province = apply_and_validate(doc, [Change("outage", "upsert", "km-cable", cable())])
    (outage,) = province.outages
    assert outage == Outage(
        "km-cable",
        "planned",
        ("0871",),
        _ms("2026-12-05T08:00:00+08:00"),
        _ms("2026-12-05T12:00:00+08:00"),
        Text("五华区线路检修", "line work in Wuhua district"),
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"area_codes": ["0999"]}, "outages[0].area_codes[0]: unknown area code '0999'"),
        ({"ends_at": "2026-12-05T07:00:00+08:00"}, "outages[0].ends_at: must be after starts_at"),
        ({"starts_at": "2026-12-05T08:00:00"}, "outages[0].starts_at: must be a date and time"),
        ({"kind": "rumoured"}, "outages[0].kind: must be one of planned, unplanned"),
        ({"area_codes": []}, "outages[0].area_codes"),
        ({"colour": "red"}, "outages[0]"),
    ],
)
def test_a_bad_outage_is_refused_naming_its_field(
    doc: dict[str, object], extra: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        apply_and_validate(doc, [Change("outage", "upsert", "km-cable", cable(**extra))])
    problems = info.value.details["problems"]
    assert any(p.startswith(message) for p in problems), problems


def test_callers_hear_the_outages_of_their_area_in_force_first() -> None:
    notice = Text("停机", "outage")
    now = _ms("2026-12-05T09:00:00+08:00")
    later = Outage("b-later", "planned", ("0871",), now + 48 * H, now + 50 * H, notice)
    now_on = Outage("c-now", "unplanned", ("0871", "0874"), now - H, 0, notice)
    over = Outage("a-over", "planned", ("0871",), now - 5 * H, now - H, notice)
    far = Outage("d-far", "planned", ("0871",), now + 30 * 24 * H, 0, notice)
    elsewhere = Outage("e-dali", "planned", ("0872",), now - H, now + H, notice)
    every = [later, now_on, over, far, elsewhere]
    assert [o.id for o in notices_for(every, "0871", now)] == ["c-now", "b-later"]
    assert [o.id for o in notices_for(every, "0874", now)] == ["c-now"]
    assert notices_for(every, "0873", now) == []
    # an outage stops being announced when it ends; one starts being announced a week ahead
    assert notices_for([over], "0871", over.ends_at_ms - 1) == [over]
    assert notices_for([far], "0871", far.starts_at_ms - 7 * 24 * H) == [far]
    assert notices_for([far], "0871", far.starts_at_ms - 7 * 24 * H - 1) == []


def test_what_the_caller_hears_gives_the_times_in_beijing_time() -> None:
    start = round(datetime(2026, 12, 5, 0, 0, tzinfo=UTC).timestamp() * 1000)
    outage = Outage("x", "planned", ("0871",), start, start + 4 * H, Text("检修", "line work"))
    coming = spoken(outage, start - H)
    assert coming.en == "Planned outage from 2026-12-05 08:00 to 2026-12-05 12:00: line work"
    assert coming.zh.startswith("计划停机") and "2026-12-05 08:00" in coming.zh
    open_ended = Outage("y", "unplanned", ("0871",), start, 0, Text("光缆中断", "cable cut"))
    now = spoken(open_ended, start + H)
    assert now.en == "Unplanned outage since 2026-12-05 08:00, end not yet known: cable cut"
    assert "恢复时间另行通知" in now.zh


async def test_the_ivr_outage_node_reads_the_outages_of_the_callers_area(
    doc: dict[str, object],
) -> None:
    clock = ManualClock(_ms("2026-12-05T09:00:00+08:00") / 1000)
    _, province = apply_and_validate(doc, [Change("outage", "upsert", "km-cable", cable())])
    core = SiteCore(province, "KM", MemorySiteStore("KM"), clock)
    await seed_site(core, 4)
    access = AccessService(core, SelfService(core))

    async def heard(caller: str) -> list[str]:
        step = await access.offer_call(caller, "112")
        step = await access.send_digits(step.call_id, "3")  # outage notices
        return [p.en for p in step.prompts]

    km = await heard("08715550001")
    assert any("line work in Wuhua district" in p for p in km), km
    assert any("since 2026-12-05 08:00, expected back by 2026-12-05 12:00" in p for p in km)
    dali = await heard("08725550001")
    assert "There is no planned outage or line work in your area." in dali
    clock.advance(4 * 3600)  # 13:00: over
    assert "There is no planned outage or line work in your area." in await heard("08715550002")


def test_a_fault_reported_during_an_outage_belongs_to_its_incident() -> None:
    notice = Text("停机", "outage")
    now = _ms("2026-12-05T09:00:00+08:00")
    cut = Outage("km-cut", "unplanned", ("0871",), now - H, 0, notice, incident="inc-7")
    work = Outage("km-work", "planned", ("0871",), now - 2 * H, now + H, notice)
    coming = Outage("km-later", "planned", ("0871",), now + H, now + 2 * H, notice, "inc-9")
    assert incident_for([cut, coming], "0871", now) == "inc-7"
    assert incident_for([cut, work], "0871", now) == "km-work"  # the earlier; no incident: id
    assert incident_for([coming], "0871", now) == ""  # not yet in force
    assert incident_for([cut], "0872", now) == ""
