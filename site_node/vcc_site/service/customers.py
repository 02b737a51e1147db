"""Customer data across sites: profiles published to the hub, remote reads at call setup.

**Profiles up.** Every change of a customer at its home site emits ``customer.updated``
carrying the whole profile except the PIN hash (:func:`profile_event`); a site also
publishes every customer once (at seeding, or the first start after an upgrade), so the
hub's read-only copy holds every customer.

**Remote reads.** A call from a number that is not a customer here, whose area code
belongs to another site X, is looked up at X (:class:`HomeSiteReader`, bounded by
``budget_ms`` including retries); if X does not answer, at the hub's copy
(:class:`HubCopyReader`), shown with its age. A site that just failed is skipped for
``down_s`` (straight to the hub), and results are cached for ``cache_ms``, so a dead home
site cannot slow down call setup. Every use of remote data is audited at this site (actor,
customer, when, from where) and emitted as a ``customer.remote_read`` event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from vcc_domain.errors import NotFound, Unavailable
from vcc_domain.ids import new_id
from vcc_proto.v1 import events_pb2 as pb
from vcc_site.service.core import SiteCore
from vcc_site.store.api import AuditRecord, CustomerRecord, Event, UnitOfWork

log = logging.getLogger(__name__)

PUBLISHED_META = "customers.profiles_published"
PUBLISH_CHUNK = 500
HUB = "hub"


# -- profiles up to the hub ----------------------------------------------------------------


def profile(record: CustomerRecord) -> pb.CustomerProfile:
    """The customer as shipped off-site: everything but the PIN hash and lock state."""
    r = record
    return pb.CustomerProfile(
        customer_id=r.customer_id,
        home_site=r.home_site,
        phone=r.phone,
        account_no=r.account_no,
        name=r.name,
        tier=r.tier,
        balance_fen=r.balance_fen,
        bill_fen=r.bill_fen,
        bill_due_at_ms=r.bill_due_at_ms,
        open_work_orders=r.open_work_orders,
        updated_at_ms=r.updated_at_ms,
        pin_set=r.pin_hash is not None,
    )


def profile_event(record: CustomerRecord, now_ms: int, action: str, **extra: Any) -> Event:
    body = pb.CustomerUpdated(
        customer_id=record.customer_id, action=action, customer=profile(record), **extra
    )
    return Event(new_id("evt"), "customer.updated", record.customer_id, body, now_ms)


async def publish_profiles(core: SiteCore) -> int:
    """Emit every customer's profile once per database (idempotent by a meta flag)."""
    store: Any = core.store
    if not hasattr(store, "customers_page") or await store.meta(PUBLISHED_META):
        return 0
    after, total = "", 0
    while True:
        page: list[CustomerRecord] = await store.customers_page(after, PUBLISH_CHUNK)
        if not page:
            break
        now = core.now_ms()
        await store.commit(UnitOfWork().emit(*(profile_event(r, now, "published") for r in page)))
        total += len(page)
        after = page[-1].customer_id
    await store.set_meta(PUBLISHED_META, str(core.now_ms()))
    if total:
        log.info("published %d customer profiles for the hub's copy", total)
    return total


# -- remote reads ---------------------------------------------------------------------------


class HomeSiteReader(Protocol):
    async def read(
        self, site_id: str, phone: str, *, actor: str, reason: str, budget_s: float
    ) -> tuple[CustomerRecord, int] | None:
        """(record, as-of ms) from the customer's home site; None if it has no such
        customer; raises Unavailable if it did not answer within ``budget_s``."""


class HubCopyReader(Protocol):
    async def read(
        self, phone: str, *, actor: str, reason: str, budget_s: float
    ) -> tuple[CustomerRecord, int] | None:
        """(record, as-of ms) of the hub's copy; None if it holds none; Unavailable if the
        hub did not answer within ``budget_s``."""


@dataclass(frozen=True, slots=True)
class FoundCustomer:
    record: CustomerRecord
    source: str  # the home site's ID, or "hub" for the provincial copy
    as_of_ms: int


def area_code_of(number: str, area_codes: list[str]) -> str | None:
    """The area code a number belongs to: a landline prefix (``0872...``), or the
    province's mobile scheme ``19`` + the area code without its 0 + 6 digits."""
    digits = number.lstrip("+")
    if digits.startswith("86") and len(digits) > 11:
        digits = digits[2:]
    for code in sorted(area_codes, key=len, reverse=True):
        if digits.startswith(code) and len(digits) > len(code) + 4:
            return code
    if len(digits) == 11 and digits.startswith("19"):
        code = "0" + digits[2:5]
        if code in area_codes:
            return code
    return None


