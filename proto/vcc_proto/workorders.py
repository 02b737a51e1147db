"""Work orders and their figures as protobuf messages (used by the sites' ``WorkOrders``
service and the hub's ``ProvinceWorkOrders``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from vcc_domain.workorder_figures import OrderFigures
from vcc_domain.workorders import WorkOrder
from vcc_proto.v1 import site_pb2 as s

ORDER_FIELDS = tuple(f.name for f in dataclasses.fields(WorkOrder))


def order_msg(order: WorkOrder) -> s.WorkOrder:
    values: dict[str, Any] = {name: getattr(order, name) for name in ORDER_FIELDS}
    return s.WorkOrder(**values)


def order_record(msg: s.WorkOrder) -> WorkOrder:
    values: dict[str, Any] = {name: getattr(msg, name) for name in ORDER_FIELDS}
    values["fields"] = dict(msg.fields)
    return WorkOrder(**values)


def figure_msg(f: OrderFigures) -> s.WorkOrderFigure:
    return s.WorkOrderFigure(
        kind=f.kind,
        department=f.department,
        total=f.total,
        answered=f.answered,
        answered_on_time=f.answered_on_time,
        outstanding=f.outstanding,
        overdue=f.overdue,
        escalated=f.escalated,
        callbacks_required=f.callbacks_required,
        callbacks_done=f.callbacks_done,
        callbacks_on_time=f.callbacks_on_time,
        callbacks_late=f.callbacks_late,
        callbacks_missed=f.callbacks_missed,
        on_time_rate=f.on_time_rate,
        callback_rate=f.callback_rate,
    )
