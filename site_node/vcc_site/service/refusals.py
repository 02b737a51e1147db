"""The site's audit of calls its authorization check refused (bounded per actor, method
and minute by :class:`~vcc_proto.refusal_audit.RefusalAudit`): rows of the site's audit
table with action ``authz_refused``, the presented identity as actor, the RPC as
subject and the status and reason (or the count of a minute's further refusals) as
detail."""

from __future__ import annotations

from vcc_domain.ids import new_id
from vcc_proto.refusal_audit import RefusalAudit, RefusalRow
from vcc_site.service.core import SiteCore
from vcc_site.store.api import AuditRecord, UnitOfWork

ACTION = "authz_refused"


def refusal_audit(core: SiteCore) -> RefusalAudit:
    async def write(rows: list[RefusalRow]) -> None:
        uow = UnitOfWork()
        for row in rows:
            actor, method = row.actor[:64], row.method[:64]
            uow.add(AuditRecord(new_id("req"), row.at_ms, actor, ACTION, method, row.detail))
        await core.submit(uow)

    return RefusalAudit(write, core.now_ms)
