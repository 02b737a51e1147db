"""Notices to customers affected by a fault repair, through a pluggable notifier.

When a department reports on a fault-repair order (``dispatch``: crew, phone, departure
and expected repair time; ``progress``; ``answer``: the result), every customer of the
changed orders gets a notice. The order's state change is committed first; notices go
out afterwards in the background, so a notifier that is slow or down never delays or
loses a work-order change. Each notice is tried a few times (tenacity, short exponential
back-off); a notice that still fails is recorded (``failed``, the
``vcc_site_notices_total{outcome="failed"}`` counter and a log line with the phone
masked).

Notifiers: :class:`WebhookNotifier` (HTTP POST of the notice as JSON to
``VCC_NOTIFY_WEBHOOK``), :class:`NoNotifier` (the default: notices are only counted).
The same notifier carries the one-time codes for setting a PIN (:class:`CodeNotice`,
sent at once by the IVR's self-service, not through the dispatcher).
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from prometheus_client import Counter
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from vcc_domain.privacy import mask_phone
from vcc_domain.workorders import WorkOrder

log = logging.getLogger(__name__)
NOTICES = Counter("vcc_site_notices_total", "Fault-repair notices to customers", ["outcome"])
FAULT_TYPE = "fault_repair"
TEXTS = {
    "dispatch": "A repair crew is on its way for the fault on your line.",
    "progress": "The repair of the fault on your line is in progress.",
    "answer": "The fault on your line has been repaired.",
}


@dataclass(frozen=True)
class FaultNotice:
    order_id: str
    action: str  # dispatch | progress | answer
    phone: str
    area: str
    incident: str
    text: str
    details: dict[str, str] = field(default_factory=dict)
    result: str = ""
    at_ms: int = 0


@dataclass(frozen=True)
class CodeNotice:
    """A one-time code for setting a PIN, to the customer's registered phone (an SMS)."""

    phone: str
    text: str  # holds the code: never logged
    action: str = "pin_code"
    at_ms: int = 0

    def __repr__(self) -> str:
        return f"CodeNotice(phone={mask_phone(self.phone)!r}, action={self.action!r})"


Notice = FaultNotice | CodeNotice


class Notifier(Protocol):
    async def send(self, notice: Notice) -> None:
        """Deliver one notice; raise on failure (the dispatcher retries)."""


class NoNotifier:
    async def send(self, notice: Notice) -> None:
        return None


class NoticeFailed(Exception):
    pass


class WebhookNotifier:
    """POSTs each notice as JSON (``{"notice": {...}}``) to ``url``; 2xx is success."""

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook URL must be http(s)://..., not {url!r}")
        self.url = url
        self.timeout_s = timeout_s

    async def send(self, notice: Notice) -> None:
        await asyncio.to_thread(
            self._post, json.dumps({"notice": asdict(notice)}, ensure_ascii=False).encode()
        )

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                if not 200 <= resp.status < 300:
                    raise NoticeFailed(f"webhook answered {resp.status}")
        except urllib.error.HTTPError as exc:
            raise NoticeFailed(f"webhook answered {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise NoticeFailed(f"webhook unreachable: {exc}") from exc


def notices_for(orders: Iterable[WorkOrder], action: str, at_ms: int) -> list[FaultNotice]:
    """One notice per changed fault-repair order that has a customer number."""
    out = []
    for order in orders:
        if order.order_type != FAULT_TYPE or not order.caller_number or action not in TEXTS:
            continue
        details = {
            k: v
            for k, v in order.fields.items()
            if k in ("repair_team", "repair_phone", "departure_time", "expected_repair_time")
        }
        out.append(
            FaultNotice(
                order.order_id,
                action,
                order.caller_number,
                order.area,
                order.incident,
                TEXTS[action],
                details,
                order.result if action == "answer" else "",
                at_ms,
            )
        )
    return out


class NoticeDispatcher:
    def __init__(
        self, notifier: Notifier | None = None, attempts: int = 3, backoff_s: float = 0.2
    ) -> None:
        self.notifier: Notifier = notifier or NoNotifier()
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sent = 0
        self.failed: list[tuple[FaultNotice, str]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def after_feedback(self, orders: Iterable[WorkOrder], action: str, at_ms: int) -> None:
        """Called once the orders' change is committed: send their notices in the
        background."""
        for notice in notices_for(orders, action, at_ms):
            task = asyncio.ensure_future(self._deliver(notice))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, notice: FaultNotice) -> None:
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.attempts),
                wait=wait_exponential(multiplier=self.backoff_s, max=2.0),
                retry=retry_if_exception_type(NoticeFailed),
                reraise=True,
            ):
                with attempt:
                    await self.notifier.send(notice)
        except NoticeFailed as exc:
            self.failed.append((notice, str(exc)))
            NOTICES.labels("failed").inc()
            log.warning(
                "notice %s of order %s to %s failed after %d attempts: %s",
                notice.action,
                notice.order_id,
                mask_phone(notice.phone),
                self.attempts,
                exc,
            )
            return
        self.sent += 1
        NOTICES.labels("sent").inc()
        log.info(
            "notice %s of order %s sent to %s",
            notice.action,
            notice.order_id,
            mask_phone(notice.phone),
        )

    async def drain(self) -> None:
        """Wait for the notices in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
