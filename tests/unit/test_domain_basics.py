import pytest
from hypothesis import given
from hypothesis import strategies as st

from vcc_domain.clock import ManualClock
from vcc_domain.errors import ConfigError, ErrorKind, NotFound
from vcc_domain.ids import id_prefix, new_id
from vcc_domain.privacy import mask_numbers_in, mask_phone


def test_ids_are_unique_prefixed_and_time_ordered() -> None:
    ids = [new_id("call", now_ms=1_000 + i) for i in range(200)]
    assert len(set(ids)) == 200
    assert ids == sorted(ids)
    assert all(id_prefix(i) == "call" for i in ids)


@pytest.mark.parametrize(
    "bad", ["", "call", "call_", "nope_01J0000000000000000000000", "call_01J!"]
)
def test_malformed_ids_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        id_prefix(bad)


def test_unknown_prefix_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown id prefix"):
        new_id("banana")


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(start=100.0)
    clock.advance(2.5)
    assert (clock.now(), clock.monotonic()) == (102.5, 2.5)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_errors_carry_kind_and_field() -> None:
    err = ConfigError("unknown site 'XX'", field="agents[3].home_site")
    assert err.kind is ErrorKind.INVALID
    assert str(err) == "agents[3].home_site: unknown site 'XX'"
    assert NotFound("x").kind is ErrorKind.NOT_FOUND


def test_phone_masking() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("114") == "114"
    assert mask_numbers_in("caller 13812345678 dialed 1000") == "caller 138****5678 dialed 1000"


@given(st.text(alphabet="0123456789", min_size=7, max_size=20))
def test_masking_never_leaks_the_middle(number: str) -> None:
    masked = mask_phone(number)
    assert len(masked) == len(number)
    assert masked[3:-4] == "*" * (len(number) - 7)
