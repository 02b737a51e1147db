"""Who a process is to the broker (NATS) and the coordination store (etcd).

``vcc up`` gives every node its own user on both, with only the rights its kind needs
(see ``vcc_ops.infra.access``), and hands each process its name and password through
these settings. Empty names connect without credentials, as to a server that asks for
none (the bare test servers, the benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass

from vcc_proto.settings import setting

NATS_USER_ENV = "VCC_NATS_USER"
NATS_PASSWORD_ENV = "VCC_NATS_PASSWORD"
ETCD_USER_ENV = "VCC_ETCD_USER"
ETCD_PASSWORD_ENV = "VCC_ETCD_PASSWORD"


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and its password (never shown: ``repr`` hides it)."""

    user: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password=***)"


@dataclass(frozen=True, slots=True)
class NatsUserSettings:
    """This process's user on NATS."""

    user: str = setting(
        NATS_USER_ENV, "", "NATS user of this process; empty: connect without credentials"
    )
    password: str = setting(NATS_PASSWORD_ENV, "", "password of the NATS user", default_text="none")

    def __repr__(self) -> str:
        return f"NatsUserSettings(user={self.user!r})"

    def credentials(self) -> Credentials | None:
        return Credentials(self.user, self.password) if self.user else None


@dataclass(frozen=True, slots=True)
class EtcdUserSettings:
    """This process's user on etcd."""

    user: str = setting(
        ETCD_USER_ENV, "", "etcd user of this process; empty: connect without credentials"
    )
    password: str = setting(ETCD_PASSWORD_ENV, "", "password of the etcd user", default_text="none")

    def __repr__(self) -> str:
        return f"EtcdUserSettings(user={self.user!r})"

    def credentials(self) -> Credentials | None:
        return Credentials(self.user, self.password) if self.user else None


def inbox_prefix(credentials: Credentials | None) -> str:
    """Where a client's replies arrive on NATS: ``_INBOX.<user>.*`` (the only subjects a
    user may subscribe to, so no one reads another node's replies and deliveries)."""
    return f"_INBOX.{credentials.user}" if credentials is not None else "_INBOX"


def access_env(nats: Credentials | None, etcd: Credentials | None) -> dict[str, str]:
    """The variables that give a child process these users."""
    env: dict[str, str] = {}
    if nats is not None:
        env |= {NATS_USER_ENV: nats.user, NATS_PASSWORD_ENV: nats.password}
    if etcd is not None:
        env |= {ETCD_USER_ENV: etcd.user, ETCD_PASSWORD_ENV: etcd.password}
    return env
