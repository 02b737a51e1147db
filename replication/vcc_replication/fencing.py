"""Fencing tokens in the hub database: a write from a deposed leader is refused.

The hub database holds the newest fencing token any leader has written with (table
``hub_fence``, one row). Every leader write transaction calls :func:`advance_fence` with
its token first: the row moves forward to it, or — when a newer token is already there —
the transaction is refused with :class:`Fenced` and nothing of it is written. Tokens are
etcd election revisions, so a later leader always holds a larger one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vcc_domain.errors import Fenced
from vcc_replication import sqlite_direct
from vcc_replication.migrations import Migrations

metadata = MetaData()
hub_fence = Table(
    "hub_fence",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token", BigInteger, nullable=False),
)

MIGRATIONS = Migrations(
    Path(__file__).resolve().parent / "fence_migrations", "hub_fence_alembic_version"
)


async def migrate(engine: AsyncEngine) -> None:
    await MIGRATIONS.upgrade(engine)


async def advance_fence(conn: AsyncConnection, token: int) -> None:
    """Inside a write transaction: accept ``token`` if it is the newest, else raise."""
    result = await conn.execute(
        update(hub_fence).where(hub_fence.c.id == 1, hub_fence.c.token <= token).values(token=token)
    )
    if result.rowcount == 0:
        newest = await conn.execute(select(hub_fence.c.token).where(hub_fence.c.id == 1))
        raise Fenced(
            f"write refused: fencing token {token} is older than {newest.scalar_one()}; "
            "this hub is no longer the leader",
            token=token,
        )


_ADVANCE_SQL = "UPDATE hub_fence SET token = :token WHERE id = 1 AND token <= :token"
_CURRENT_SQL = "SELECT token FROM hub_fence WHERE id = 1"


def advance_fence_direct(conn: sqlite3.Connection, token: int) -> None:
    """:func:`advance_fence` on a plain SQLite connection inside its write transaction."""
    if sqlite_direct.execute(conn, _ADVANCE_SQL, {"token": token}) == 0:
        found = sqlite_direct.query(conn, _CURRENT_SQL, {})
        raise Fenced(
            f"write refused: fencing token {token} is older than {found[0][0] if found else None}; "
            "this hub is no longer the leader",
            token=token,
        )


async def current_fence(conn: AsyncConnection) -> int:
    return int(
        (await conn.execute(select(hub_fence.c.token).where(hub_fence.c.id == 1))).scalar_one()
    )
