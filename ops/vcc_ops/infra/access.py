"""One user per node on NATS and etcd, with only the rights its kind needs.

:meth:`ProvinceAccess.generate` makes a random password for every node of a province run
(each hub, each site, the access edge, and ``ops`` for the operator's commands and the
drills) and etcd's ``root``. The rights:

========  ===========================================  =====================================
node      NATS                                         etcd
========  ===========================================  =====================================
hub       the JetStream API (streams, consumers),      read ``/vcc/``; write the routing
          publish directory deltas and dead letters    map, the leader key, ``/vcc/hubs/``
site KM   publish ``vcc.site.KM.events`` only; fetch   read ``/vcc/``; write only its own
          from ``vcc-dir-KM``, the directory consumer  ``/vcc/sites/KM``
          the hub made for it (it creates none)
edge      none                                         read ``/vcc/``
ops       read the dead letters                        read ``/vcc/``
========  ===========================================  =====================================

Every user subscribes only to its own inboxes (``_INBOX.<user>.>``), where JetStream
answers and delivers: no node reads the replies or deliveries of another. Anonymous clients are refused by both servers. The NATS configuration holds
only bcrypt hashes of the passwords (:func:`nats_password_hash`): the clear ones are in
each process's own environment (``VCC_NATS_PASSWORD``) or, for the operator, its 0600
``access.json``.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import grpc.aio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from etcd3aio import Etcd3Client, PermissionType, prefix_range_end

from vcc_proto.access import Credentials, access_env, inbox_prefix
from vcc_proto.broker_tls import etcd_hostports, etcd_tls_options
from vcc_proto.names import (
    DEAD_LETTER_STREAM,
    DEAD_LETTER_SUBJECTS,
    DIRECTORY_STREAM,
    DIRECTORY_SUBJECT,
    HUB_KEY_PREFIX,
    LEADER_KEY,
    ROUTING_PREFIX,
    directory_consumer,
    site_events_subject,
    site_key,
)
from vcc_proto.tls import ClientTls

NATS_BCRYPT_COST = 6

KINDS = ("hub", "site", "edge", "ops")
OPS_USER = "ops"
ROOT_USER = "root"
VCC_PREFIX = "/vcc/"
ACCESS_FILE = "access.json"  # in a province's workdir: the ops user, for vcc commands


@dataclass(frozen=True, slots=True)
class NodeUser:
    """A node's user (the same name and password on NATS and etcd)."""

    name: str  # the node's name: hub-1, site-KM, edge, ops
    kind: str  # hub | site | edge | ops
    password: str = field(repr=False)
    site: str = ""  # a site's ID

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.name, self.password)


def nats_rights(user: NodeUser) -> tuple[list[str], list[str]]:
    """The subjects ``user`` may publish to and subscribe to on NATS."""
    if user.kind == "hub":
        publish = ["$JS.API.>", "$JS.ACK.>", "$JS.FC.>", DIRECTORY_SUBJECT, DEAD_LETTER_SUBJECTS]
    elif user.kind == "site":
        consumer = f"{DIRECTORY_STREAM}.{directory_consumer(user.site)}"
        publish = [  # fetch from and acknowledge the consumer the hub made for it
            site_events_subject(user.site),
            "$JS.API.INFO",
            f"$JS.API.CONSUMER.MSG.NEXT.{consumer}",
            f"$JS.API.CONSUMER.INFO.{consumer}",
            f"$JS.ACK.{consumer}.>",
        ]
    elif user.kind == "ops":
        publish = [
            "$JS.API.INFO",
            f"$JS.API.STREAM.INFO.{DEAD_LETTER_STREAM}",
            f"$JS.API.STREAM.MSG.GET.{DEAD_LETTER_STREAM}",
        ]
    else:
        return [], []
    return publish, [inbox_prefix(user.credentials) + ".>"]


