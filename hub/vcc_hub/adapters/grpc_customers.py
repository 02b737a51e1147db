"""``Customers`` gRPC service: the hub's read-only copies of customer profiles.

A site reads here when a caller's home site does not answer. Any hub process answers (a
read of the shared database); the copy carries ``as_of_ms`` so the reader shows its age.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from vcc_domain.errors import InvalidInput, NotFound
from vcc_hub.store import event_tables as t
from vcc_proto.status import grpc_errors
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc

Ctx: TypeAlias = Any

TIERS = {
    "vip": c.TIER_VIP,
    "high": c.TIER_HIGH,
    "middle": c.TIER_MIDDLE,
    "ordinary": c.TIER_ORDINARY,
    "blacklist": c.TIER_BLACKLIST,
}


class CustomersServicer(hub_pb2_grpc.CustomersServicer):
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @grpc_errors
    async def GetCustomerCopy(
        self, request: h.GetCustomerCopyRequest, context: Ctx
    ) -> h.CustomerCopy:
        key = request.WhichOneof("key")
        col = t.customers.c
        if key == "customer_id":
            stmt = select(t.customers).where(col.customer_id == request.customer_id)
        elif key == "phone_number":
            stmt = select(t.customers).where(col.phone == request.phone_number)
        else:
            raise InvalidInput("give a customer id or a phone number", field="key")
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt.order_by(col.as_of_ms.desc()).limit(1))).first()
        if row is None:
            raise NotFound("the hub holds no copy of this customer", field=key)
        m = row._mapping
        customer = c.Customer(
            customer_id=m["customer_id"],
            name=m["name"],
            tier=TIERS.get(m["tier"], c.TIER_UNSPECIFIED),
            home_site_id=m["home_site"],
            phone_numbers=[m["phone"]],
            contract_number=m["account_no"],
            balance_fen=int(m["balance_fen"]),
            open_work_orders=int(m["open_work_orders"]),
            updated_at_ms=int(m["updated_at_ms"]),
        )
        return h.CustomerCopy(
            customer=customer, as_of_ms=int(m["as_of_ms"]), event_seq=int(m["event_seq"])
        )
