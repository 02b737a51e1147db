"""Attacks on a real site process through the operator tool's certificate (the gateway
people sign in through; a hub's where only a hub may ask): each is refused with its
documented status and changes nothing it should not.

Sign-in: one answer for an unknown ID and a wrong password; concurrent wrong passwords
cannot pass the limit; three anonymous failures lock an agent for the short first back-off
(``agent_backoff_s``, 30 s by default and 3 s in this module's province), not a quarter of
an hour. PIN: failures add up across concurrent calls; a spoofed own line
cannot change a PIN without the current one. Admission: trunks and IVR ports from the
province file, server-side IVR and queue time limits. Bounds: an arrival time far in the
past, a republish range of 10^12 events.

The sign-in, PIN and bounds tests share one site (each its own agents and callers); the
admission tests start their own with the limits they check.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from tests.integration._helpers import tls as test_tls
from tests.integration._helpers.hook import Hook, set_pin
from tests.integration._helpers.site import ENDED, Client, SiteProcess, until
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import site_pb2 as s
from vcc_site.store.customers import phone_for

KM_AREA = "0871"
GENERAL_A, GENERAL_B, GENERAL_C = "KM-0131", "KM-0133", "KM-0135"
BACKOFF_S = 3  # the first lock of an agent ID in this module's province (test time)


def stranger(n: int) -> str:
    return f"1370000{n:04d}"


async def _error(call: object) -> grpc.aio.AioRpcError:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the request was accepted")


def _limited(tmp: Path, env: dict[str, str] | None = None, **values: int) -> SiteProcess:
    """A KM site whose province file has the given [sites] / [routing] values."""
    site = SiteProcess(tmp, env=env)
    text = site.province.read_text()
    for key, value in values.items():
        old = {
            "trunk_lines": "trunk_lines = 780 ",
            "ivr_ports": "ivr_ports = 450\n",
            "ivr_limit_s": "ivr_limit_s = 600 ",
            "queue_limit_s": "queue_limit_s = 1800 ",
            "agent_backoff_s": "agent_backoff_s = 30 ",
        }[key]
        assert old in text, old
        text = text.replace(old, f"{key} = {value}" + ("\n" if old.endswith("\n") else " "), 1)
    site.province.write_text(text)
    return site


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    """Where the site sends one-time PIN codes (its notifier's webhook)."""
    h = Hook()
    yield h
    h.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, hook: Hook) -> Iterator[SiteProcess]:
    proc = _limited(
        tmp_path_factory.mktemp("site"),
        {"VCC_NOTIFY_WEBHOOK": hook.url},
        agent_backoff_s=BACKOFF_S,
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def client(site: SiteProcess) -> AsyncIterator[Client]:
    cl = Client(site.target)
    try:
        yield cl
    finally:
        await cl.close()


# -- sign-in ----------------------------------------------------------------------------


async def test_unknown_id_and_wrong_password_get_the_same_answer(client: Client) -> None:
    unknown = await _error(client.login("KM-9999", "wrong-password"))
    wrong = await _error(client.login(GENERAL_A, "wrong-password"))
    other_site = await _error(client.login("QJ-0001", "wrong-password"))
    answers = {(e.code(), e.details()) for e in (unknown, wrong, other_site)}
    assert answers == {(grpc.StatusCode.UNAUTHENTICATED, "password: wrong agent ID or password")}
    await client.login(GENERAL_A)  # one failure does not lock; the right password works


async def test_concurrent_wrong_passwords_cannot_pass_the_limit(client: Client) -> None:
    errors = await asyncio.gather(
        *(_error(client.login(GENERAL_B, f"guess-{n:04d}")) for n in range(30))
    )
    codes = [e.code() for e in errors]
    # three attempts reach the password check (the third locks); the rest are refused
    assert codes.count(grpc.StatusCode.UNAUTHENTICATED) <= 2, codes
    assert codes.count(grpc.StatusCode.PERMISSION_DENIED) >= 28, codes


async def test_three_anonymous_failures_lock_for_the_short_back_off_only(client: Client) -> None:
    for _ in range(3):
        last = await _error(client.login(GENERAL_C, "wrong-password"))
    assert last.code() == grpc.StatusCode.PERMISSION_DENIED
    until_text = re.search(r"locked until (\d\d):(\d\d):(\d\d) UTC", last.details() or "")
    assert until_text is not None, last.details()
    h, m, sec = (int(x) for x in until_text.groups())
    lock_end = h * 3600 + m * 60 + sec
    now = int(time.time()) % 86_400
    # the first lock is the back-off (3 s here), not agent_lock_minutes (15 minutes)
    assert 0 <= (lock_end - now) % 86_400 <= BACKOFF_S + 5, last.details()

    async def signs_in() -> bool:
        try:
            await client.login(GENERAL_C)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.PERMISSION_DENIED  # locked, not counted
            return False
        return True

    await until(signs_in, "the agent signs in once the short lock is over", timeout_s=60)


# -- PIN --------------------------------------------------------------------------------


async def _bill(client: Client, caller: str, pin: str) -> str:
    step = await client.offer(caller, "170", "1", pin)
    texts = " ".join(p.text for p in step.prompts)
    await client.access.HangUp(s.CallRef(call_id=step.call_id))
    return texts


async def test_wrong_pins_in_concurrent_calls_add_up_to_the_lock(
    client: Client, hook: Hook
) -> None:
    caller = phone_for(KM_AREA, 7)
    assert "PIN is set" in await set_pin(client, hook, caller, "246813")
    answers = await asyncio.gather(*(_bill(client, caller, "111111") for _ in range(8)))
    wrong = [a for a in answers if "Wrong PIN" in a]
    assert len(wrong) <= 5, answers  # the limit, however the calls interleave
    assert all("Wrong PIN" in a or "locked" in a for a in answers), answers
    after = await _bill(client, caller, "246813")
    assert "locked" in after and "balance" not in after


async def test_a_spoofed_own_line_cannot_change_the_pin(client: Client, hook: Hook) -> None:
    caller = phone_for(KM_AREA, 8)
    assert "PIN is set" in await set_pin(client, hook, caller, "246813")
    texts = await set_pin(client, hook, caller, "975318", old="111111")  # wrong current PIN
    assert "PIN is set" not in texts and "Wrong PIN" in texts, texts
    assert "balance" in await _bill(client, caller, "246813"), "the PIN did not change"
    texts = await set_pin(client, hook, caller, "975318", old="246813")  # the owner
    assert "PIN is set" in texts, texts
    assert "balance" in await _bill(client, caller, "975318")


async def test_a_spoofed_own_line_needs_the_code_sent_to_the_phone(
    client: Client, hook: Hook
) -> None:
    caller = phone_for(KM_AREA, 9)  # a customer with no PIN yet
    step = await client.offer(caller, "170", "2")
    assert "one-time code" in " ".join(p.text for p in step.prompts)
    code = await hook.next_code(caller)  # went to the registered phone, not to the caller
    guess = "000001" if code != "000001" else "000002"
    for keys in (guess, "246813", "246813"):
        step = await client.digits(step.call_id, keys)
    texts = " ".join(p.text for p in step.prompts)
    assert "PIN is set" not in texts and "wrong or has expired" in texts, texts
    await client.access.HangUp(s.CallRef(call_id=step.call_id))
    assert "No PIN is set" in await _bill(client, caller, "246813")


# -- bounds -----------------------------------------------------------------------------


async def test_an_arrival_far_in_the_past_is_refused(client: Client) -> None:
    err = await _error(
        client.access.OfferCall(
            s.OfferCallRequest(
                caller_number=stranger(1), dialed_code="1000", original_arrival_at_ms=1
            )
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "original_arrival_at_ms" in (err.details() or "")
    recent = int(time.time() * 1000) - 60_000  # a call that waited a minute elsewhere
    step = await client.access.OfferCall(
        s.OfferCallRequest(
            caller_number=stranger(2), dialed_code="1000", original_arrival_at_ms=recent
        )
    )
    assert (await client.call(step.call_id)).original_arrival_at_ms == recent


async def test_republishing_a_huge_range_is_refused(site: SiteProcess, client: Client) -> None:
    huge = s.RepublishEventsRequest(from_seq=1, to_seq=10**12)
    refused = await _error(client.remote.RepublishEvents(huge))  # only a hub may ask
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    hub = Client(site.target, tls=test_tls.client("hub", "hub-1"))
    try:
        err = await _error(hub.remote.RepublishEvents(huge))
    finally:
        await hub.close()
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "to_seq" in (err.details() or "")


# -- admission and time limits -----------------------------------------------------------


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[SiteProcess]:
    proc = _limited(tmp_path, trunk_lines=3, ivr_ports=2).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def timed(tmp_path: Path) -> Iterator[SiteProcess]:
    proc = _limited(tmp_path, ivr_limit_s=1, queue_limit_s=2).start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_calls_beyond_the_trunks_and_ivr_ports_are_refused(capped: SiteProcess) -> None:
    cl = Client(capped.target)
    try:
        first = await cl.offer(stranger(1), "1000")
        second = await cl.offer(stranger(2), "1000")
        err = await _error(cl.offer(stranger(3), "1000"))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.details()
        assert "ivr ports" in (err.details() or "")
        await cl.digits(first.call_id, "0")  # to the queue: its IVR port is free again
        await cl.offer(stranger(4), "1000")
        err = await _error(cl.offer(stranger(5), "1000"))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "trunk lines" in (err.details() or "")
        await cl.access.HangUp(s.CallRef(call_id=second.call_id))
        await cl.offer(stranger(6), "1000")  # a line and a port are free again
    finally:
        await cl.close()


async def test_the_site_ends_calls_past_the_ivr_and_queue_limits(timed: SiteProcess) -> None:
    cl = Client(timed.target)
    try:
        in_ivr = await cl.offer(stranger(1), "1000")
        queued = await cl.offer(stranger(2), "1000", "0")
        assert queued.WhichOneof("next") == "queued"
        for call_id in (in_ivr.call_id, queued.call_id):

            async def ended(cid: str = call_id) -> bool:
                return await cl.state_of(cid) == ENDED

            await until(ended, "the site ends the call at its limit", timeout_s=30)
            view = await cl.call(call_id)
            assert view.end_reason == c.END_REASON_REFUSED and view.ended_at_ms > 0
    finally:
        await cl.close()
