"""Site component: the outbox relay (site events up to the hub, gap repair, pruning).

The relay registers itself as ``ctx.extras["republisher"]``; the composition root hands
it to the ``Remote`` servicer so the hub's ``RepublishEvents`` reaches it.
"""

from __future__ import annotations

from vcc_proto.server import ServedService
from vcc_site.components import Component, SiteContext
from vcc_site.sync.relay import OutboxRelay, RelaySettings


class RelayComponent:
    def __init__(self, relay: OutboxRelay) -> None:
        self.relay = relay

    def services(self) -> list[ServedService]:
        return []

    async def stop(self) -> None:
        await self.relay.stop()


async def start(ctx: SiteContext) -> Component:
    relay = OutboxRelay(ctx.store, ctx.nats, ctx.site_id, ctx.hub,
                        RelaySettings.from_extra(dict(ctx.config.extra)))
    await relay.start()
    ctx.extras["republisher"] = relay
    return RelayComponent(relay)
