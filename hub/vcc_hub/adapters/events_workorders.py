"""Site ``work_order.*`` events into the hub's province-wide copy of work orders.

Only the site where an order lives writes the copy (``owner_site`` equal to the event's
site; a serving site's reference row is ignored); the newest ``version`` wins
(:func:`vcc_hub.store.workorders.newest` and its upsert).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from vcc_proto.workorders import order_record
from vcc_replication.events import SiteEvent


def order_row(e: SiteEvent) -> dict[str, Any] | None:
    """The copy's row from a ``work_order.*`` event of the owning site, else None."""
    if e.WhichOneof("body") != "work_order" or not e.work_order.HasField("order"):
        return None
    order = e.work_order.order
    if not order.order_id or order.owner_site != e.site:
        return None
    return {
        "order_id": order.order_id,
        "owner_site": e.site,
        "origin_site": order.origin_site,
        "business_id": order.business_id,
        "order_type": order.order_type,
        "department": order.department,
        "state": order.state,
        "record": json.dumps(asdict(order_record(order)), ensure_ascii=False, sort_keys=True),
        "created_at_ms": order.created_at_ms,
        "answer_due_ms": order.answer_due_ms,
        "answered_at_ms": order.answered_at_ms,
        "version": order.version,
        "from_site": e.site,
        "event_seq": e.seq,
        "as_of_ms": e.at_ms,
    }
