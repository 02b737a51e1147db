"""Site component: the outbox relay (site events up to the hub, gap repair, pruning).

The composition root hands the relay to the ``Remote`` servicer so the hub's
``RepublishEvents`` reaches it.
"""

from __future__ import annotations

from vcc_proto.server import ServedService
from vcc_site.components import SiteContext
from vcc_site.sync.relay import OutboxRelay, RelaySettings


class RelayComponent:
    def __init__(self, relay: OutboxRelay) -> None:
        self.relay = relay

    def services(self) -> list[ServedService]:
        return []

    async def stop(self) -> None:
        await self.relay.stop()


async def start_relay(ctx: SiteContext, settings: RelaySettings) -> RelayComponent:
    relay = OutboxRelay(ctx.store, ctx.nats, ctx.site_id, ctx.hub, settings)
    await relay.start()
    return RelayComponent(relay)
