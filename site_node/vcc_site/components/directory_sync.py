"""Site component: directory sync (the hub's versioned directory, applied in order).

On start the site switches to the last directory version it applied (kept in its own
database) before serving, then follows the hub in the background; see
:mod:`vcc_site.sync.directory`. It never blocks the site: with the hub and the broker
gone the site serves its last version.
"""

from __future__ import annotations

from vcc_proto.server import ServedService
from vcc_site.components import SiteContext
from vcc_site.settings import DirectorySyncSettings
from vcc_site.sync.directory import DirectorySync


class DirectorySyncComponent:
    def __init__(self, sync: DirectorySync) -> None:
        self.sync = sync

    def services(self) -> list[ServedService]:
        return []

    async def stop(self) -> None:
        await self.sync.stop()


async def start_directory_sync(
    ctx: SiteContext, settings: DirectorySyncSettings
) -> DirectorySyncComponent:
    sync = DirectorySync(ctx, poll_every_s=settings.poll_s)
    await sync.load()
    sync.start()
    return DirectorySyncComponent(sync)
