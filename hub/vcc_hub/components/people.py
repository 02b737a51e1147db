"""Hub component: the province's people (province managers, operations) sign in here.

Installs the initial password hashes the hub was given for them
(``<data-dir>/initial-secrets/hub.json``, :mod:`vcc_proto.initial_secrets`) for those
without a credential, follows the directory's people every couple of seconds (a person
removed loses their sessions), serves the People gRPC service and gives the
authorization check its session hook (:meth:`authz`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vcc_domain.ids import new_id
from vcc_hub.components import HubContext
from vcc_hub.components.routing import CurrentProvince
from vcc_hub.service.directory import DirectoryService
from vcc_hub.service.people import HubPeopleService
from vcc_hub.store.people import AuditRow, PeopleStore
from vcc_proto.authz_interceptor import AuthzInterceptor
from vcc_proto.initial_secrets import HUB, read_hashes
from vcc_proto.people_servicer import people_service
from vcc_proto.refusal_audit import RefusalAudit, RefusalRow
from vcc_proto.server import ServedService
from vcc_proto.status import ERRORS

log = logging.getLogger(__name__)

REFRESH_S = 2.0


class PeopleComponent:
    def __init__(self, service: HubPeopleService) -> None:
        self.service = service
        self.refusals = RefusalAudit(self._audit_refusals, service.now_ms)
        self._task = asyncio.create_task(self._follow(), name="people-directory")

    def services(self) -> list[ServedService]:
        return [people_service(self.service)]

    def authz(self) -> AuthzInterceptor:
        """The authorization check of a TLS port: node certificates and people's tokens."""
        return AuthzInterceptor(self.service.person_of, audit=self.refusals)

    async def _audit_refusals(self, rows: list[RefusalRow]) -> None:
        for audit in refusal_audit_rows(rows):
            await self.service.store.audit(audit)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            await self.refusals.flush()  # the summaries of a minute of refused calls
            ERRORS.flush()  # and of the handlers' unexpected errors not logged
            try:
                await self.service.refresh()
            except Exception as exc:  # keep the last known people
                log.warning("people: cannot read the directory: %s", exc)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def refusal_audit_rows(rows: list[RefusalRow]) -> list[AuditRow]:
    """Refused calls as the hub's people audit keeps them: the status (or the count of a
    minute's further refusals) in the action, the status and reason in the detail."""
    out = []
    for row in rows:
        action = f"refused:{row.code}" if row.count == 1 else f"refused:x{row.count}"
        out.append(
            AuditRow(
                new_id("req"), row.at_ms, row.actor[:64], action[:32], row.method[:64], row.detail
            )
        )
    return out


async def start_people(ctx: HubContext, directory: DirectoryService) -> PeopleComponent:
    store = PeopleStore(ctx.engine)  # its tables come with the directory's migrations
    service = HubPeopleService(store, CurrentProvince(ctx, directory), ctx.clock)
    installed = await store.install_missing(read_hashes(ctx.config.data_dir, HUB))
    if installed:
        log.info("set initial credentials of %d people of the province", installed)
    await service.refresh()
    return PeopleComponent(service)
