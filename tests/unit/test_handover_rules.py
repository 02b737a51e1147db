"""Shift handover: a leader signs out only once a handover written in this session was
acknowledged by a successor who is signed in; both must be signed in to hand over."""

from __future__ import annotations

import pytest

from vcc_domain.errors import Conflict
from vcc_domain.handover import acknowledge, build_handover, release, require_signed_in

T = 1_800_000_000_000


def test_sign_out_waits_for_a_signed_in_successor() -> None:
    old = acknowledge(build_handover("chg_0", "KM", "KM-0190", [], T - 10), "KM-0191", T - 5)
    with pytest.raises(Conflict, match="write the handover"):
        release("KM-0190", T, [old], {"KM-0190", "KM-0191"})  # written before this session
    mine = build_handover("chg_1", "KM", "KM-0190", [], T + 1, notes="printer jams")
    with pytest.raises(Conflict) as waiting:
        release("KM-0190", T, [old, mine], {"KM-0190", "KM-0191"})
    assert waiting.value.field == "handover" and "chg_1" in str(waiting.value)
    done = acknowledge(mine, "KM-0191", T + 2)
    with pytest.raises(Conflict):  # the successor left again: nobody holds the shift
        release("KM-0190", T, [done], {"KM-0190"})
    assert release("KM-0190", T, [old, done], {"KM-0190", "KM-0191"}) == done
    assert done.notes == "printer jams" and done.incoming_leader == "KM-0191"


def test_both_leaders_must_be_signed_in() -> None:
    require_signed_in("KM-0190", {"KM-0190"}, "outgoing_leader")
    with pytest.raises(Conflict) as err:
        require_signed_in("KM-0191", {"KM-0190"}, "incoming_leader")
    assert err.value.field == "incoming_leader"