def _quoted(items: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


class ProvinceAccess:
    """The users of one province run (see the module's table)."""

    def __init__(self, users: Sequence[NodeUser], root_password: str) -> None:
        self.users = {u.name: u for u in users}
        self.root = Credentials(ROOT_USER, root_password)
        self._hashes: dict[tuple[str, str], str] = {}

    @classmethod
    def generate(
        cls, hubs: Sequence[str], sites: Sequence[str], edges: Sequence[str] = ()
    ) -> ProvinceAccess:
        """Fresh passwords for hubs, sites (``site-<ID>``), edges and ``ops``."""
        users = [NodeUser(h, "hub", _password()) for h in hubs]
        users += [NodeUser(f"site-{s}", "site", _password(), site=s) for s in sites]
        users += [NodeUser(e, "edge", _password()) for e in edges]
        users.append(NodeUser(OPS_USER, "ops", _password()))
        return cls(users, _password())

    def user(self, name: str) -> NodeUser:
        return self.users[name]

    def env_for(self, name: str) -> dict[str, str]:
        """The ``VCC_NATS_*`` and ``VCC_ETCD_*`` variables of the node ``name``."""
        user = self.users[name]
        nats = user.credentials if user.kind != "edge" else None
        return access_env(nats, user.credentials)

    # -- NATS ----------------------------------------------------------------------------

    def _nats_hash(self, user: NodeUser) -> str:
        key = (user.name, user.password)  # one hash per password: the config is rewritten
        found = self._hashes.get(key)
        if found is None:
            found = self._hashes[key] = nats_password_hash(user.password)
        return found

    def nats_authorization(self) -> str:
        """The ``authorization`` block of nats-server's configuration."""
        lines = ["authorization {", "  users = ["]
        for user in self.users.values():
            publish, subscribe = nats_rights(user)
            lines.append(
                f"    {{user: {json.dumps(user.name)}, "
                f"password: {json.dumps(self._nats_hash(user))}, "
                f"permissions: {{publish: {{allow: {_quoted(publish or ['_NOTHING'])}}}, "
                f"subscribe: {{allow: {_quoted(subscribe or ['_NOTHING'])}}}}}}}"
            )
        lines += ["  ]", "}"]
        return "\n".join(lines) + "\n"

    # -- etcd ----------------------------------------------------------------------------

    @staticmethod
    def etcd_token_option(directory: Path, ttl: str = "1h") -> str:
        """etcd's ``--auth-token``: tokens signed with a new key of this run (written to
        ``directory``, owner only), which every member checks, also after a restart."""
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        private, public = directory / "token.key", directory / "token.pub"
        _write_private(
            private,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
        )
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return f"jwt,pub-key={public},priv-key={private},sign-method=ES256,ttl={ttl}"

    async def secure_etcd(self, endpoints: Sequence[str], tls: ClientTls | None = None) -> None:
        """Create the roles and users and turn authentication on (once: a restarted
        member keeps them in its data); ``https://`` endpoints with ``tls``'s CA."""
        hostports, secure = etcd_hostports(endpoints)
        options = etcd_tls_options(hostports, tls) if secure else {}
        async with Etcd3Client(hostports, **options) as client:
            auth = client.auth
            assert auth is not None
            try:
                if (await auth.auth_status(timeout=5.0)).enabled:
                    return
            except grpc.aio.AioRpcError as exc:
                if "user name is empty" in (exc.details() or ""):
                    return  # on already: it answers no anonymous question
                raise
            await auth.user_add(ROOT_USER, self.root.password, timeout=5.0)
            await auth.user_grant_role(ROOT_USER, "root", timeout=5.0)
            await self._role(client, "hub", [HUB_KEY_PREFIX, ROUTING_PREFIX], [LEADER_KEY])
            await self._role(client, "reader", [], [])
            for user in self.users.values():
                role = user.kind if user.kind == "hub" else "reader"
                if user.kind == "site":
                    role = f"site-{user.site}"
                    await self._role(client, role, [], [site_key(user.site)])
                await auth.user_add(user.name, user.password, timeout=5.0)
                await auth.user_grant_role(user.name, role, timeout=5.0)
            await auth.auth_enable(timeout=5.0)

    @staticmethod
    async def _role(
        client: Etcd3Client, role: str, write_prefixes: list[str], write_keys: list[str]
    ) -> None:
        """A role reading everything under ``/vcc/`` and writing only what it is given."""
        auth = client.auth
        assert auth is not None
        await auth.role_add(role, timeout=5.0)
        await auth.role_grant_permission(
            role, VCC_PREFIX, prefix_range_end(VCC_PREFIX), perm_type=PermissionType.READ
        )
        for prefix in write_prefixes:
            await auth.role_grant_permission(
                role, prefix, prefix_range_end(prefix), perm_type=PermissionType.READWRITE
            )
        for key in write_keys:
            await auth.role_grant_permission(role, key, perm_type=PermissionType.READWRITE)

    # -- the operator's copy ---------------------------------------------------------------

    def write_ops_file(self, workdir: Path) -> Path:
        """``<workdir>/access.json``: the ops user, readable by its owner only."""
        path = workdir / ACCESS_FILE
        ops = self.users[OPS_USER]
        _write_private(path, json.dumps({"user": ops.name, "password": ops.password}).encode())
        return path


def read_ops_file(workdir: Path) -> Credentials | None:
    """The ops user a running province left in ``workdir`` (None without one)."""
    try:
        raw = json.loads((workdir / ACCESS_FILE).read_text())
        return Credentials(str(raw["user"]), str(raw["password"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def nats_password_hash(password: str) -> str:
    """The bcrypt hash nats-server checks a password against (``$2a$``, the prefix it
    documents). The passwords are random (:func:`_password`, 192 bits): a low cost
    loses nothing, and every connection to the broker pays it."""
    hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=NATS_BCRYPT_COST))
    return "$2a$" + hashed.decode("ascii")[4:]


def nats_password_matches(password: str, hashed: str) -> bool:
    return bcrypt.checkpw(password.encode("utf-8"), ("$2b$" + hashed[4:]).encode("ascii"))


def _password() -> str:
    return secrets.token_urlsafe(24)
