"""One-time codes for setting a PIN (unit level): kept only as a keyed digest, single use,
expiring, voided after three wrong attempts, at most three sent per customer per half
hour."""

from __future__ import annotations

from vcc_site.domain.pin_codes import MAX_ATTEMPTS, MAX_SENT, SEND_WINDOW_MS, TTL_MS, PinCodes

CUSTOMER = "KM-C000001"


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_code_is_used_once_and_kept_only_as_a_digest() -> None:
    codes = PinCodes()
    code = codes.issue(CUSTOMER, 0)
    assert len(code) == 6 and code.isdigit()
    assert code not in repr(codes) and code.encode() not in codes._pending[CUSTOMER].digest
    assert not codes.redeem("KM-C000002", code, 1)  # another customer's code
    assert codes.redeem(CUSTOMER, code, 1)
    assert not codes.redeem(CUSTOMER, code, 2)  # single use


def test_a_code_expires() -> None:
    codes = PinCodes()
    code = codes.issue(CUSTOMER, 0)
    assert not codes.redeem(CUSTOMER, code, TTL_MS)


def test_wrong_attempts_are_counted_and_void_the_code() -> None:
    codes = PinCodes()
    code = codes.issue(CUSTOMER, 0)
    for n in range(1, MAX_ATTEMPTS):
        assert not codes.redeem(CUSTOMER, _wrong(code), n)
        assert codes.attempts(CUSTOMER) == n
    assert not codes.redeem(CUSTOMER, _wrong(code), MAX_ATTEMPTS)
    assert not codes.redeem(CUSTOMER, code, MAX_ATTEMPTS + 1)  # void now


def test_a_new_code_voids_the_previous_one_and_sending_is_limited() -> None:
    codes = PinCodes()
    first = codes.issue(CUSTOMER, 0)
    second = codes.issue(CUSTOMER, 1)
    assert first == second or not codes.redeem(CUSTOMER, first, 2)
    codes = PinCodes()
    for n in range(MAX_SENT):
        assert codes.may_send(CUSTOMER, n)
        codes.issue(CUSTOMER, n)
    assert not codes.may_send(CUSTOMER, MAX_SENT)
    assert codes.may_send(CUSTOMER, SEND_WINDOW_MS + MAX_SENT)
