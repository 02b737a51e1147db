"""The IVR engine walking the example province's real menus (pure, no I/O)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vcc_domain.errors import Conflict, InvalidInput
from vcc_domain.province import Business, Province, SelfService, Text, load_province_file
from vcc_site.domain.ivr import (
    Collect,
    End,
    IvrSession,
    IvrStep,
    Queue,
    RunService,
    ServiceResult,
    Stage,
    on_digits,
    on_service_result,
    start_ivr,
)
from vcc_site.domain.ivr_texts import (
    ASK_CODE,
    BAD_PIN,
    FORGOT_HINT,
    IDENTIFIED_ASK_PIN,
    NOT_OWN_LINE,
    PIN_MISMATCH,
    TO_AGENT,
    WEAK_PIN,
)

ROOT = Path(__file__).resolve().parents[3]
YUNNAN = load_province_file(ROOT / "ops" / "vcc_ops" / "examples" / "yunnan.toml")


@pytest.fixture(scope="module")
def province() -> Province:
    return YUNNAN


def biz(business_id: str) -> Business:
    return YUNNAN.business(business_id)


def snapshot(session: IvrSession) -> tuple[object, ...]:
    return (
        session.node_id,
        session.stage,
        session.invalid_count,
        list(session.path),
        dict(session.collected),
        session.outcome,
    )


# -- menus -------------------------------------------------------------------------------------


def test_start_plays_main_menu_and_collects_one_key() -> None:
    session, step = start_ivr(biz("general"))
    main = biz("general").ivr.node("main")
    assert step.prompts == (main.prompt,)
    assert step.action == Collect(1, 5_000, barge_in=True)
    assert step.texts("en")[0].startswith("Welcome to Yunnan")
    assert session.node_id == "main" and not session.finished


def test_option_to_another_business_queue() -> None:
    session, _ = start_ivr(biz("general"))
    step = on_digits(session, "1")
    assert step.action == Queue("bill")
    assert step.prompts == ()  # prompt-less queue node just queues
    assert session.finished and session.outcome == Queue("bill")
    assert session.path_text() == "main:1 > queue:bill"


def test_option_to_own_queue_plays_prompt() -> None:
    session, _ = start_ivr(biz("general"))
    step = on_digits(session, "0")
    assert step.action == Queue("general")
    assert step.texts("en") == ("Connecting you to an agent, please hold.",)


def test_invalid_key_reprompts_with_invalid_prompt() -> None:
    menu = biz("general").ivr
    session, _ = start_ivr(biz("general"))
    step = on_digits(session, "9")
    assert step.prompts == (menu.invalid_prompt, menu.node("main").prompt)
    assert isinstance(step.action, Collect)
    assert session.invalid_count == 1
    assert step.texts("zh")[0] == "按键无效，请重新选择。"
    assert on_digits(session, "0").action == Queue("general")
    assert session.path == ["main:9(invalid)", "main:0", "queue:general"]


def test_no_input_replays_menu_and_counts() -> None:
    session, _ = start_ivr(biz("general"))
    step = on_digits(session, "")
    assert step.prompts == (biz("general").ivr.node("main").prompt,)
    assert session.invalid_count == 1


@pytest.mark.parametrize("business_id", ["general", "directory", "complaint", "fault"])
def test_invalid_limit_goes_to_agent(business_id: str) -> None:
    business = biz(business_id)
    limit = business.ivr.max_invalid_tries
    session, _ = start_ivr(business)
    for _ in range(limit - 1):
        assert isinstance(on_digits(session, "*").action, Collect)
    step = on_digits(session, "*")
    assert step.action == Queue(business_id)
    assert step.prompts[-1] == TO_AGENT
    assert session.invalid_count == limit
    assert session.path[-2:] == ["invalid_limit", f"queue:{business_id}"]


def test_directory_menu_override_of_max_invalid_tries() -> None:
    assert biz("directory").ivr.max_invalid_tries == 2
    assert biz("general").ivr.max_invalid_tries == YUNNAN.routing.max_invalid_tries


@pytest.mark.parametrize("digits", ["a", "1 2", "12x", "+", "١", "1" * 33])
def test_bad_digits_are_refused_and_change_nothing(digits: str) -> None:
    session, _ = start_ivr(biz("general"))
    on_digits(session, "9")
    before = snapshot(session)
    with pytest.raises(InvalidInput) as err:
        on_digits(session, digits)
    assert err.value.field == "digits"
    assert snapshot(session) == before


def test_digits_after_end_conflict() -> None:
    session, _ = start_ivr(biz("complaint"))
    on_digits(session, "2")
    assert session.outcome == Queue("whistleblowing")
    with pytest.raises(Conflict):
        on_digits(session, "1")


def test_unknown_language_refused() -> None:
    with pytest.raises(InvalidInput):
        start_ivr(biz("general"), lang="fr")


def test_type_ahead_through_menus() -> None:
    session, _ = start_ivr(biz("bill"))
    step = on_digits(session, "0123")  # 0 queues; the rest is dropped
    assert step.action == Queue("bill")
    assert session.path == ["main:0", "queue:bill"]


# -- bill query ----------------------------------------------------------------------------------


def test_bill_query_asks_account_then_pin_then_runs_service() -> None:
    node = biz("bill").ivr.node("bill_query")
    session, _ = start_ivr(biz("bill"))
    step = on_digits(session, "1")
    assert step.prompts[0] == node.prompt
    assert step.action == Collect(20, 10_000, terminator="#")
    step = on_digits(session, "87161234567#")
    assert step.action == Collect(6, 10_000, terminator="#")
    assert step.texts("en") == ("Please key your 6-digit PIN.",)
    step = on_digits(session, "482915")
    assert step.action == RunService(
        SelfService.BILL_QUERY,
        {"account_source": "keyed", "account": "87161234567", "pin": "482915"},
    )
    assert "482915" not in repr(step) and "482915" not in repr(session)
    assert session.collected == {}
    answer = Text("您本月话费为58.30元。", "Your bill this month is 58.30 yuan.")
    step = on_service_result(session, ServiceResult(True, (answer,)))
    assert step.prompts == (answer, biz("bill").ivr.node("main").prompt)
    assert isinstance(step.action, Collect) and session.node_id == "main"
    assert session.path_text() == ("main:1 > bill_query:account > bill_query:pin > bill_query:ok")
    assert "482915" not in session.path_text()


def test_bill_query_identified_caller_skips_account() -> None:
    session, _ = start_ivr(biz("bill"), "en", caller_identified=True, caller_account="A-1")
    step = on_digits(session, "1")
    assert step.prompts == (IDENTIFIED_ASK_PIN,)
    step = on_digits(session, "482915#")
    assert isinstance(step.action, RunService)
    assert step.action.inputs == {"account_source": "caller", "account": "A-1", "pin": "482915"}


def test_bill_query_bad_account_and_pin_reask() -> None:
    session, _ = start_ivr(biz("bill"))
    on_digits(session, "1")
    step = on_digits(session, "12*3#")
    assert (session.stage, session.invalid_count) == (Stage.ACCOUNT, 1)
    assert step.texts("en")[-1].startswith("Please key your contract")
    on_digits(session, "123#")
    assert session.invalid_count == 0
    step = on_digits(session, "12345")
    assert step.prompts[0] == BAD_PIN and session.stage is Stage.PIN


def test_bill_query_locked_account_goes_to_agent() -> None:
    session, _ = start_ivr(biz("bill"))
    on_digits(session, "1")
    on_digits(session, "123#")
    on_digits(session, "000001")
    locked = Text("账户已锁定。", "The account is locked.")
    step = on_service_result(session, ServiceResult(False, (locked,), to_agent=True))
    assert step == IvrStep((locked,), Queue("bill"))
    assert session.path[-3:] == ["bill_query:failed", "to_agent", "queue:bill"]


def test_digits_while_service_runs_and_result_without_service_conflict() -> None:
    session, _ = start_ivr(biz("fault"))
    with pytest.raises(Conflict):
        on_service_result(session, ServiceResult(True))
    step = on_digits(session, "3")
    assert step.action == RunService(SelfService.OUTAGE_NOTICE, {})
    assert step.prompts == (biz("fault").ivr.node("outage").prompt,)
    with pytest.raises(Conflict):
        on_digits(session, "1")


# -- set PIN ----------------------------------------------------------------------------------


CODE = "480213"  # the one-time code the customer received


def _at_new_pin(session: IvrSession) -> None:
    """Option 2 (set PIN) on the customer's own line with no PIN yet: a code is sent,
    the caller keys it, and the IVR asks for the new PIN."""
    step = on_digits(session, "2")
    assert step.prompts == (biz("bill").ivr.node("set_pin").prompt,)
    assert step.action == RunService(SelfService.SET_PIN, {"send_code": "1"})
    step = on_service_result(session, ServiceResult(True, code_sent=True))
    assert step.prompts == (ASK_CODE,) and step.action == Collect(6, 10_000, terminator="#")
    on_digits(session, CODE)
    assert session.stage is Stage.NEW_PIN


def test_set_pin_from_own_line_needs_the_code_sent_to_it() -> None:
    session, _ = start_ivr(biz("bill"), caller_identified=True)
    _at_new_pin(session)
    on_digits(session, "739164")
    assert session.stage is Stage.CONFIRM_PIN
    step = on_digits(session, "739164")
    assert step.action == RunService(SelfService.SET_PIN, {"pin": "739164", "code": CODE})
    step = on_service_result(session, ServiceResult(True))
    assert session.node_id == "main" and isinstance(step.action, Collect)
    assert "739164" not in session.path_text() and CODE not in session.path_text()


def test_a_set_pin_is_changed_with_the_old_one_or_a_code_when_forgotten() -> None:
    session, _ = start_ivr(biz("bill"), caller_identified=True, pin_set=True)
    step = on_digits(session, "2")
    assert step.prompts[-1] == FORGOT_HINT and session.stage is Stage.OLD_PIN
    on_digits(session, "*")  # forgotten
    assert session.stage is Stage.SERVICE and "set_pin:old_pin:forgotten" in session.path
    on_service_result(session, ServiceResult(True, code_sent=True))
    on_digits(session, CODE)
    on_digits(session, "739164")
    step = on_digits(session, "739164")
    assert step.action == RunService(SelfService.SET_PIN, {"pin": "739164", "code": CODE})


def test_set_pin_not_identified_is_refused_and_returns_to_next() -> None:
    session, _ = start_ivr(biz("bill"), caller_identified=False)
    step = on_digits(session, "2")
    assert step.prompts == (NOT_OWN_LINE, biz("bill").ivr.node("main").prompt)
    assert session.node_id == "main" and isinstance(step.action, Collect)
    assert "set_pin:not_own_line" in session.path


@pytest.mark.parametrize("weak", ["000000", "123456", "654321", "121212", "999999"])
def test_weak_pin_reasks(weak: str) -> None:
    session, _ = start_ivr(biz("bill"), caller_identified=True)
    _at_new_pin(session)
    step = on_digits(session, weak)
    assert step.prompts[0] == WEAK_PIN and session.stage is Stage.NEW_PIN


def test_mismatched_pin_starts_over() -> None:
    session, _ = start_ivr(biz("bill"), caller_identified=True)
    _at_new_pin(session)
    on_digits(session, "739164")
    step = on_digits(session, "739165")
    assert step.prompts[0] == PIN_MISMATCH and session.stage is Stage.NEW_PIN
    assert session.collected == {"code": CODE}  # the code stays for the retry
    on_digits(session, "582047")
    step = on_digits(session, "582047")
    assert step.action == RunService(SelfService.SET_PIN, {"pin": "582047", "code": CODE})


def test_repeated_weak_pins_end_at_agent() -> None:
    session, _ = start_ivr(biz("bill"), caller_identified=True)
    _at_new_pin(session)
    for _ in range(2):
        on_digits(session, "111111")
    step = on_digits(session, "111111")
    assert step.action == Queue("bill") and "invalid_limit" in session.path


# -- 114 ---------------------------------------------------------------------------------------


def test_directory_lookup_with_name_key() -> None:
    session, _ = start_ivr(biz("directory"))
    step = on_digits(session, "1")
    assert step.prompts[0] == biz("directory").ivr.node("lookup").prompt
    assert step.action == Collect(20, 10_000, terminator="#")
    step = on_digits(session, "2633#")
    assert step.action == RunService(SelfService.DIRECTORY_114, {"name_key": "2633"})
    found = Text("云南大学：0871-65031234。", "Yunnan University: 0871-65031234.")
    step = on_service_result(session, ServiceResult(True, (found,)))
    assert step.prompts[0] == found and session.node_id == "main"
    assert session.path_text() == "main:1 > lookup:name_key > lookup:ok"


def test_directory_without_keys_runs_service_directly() -> None:
    session, _ = start_ivr(biz("general"))
    on_digits(session, "5")
    step = on_digits(session, "")
    assert step.action == RunService(SelfService.DIRECTORY_114, {})


def test_service_without_next_ends() -> None:
    fault = biz("fault")
    nodes = tuple(replace(n, next=None) if n.id == "outage" else n for n in fault.ivr.nodes)
    business = replace(fault, ivr=replace(fault.ivr, nodes=nodes))
    session, _ = start_ivr(business)
    on_digits(session, "3")
    step = on_service_result(session, ServiceResult(True))
    assert step.action == End("self_service_done")
    with pytest.raises(Conflict):
        on_digits(session, "1")


# -- property -----------------------------------------------------------------------------------

DIGIT_STRINGS = st.text(alphabet="0123456789*#", max_size=8)
EVENTS = st.lists(
    st.one_of(DIGIT_STRINGS, st.builds(ServiceResult, st.booleans(), st.just(()), st.booleans())),
    max_size=40,
)


def well_formed(step: IvrStep) -> None:
    assert isinstance(step.prompts, tuple)
    assert all(isinstance(p, Text) for p in step.prompts)
    assert isinstance(step.action, Collect | Queue | RunService | End)
    if isinstance(step.action, Collect):
        assert step.action.max_digits >= 1 and step.action.timeout_ms > 0
    if isinstance(step.action, Queue):
        YUNNAN.business(step.action.business_id)


@settings(max_examples=300, deadline=None)
@given(
    business_id=st.sampled_from([b.id for b in YUNNAN.businesses if b.ivr.nodes]),
    identified=st.booleans(),
    events=EVENTS,
)
def test_random_input_never_crashes(
    business_id: str, identified: bool, events: list[str | ServiceResult]
) -> None:
    session, step = start_ivr(biz(business_id), caller_identified=identified)
    well_formed(step)
    limit = session.max_invalid
    for event in events:
        waiting = session.stage is Stage.SERVICE
        try:
            if isinstance(event, ServiceResult):
                step = on_service_result(session, event)
            else:
                step = on_digits(session, event)
        except Conflict:
            assert session.finished or waiting != isinstance(event, ServiceResult)
            continue
        well_formed(step)
        assert 0 <= session.invalid_count <= limit
        assert session.finished == isinstance(step.action, Queue | End)
        assert session.finished or session.node_id in {n.id for n in session.menu.nodes}
