"""The hub's records of the province's people: credentials (with the failure counter,
moved only by compare-and-set) and their audit rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from vcc_hub.store.directory_tables import people_audit, people_credentials


@dataclass(frozen=True, slots=True)
class Credential:
    person_id: str
    password_hash: str  # argon2id
    failures: int = 0
    locked_until_ms: int = 0
    must_change: bool = False


@dataclass(frozen=True, slots=True)
class AuditRow:
    audit_id: str
    at_ms: int
    actor: str
    action: str
    subject: str
    detail: str = ""  # a refused call: its status and reason


class PeopleStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def credential(self, person_id: str) -> Credential | None:
        c = people_credentials.c
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(people_credentials).where(c.person_id == person_id))
            ).first()
        return None if row is None else Credential(**row._mapping)

    async def swap_failures(
        self, person_id: str, old: tuple[int, int], new: tuple[int, int]
    ) -> bool:
        """Set ``(failures, locked_until_ms)`` only if they are still ``old``."""
        c = people_credentials.c
        stmt = (
            update(people_credentials)
            .where(c.person_id == person_id, c.failures == old[0], c.locked_until_ms == old[1])
            .values(failures=new[0], locked_until_ms=new[1])
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def put(self, cred: Credential, audit: AuditRow) -> None:
        """Replace a person's credential, with its audit row, in one transaction."""
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(people_credentials).where(people_credentials.c.person_id == cred.person_id)
            )
            await conn.execute(insert(people_credentials).values(**_values(cred)))
            await conn.execute(insert(people_audit).values(**_values(audit)))

    async def install_missing(self, hashes: Mapping[str, str]) -> int:
        """Initial credentials (to change at first sign-in) for people without one."""
        done = 0
        for person_id, hashed in hashes.items():
            if await self.credential(person_id) is not None:
                continue
            try:
                async with self.engine.begin() as conn:
                    row = _values(Credential(person_id, hashed, must_change=True))
                    await conn.execute(insert(people_credentials).values(**row))
                done += 1
            except IntegrityError:  # another hub installed it first
                continue
        return done

    async def audit(self, row: AuditRow) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(people_audit).values(**_values(row)))

    async def audit_of(self, subject: str) -> list[AuditRow]:
        a = people_audit.c
        stmt = select(people_audit).where(a.subject == subject).order_by(a.at_ms, a.audit_id)
        async with self.engine.connect() as conn:
            return [AuditRow(**r._mapping) for r in await conn.execute(stmt)]


def _values(record: Credential | AuditRow) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}
