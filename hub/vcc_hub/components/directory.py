"""Hub component: directory (not built yet; see the hub issue)."""

from __future__ import annotations

from vcc_hub.components import Component, HubContext, NoComponent


async def start(ctx: HubContext) -> Component:
    return NoComponent()
