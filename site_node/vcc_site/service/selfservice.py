"""Self-service performed for the IVR: bill query behind account + PIN, setting a PIN from
the customer's own line, 114 directory lookup, outage notice.

PIN checks are hashed (argon2, verified off the event loop) and locked after repeated
failures; every PIN event is written to the audit trail (never the PIN itself).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from vcc_domain.errors import InvalidInput
from vcc_domain.ids import new_id
from vcc_domain.outages import notices_for, spoken
from vcc_domain.privacy import mask_phone
from vcc_domain.province import SelfService as Kind
from vcc_domain.province import Text
from vcc_site.domain import ivr as ivr_engine
from vcc_site.domain.pin_codes import PinCodes
from vcc_site.domain.secrets import (
    LockoutPolicy,
    hash_secret,
    validate_new_pin,
    verify_secret,
)
from vcc_site.service import attempts
from vcc_site.service.callers import caller_area
from vcc_site.service.core import SiteCore
from vcc_site.service.customers import profile_event
from vcc_site.service.live import LiveCall
from vcc_site.service.notices import CodeNotice, NoNotifier, Notifier
from vcc_site.store.api import AuditRecord, CustomerRecord, UnitOfWork


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _say(zh: str, en: str) -> Text:
    return Text(zh, en)


class SelfService:
    def __init__(self, core: SiteCore, notifier: Notifier | None = None) -> None:
        self.core = core
        self.pin_policy = LockoutPolicy.for_pins(core.province.routing)
        # one-time codes for setting a PIN go to the registered phone through it
        self.notifier: Notifier = notifier or NoNotifier()
        self.codes = PinCodes()

    async def run(self, call: LiveCall, action: ivr_engine.RunService) -> ivr_engine.ServiceResult:
        kind = action.service
        if kind is Kind.BILL_QUERY:
            return await self._bill_query(call, action.inputs)
        if kind is Kind.SET_PIN:
            return await self._set_pin(call, action.inputs)
        if kind is Kind.DIRECTORY_114:
            return self._directory(call, action.inputs)
        return self._outage(call)

    # -- bill query -----------------------------------------------------------------------

    async def _bill_query(self, call: LiveCall, inputs: dict[str, str]) -> ivr_engine.ServiceResult:
        core = self.core
        account = inputs.get("account", "")
        if inputs.get("account_source") == "caller" or not account:
            customer = call.customer if call.number_trusted else None
        else:
            customer = await core.store.customer_by_account(account)
        if customer is None:
            return _fail(_say("账号不存在。", "There is no such account."))
        checked = await self._check_pin(call, customer, inputs.get("pin", ""))
        if isinstance(checked, ivr_engine.ServiceResult):
            return checked
        customer = checked
        return ivr_engine.ServiceResult(
            ok=True,
            prompts=(
                _say(
                    f"您的账户本期账单 {yuan(customer.bill_fen)} 元，余额 {yuan(customer.balance_fen)} 元。",
                    f"Your latest bill is {yuan(customer.bill_fen)} yuan; "
                    f"your balance is {yuan(customer.balance_fen)} yuan.",
                ),
            ),
        )

    async def _check_pin(
        self, call: LiveCall, customer: CustomerRecord, pin: str
    ) -> CustomerRecord | ivr_engine.ServiceResult:
        """The customer as stored now when ``pin`` is theirs, else the answer to play.
        The attempt is counted in the database before the check (:mod:`.attempts`),
        so wrong PINs add up across calls, retries and concurrent calls."""
        core = self.core
        cid = customer.customer_id
        fresh = await core.store.customer(cid) or customer
        if fresh.pin_hash is None:
            return _fail(
                _say(
                    "您尚未设置查询密码，请从本机拨打设置。",
                    "No PIN is set yet; set one from your own phone.",
                )
            )
        now = core.now_ms()

        async def read() -> tuple[int, int] | None:
            found = await core.store.customer(cid)
            return (found.pin_failures, found.pin_locked_until_ms) if found else None

        charged = await attempts.charge(core.store, "customer", cid, read, now, self.pin_policy)
        if charged is None or charged.locked:
            await self._audit(
                call,
                fresh,
                "pin_locked_refused",
                f"call {call.call_id}, locked after {charged.failures if charged else 0} failures",
            )
            return _fail(
                _say(
                    "该账户因多次密码错误已被锁定，请稍后再试或转人工。",
                    "This account is locked after too many wrong PINs. Try later or ask an agent.",
                ),
                to_agent=True,
            )
        if not await asyncio.to_thread(verify_secret, fresh.pin_hash, pin):
            core.metrics.pin_failed()
            locked = charged.locked_until_ms > now
            await self._save(
                call,
                replace(
                    fresh,
                    pin_failures=charged.failures,
                    pin_locked_until_ms=charged.locked_until_ms,
                    updated_at_ms=now,
                ),
                "pin_locked" if locked else "pin_failed",
                counted=True,
            )
            return _fail(_say("密码错误。", "Wrong PIN."), to_agent=locked)
        await attempts.clear(core.store, "customer", cid, read)
        verified = replace(fresh, pin_failures=0, pin_locked_until_ms=0, updated_at_ms=now)
        call.attached["pin_verified"] = "1"  # the agent's screen pop shows it
        await self._save(call, verified, "pin_verified", counted=True)
        return verified

    # -- set PIN from own line ----------------------------------------------------------------

    async def _set_pin(self, call: LiveCall, inputs: dict[str, str]) -> ivr_engine.ServiceResult:
        """Set a PIN from the customer's own line. A caller number alone can be spoofed:
        changing a PIN needs the current one (``old_pin``, counted like any PIN check);
        setting the first one, or a forgotten one, needs the one-time ``code`` sent to the
        registered phone (``send_code`` asks for it)."""
        customer = call.customer
        if customer is None or not call.number_trusted:
            return _fail(
                _say(
                    "请从您登记的电话拨打以设置密码。",
                    "Please call from your registered phone to set a PIN.",
                )
            )
        if customer.home_site != self.core.site_id:  # read from elsewhere: not ours to change
            return _fail(
                _say(
                    "请拨打您归属地的客服中心设置密码。",
                    "Please set your PIN through your home city's center.",
                )
            )
        fresh = await self.core.store.customer(customer.customer_id) or customer
        if inputs.get("send_code"):
            return await self._send_code(call, fresh)
        try:
            pin = validate_new_pin(inputs.get("pin", ""))
        except InvalidInput:
            return _fail(_say("密码过于简单或格式不对。", "That PIN is too simple or malformed."))
        proved = await self._prove(call, fresh, inputs)
        if isinstance(proved, ivr_engine.ServiceResult):
            return proved
        pin_hash = await asyncio.to_thread(hash_secret, pin)
        now = self.core.now_ms()
        updated = replace(
            proved, pin_hash=pin_hash, pin_failures=0, pin_locked_until_ms=0, updated_at_ms=now
        )
        call.customer = updated
        await self._save(call, updated, "pin_set")
        return ivr_engine.ServiceResult(
            ok=True, prompts=(_say("密码设置成功。", "Your PIN is set."),)
        )

    async def _prove(
        self, call: LiveCall, fresh: CustomerRecord, inputs: dict[str, str]
    ) -> CustomerRecord | ivr_engine.ServiceResult:
        """The customer when the caller proved the line: the current PIN, or a one-time
        code sent to the registered phone; else the answer to play."""
        if inputs.get("old_pin") and fresh.pin_hash is not None:
            return await self._check_pin(call, fresh, inputs["old_pin"])
        code = inputs.get("code", "")
        cid = fresh.customer_id
        if code and self.codes.redeem(cid, code, self.core.now_ms()):
            await self._audit(call, fresh, "pin_code_used", f"call {call.call_id}")
            return fresh
        why = "wrong or expired code" if code else "no current PIN or code given"
        await self._audit(call, fresh, "pin_change_refused", why)
        return _fail(
            _say("验证码错误或已过期。", "That code is wrong or has expired.")
            if code
            else _say(
                "修改密码需要先输入原密码。", "To change your PIN, key your current PIN first."
            )
        )

    async def _send_code(self, call: LiveCall, fresh: CustomerRecord) -> ivr_engine.ServiceResult:
        """Send a one-time code to the customer's registered phone (not the caller's
        number as presented: a spoofer does not receive it)."""
        now = self.core.now_ms()
        cid = fresh.customer_id
        if not self.codes.may_send(cid, now):
            await self._audit(call, fresh, "pin_code_refused", "too many codes sent")
            return _fail(_say("验证码发送过于频繁，请稍后再试。", "Too many codes; try later."))
        if isinstance(self.notifier, NoNotifier):  # no way to reach the phone configured
            await self._audit(call, fresh, "pin_code_failed", "no notifier configured")
            return _fail(_say("暂时无法发送验证码。", "We cannot send a code now; try later."))
        code = self.codes.issue(cid, now)
        text = f"Your one-time code to set your PIN: {code} (5 minutes). 设置密码验证码：{code}"
        try:
            await self.notifier.send(CodeNotice(fresh.phone, text, at_ms=now))
        except Exception as exc:  # the notifier is down: no code, no PIN change
            await self._audit(call, fresh, "pin_code_failed", f"notifier: {type(exc).__name__}")
            return _fail(_say("暂时无法发送验证码。", "We cannot send a code now; try later."))
        await self._audit(call, fresh, "pin_code_sent", f"to {mask_phone(fresh.phone)}")
        return ivr_engine.ServiceResult(ok=True, code_sent=True)

    # -- 114 and outage -------------------------------------------------------------------------

    def _directory(self, call: LiveCall, inputs: dict[str, str]) -> ivr_engine.ServiceResult:
        key = inputs.get("name_key", "")
        entries = [
            e
            for e in self.core.province.directory
            if not key or key in e.number or any(key in k for k in e.keywords)
        ]
        if not entries:
            return _fail(_say("未查到相关号码。", "No listing found."))
        said = "; ".join(f"{e.name} {e.number}" for e in entries[:3])
        return ivr_engine.ServiceResult(
            ok=True, prompts=(_say(f"查询结果：{said}", f"Listings: {said}"),)
        )

    def _outage(self, call: LiveCall) -> ivr_engine.ServiceResult:
        """The outages of the caller's area in force or coming (entered at the hub by data
        maintenance, synced with the directory), else that there is none."""
        now = self.core.now_ms()
        area = caller_area(self.core, call.caller_number)
        found = notices_for(self.core.province.outages, area, now) if area else []
        if not found:
            return ivr_engine.ServiceResult(
                ok=True,
                prompts=(
                    _say(
                        "您所在区域目前没有计划停电或线路检修。",
                        "There is no planned outage or line work in your area.",
                    ),
                ),
            )
        return ivr_engine.ServiceResult(ok=True, prompts=tuple(spoken(o, now) for o in found[:3]))

    # -- recording --------------------------------------------------------------------------

    async def _save(
        self, call: LiveCall, customer: CustomerRecord, action: str, *, counted: bool = False
    ) -> None:
        """Record a PIN event; ``counted``: the counter is already in the database
        (written by :mod:`.attempts`), so the row is not written again over a newer
        count -- only the audit row and the profile event."""
        now = self.core.now_ms()
        uow = UnitOfWork().add(_audit(call, customer, action, now))
        if not counted:
            uow.add(customer)
        uow.emit(
            profile_event(
                customer,
                now,
                action,
                pin_failures=customer.pin_failures,
                locked_until_ms=customer.pin_locked_until_ms,
            )
        )
        await self.core.submit(uow)

    async def _audit(
        self, call: LiveCall, customer: CustomerRecord, action: str, detail: str
    ) -> None:
        now = self.core.now_ms()
        await self.core.submit(UnitOfWork().add(_audit(call, customer, action, now, detail)))


def _audit(
    call: LiveCall, customer: CustomerRecord, action: str, now: int, detail: str = ""
) -> AuditRecord:
    return AuditRecord(
        new_id("req"), now, "ivr", action, customer.customer_id, detail or f"call {call.call_id}"
    )


def _fail(prompt: Text, to_agent: bool = False) -> ivr_engine.ServiceResult:
    return ivr_engine.ServiceResult(ok=False, prompts=(prompt,), to_agent=to_agent)