class RemoteCustomers:
    def __init__(
        self,
        core: SiteCore,
        sites: HomeSiteReader,
        hub: HubCopyReader,
        *,
        budget_ms: int = 300,
        hub_budget_ms: int = 300,
        cache_ms: int = 2000,
        down_s: float = 3.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.sites = sites
        self.hub = hub
        self.budget_s = budget_ms / 1000
        self.hub_budget_s = hub_budget_ms / 1000
        self.cache_s = cache_ms / 1000
        self.down_s = down_s
        self._now = monotonic
        self._cache: dict[str, tuple[float, FoundCustomer | None]] = {}
        self._down_until: dict[str, float] = {}
        self._area_codes = sorted({c for s in core.province.sites for c in s.area_codes})
        self.reads = {"site": 0, "hub": 0, "cached": 0, "failed": 0, "unknown": 0}

    def home_site_of(self, number: str) -> str | None:
        code = area_code_of(number, self._area_codes)
        if code is None:
            return None
        try:
            return self.core.province.home_site(code).id
        except NotFound:
            return None

    async def lookup(
        self, number: str, *, call_id: str, uow: UnitOfWork, actor: str = "access"
    ) -> FoundCustomer | None:
        """The caller's customer record from their home site or the hub's copy; None for a
        caller unknown at both (or homed here). Audit rows and events go into ``uow``."""
        home = self.home_site_of(number)
        if home is None or home == self.core.site_id:
            return None
        now = self._now()
        cached = self._cache.get(number)
        if cached is not None and cached[0] > now:
            self.reads["cached"] += 1
            self._audit(uow, actor, call_id, home, cached[1], cached=True)
            return cached[1]
        found: FoundCustomer | None = None
        answered = False
        if self._down_until.get(home, 0.0) <= now:
            try:
                got = await self.sites.read(
                    home, number, actor=actor, reason=call_id, budget_s=self.budget_s
                )
                answered = True
                self._down_until.pop(home, None)
                if got is not None:
                    found = FoundCustomer(got[0], home, got[1])
                    self.reads["site"] += 1
            except Unavailable as exc:
                log.info("home site %s did not answer a customer read: %s", home, exc)
                self._down_until[home] = self._now() + self.down_s
        if not answered:
            try:
                got = await self.hub.read(
                    number, actor=actor, reason=call_id, budget_s=self.hub_budget_s
                )
                answered = True
                if got is not None:
                    found = FoundCustomer(got[0], HUB, got[1])
                    self.reads["hub"] += 1
            except Unavailable as exc:
                log.warning("neither site %s nor the hub answered a customer read: %s", home, exc)
        if not answered:
            self.reads["failed"] += 1
            self._audit(uow, actor, call_id, home, None, failed=True)
            return None
        if found is None:
            self.reads["unknown"] += 1
        self._cache[number] = (self._now() + self.cache_s, found)
        if len(self._cache) > 10_000:
            self._prune()
        self._audit(uow, actor, call_id, home, found)
        return found

    def _prune(self) -> None:
        now = self._now()
        for key in [k for k, (until, _) in self._cache.items() if until <= now]:
            del self._cache[key]

    def _audit(
        self,
        uow: UnitOfWork,
        actor: str,
        call_id: str,
        home: str,
        found: FoundCustomer | None,
        *,
        cached: bool = False,
        failed: bool = False,
    ) -> None:
        at = self.core.now_ms()
        if failed:
            action, source = "remote_read_failed", ""
        elif found is None:
            action, source = "remote_read_not_found", home
        else:
            action = "remote_read_hub_copy" if found.source == HUB else "remote_read"
            source = found.source
        if cached:
            action += "_cached"
        subject = found.record.customer_id if found is not None else call_id
        age = f"; as of {found.as_of_ms} (age {max(0, at - found.as_of_ms)} ms)" if found else ""
        detail = f"call {call_id}; home {home}; from {source or '-'}{age}"
        uow.add(AuditRecord(new_id("req"), at, actor, action, subject, detail))
        uow.emit(
            Event(
                new_id("evt"),
                "customer.remote_read",
                subject,
                pb.CustomerRemoteRead(
                    customer_id=found.record.customer_id if found else "",
                    home_site=home,
                    source=source,
                    actor=actor,
                    call_id=call_id,
                    action=action,
                    as_of_ms=found.as_of_ms if found else 0,
                    site_id=self.core.site_id,
                ),
                at,
            )
        )
