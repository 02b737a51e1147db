"""Site component: directory_sync (not built yet; see the hub issue)."""

from __future__ import annotations

from vcc_site.components import Component, NoComponent, SiteContext


async def start(ctx: SiteContext) -> Component:
    return NoComponent()
