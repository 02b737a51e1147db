"""``vcc directory ...``: read and change the provincial directory at the hub leader.

Entities are tables of the province file (see :mod:`vcc_domain.directory_doc` for kinds
and how each is addressed)::

    vcc directory list agent
    vcc directory show business bill_query
    vcc directory add agent --file agent.toml          # or .json
    vcc directory update agent KM-LEAD --set skills.billing=5 --set role=specialist
    vcc directory remove directory_entry 0871-96566
    vcc directory assign fault_report --sites KM,DL
    vcc directory import province.toml

The hub is ``--hub host:port`` or the leader found in etcd (``--etcd``, else the province
``vcc up`` runs in ``--workdir``). A follower's NOT_LEADER answer is followed to the
leader it names, with backoff. Bad input (a change the hub refuses, a malformed file)
exits with code 2 and the message naming the field; an unreachable hub exits 3.
"""

from __future__ import annotations

import json
import sys
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import grpc
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from vcc_domain.directory_doc import KINDS, jsonable
from vcc_domain.errors import NotLeader, Unavailable, VccError
from vcc_ops.exits import UNREACHABLE_KINDS, Exit
from vcc_ops.progress import working
from vcc_ops.target import etcd_endpoints, workdir_option
from vcc_proto.channels import open_sync_channel
from vcc_proto.status import from_rpc_error, leader_of
from vcc_proto.v1 import common_pb2 as c
from vcc_proto.v1 import hub_pb2 as h
from vcc_proto.v1 import hub_pb2_grpc as hg

T = TypeVar("T")

KIND_ENUM: dict[str, int] = {
    "site": h.ENTITY_KIND_SITE,
    "skill": h.ENTITY_KIND_SKILL,
    "business": h.ENTITY_KIND_BUSINESS,
    "agent": h.ENTITY_KIND_AGENT,
    "tariff": h.ENTITY_KIND_TARIFF,
    "routing": h.ENTITY_KIND_ROUTING_POLICY,
    "directory_entry": h.ENTITY_KIND_DIRECTORY_ENTRY,
    "agent_group": h.ENTITY_KIND_AGENT_GROUP,
    "tiers": h.ENTITY_KIND_TIERS,
    "province": h.ENTITY_KIND_PROVINCE,
    "document": h.ENTITY_KIND_DOCUMENT,
    "outage": h.ENTITY_KIND_OUTAGE,
}
KIND_CHOICE = click.Choice(sorted(KINDS))


class CliFailure(click.ClickException):
    """A refused request or bad input: exit code 2."""

    exit_code = 2


class HubUnreachable(CliFailure):
    """The hub could not be reached or failed: exit code 3."""

    exit_code = Exit.UNREACHABLE


class _Retry(Exception):
    pass


class HubClient:
    def __init__(self, hub: str, etcd: str, operator: str, timeout_s: float) -> None:
        self.fixed = hub
        self.etcd = [e for e in etcd.split(",") if e]
        self.actor = c.Actor(operator=f"vcc-cli:{operator}")
        self.timeout_s = timeout_s
        self._endpoint = hub

    def _locate(self) -> str:
        if self._endpoint:
            return self._endpoint
        if not self.etcd:
            raise Unavailable("give --hub host:port or --etcd to find the hub leader")
        import asyncio

        from vcc_failover.locator import EtcdHubLocator

        self._endpoint = asyncio.run(EtcdHubLocator(self.etcd).leader_endpoint())
        return self._endpoint

    def call(self, fn: Callable[[hg.DirectoryStub], T]) -> T:
        """Run ``fn`` against the leader; follow NOT_LEADER and retry UNAVAILABLE."""
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(6),
                wait=wait_exponential(multiplier=0.2, max=2.0),
                retry=retry_if_exception_type(_Retry),
                reraise=True,
            ):
                with attempt:
                    return self._once(fn)
        except _Retry as exc:
            raise Unavailable(f"no hub leader answered after 6 attempts: {exc}") from None
        raise AssertionError("unreachable")

    def _once(self, fn: Callable[[hg.DirectoryStub], T]) -> T:
        endpoint = self._locate()
        with open_sync_channel(endpoint) as channel:
            try:
                return fn(hg.DirectoryStub(channel))
            except grpc.RpcError as exc:
                err = from_rpc_error(exc)
                if isinstance(err, NotLeader):
                    self._endpoint = leader_of(exc) or ("" if not self.fixed else self.fixed)
                    if not self._endpoint and not self.etcd:
                        raise err from exc
                    raise _Retry(str(err)) from exc
                if isinstance(err, Unavailable):
                    self._endpoint = self.fixed
                    raise _Retry(str(err)) from err
                raise err from exc

    # -- requests ----------------------------------------------------------------------

    def entities(self, kind: str) -> tuple[int, list[tuple[str, Any]]]:
        reply: h.ListEntitiesReply = self.call(
            lambda s: s.ListEntities(
                h.ListEntitiesRequest(kind=KIND_ENUM[kind]),  # type: ignore[arg-type]
                timeout=self.timeout_s,
            )
        )
        items = [
            (i, json.loads(e)) for i, e in zip(reply.entity_ids, reply.entities_json, strict=True)
        ]
        return reply.version, items

    def entity(self, kind: str, ident: str) -> Any | None:
        return next((e for i, e in self.entities(kind)[1] if i == ident), None)

    def apply(self, changes: list[h.DirectoryChange]) -> h.ApplyChangeReply:
        request = h.ApplyChangeRequest(
            changes=changes, actor=self.actor, request_id=f"req_cli{uuid.uuid4().hex}"
        )
        reply: h.ApplyChangeReply = self.call(
            lambda s: s.ApplyChange(request, timeout=self.timeout_s)
        )
        return reply

    def import_toml(self, text: str) -> h.ApplyChangeReply:
        request = h.ImportProvinceRequest(
            toml=text, actor=self.actor, request_id=f"req_cli{uuid.uuid4().hex}"
        )
        reply: h.ApplyChangeReply = self.call(
            lambda s: s.ImportProvince(request, timeout=self.timeout_s)
        )
        return reply


def upsert(kind: str, ident: str, entity: Any) -> h.DirectoryChange:
    return h.DirectoryChange(
        op=h.DirectoryChange.OP_UPSERT,
        kind=KIND_ENUM[kind],  # type: ignore[arg-type]
        entity_id=ident,
        entity_json=json.dumps(entity).encode("utf-8"),
    )


def read_entity_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliFailure(f"--file: cannot read {path}: {exc}") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise CliFailure(
            f"--file: {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise CliFailure(f"--file: {path} must hold one table (the entity)")
    result = jsonable(data)
    assert isinstance(result, dict)
    return result


def apply_sets(entity: dict[str, Any], sets: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` / ``a.b=value``; the value is JSON when it parses, else a string."""
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CliFailure(f"--set: expected key=value, got {item!r}")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        target = entity
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise CliFailure(f"--set: {key!r}: {part!r} is not a table")
            target = nxt
        target[parts[-1]] = value
    return entity


def _entity_id(kind: str, entity: dict[str, Any], ident: str | None) -> str:
    spec = KINDS[kind]
    if ident:
        return ident
    if spec.key is not None and entity.get(spec.key) is not None:
        return str(entity[spec.key])
    return ""


def _run(ctx: click.Context, fn: Callable[[HubClient], None]) -> None:
    client: HubClient = ctx.obj
    try:
        fn(client)
    except VccError as err:
        if err.kind in UNREACHABLE_KINDS:
            raise HubUnreachable(str(err)) from None
        raise CliFailure(str(err)) from None


@click.group()
@click.option("--hub", envvar="VCC_HUB", default="", help="Hub gRPC endpoint host:port.")
@click.option(
    "--etcd",
    envvar="VCC_ETCD",
    default="",
    help="etcd endpoint(s) to find the hub leader when --hub is not given "
    "(default: the running province's, else 127.0.0.1:2379).",
)
@workdir_option
@click.option("--operator", envvar="USER", default="operator", help="Recorded as the actor.")
@click.option("--timeout", "timeout_s", type=float, default=10.0, show_default=True)
@click.pass_context
def directory(
    ctx: click.Context, hub: str, etcd: str, workdir: Path, operator: str, timeout_s: float
) -> None:
    """Read and change the provincial directory (sites, skills, businesses, agents, ...)."""
    ctx.obj = HubClient(hub, ",".join(etcd_endpoints(etcd, workdir)), operator, timeout_s)


@directory.command("list")
@click.argument("kind", type=KIND_CHOICE)
@click.option("--json", "as_json", is_flag=True, help="Print the entities as JSON.")
@click.pass_context
def list_cmd(ctx: click.Context, kind: str, as_json: bool) -> None:
    """List the entities of KIND at the latest version."""

    def work(client: HubClient) -> None:
        version, items = client.entities(kind)
        if as_json:
            click.echo(
                json.dumps(
                    {"version": version, "entities": [e for _, e in items]},
                    ensure_ascii=False,
                    indent=2,
                )
            )
            return
        click.echo(f"directory version {version}: {len(items)} {kind}(s)")
        for ident, entity in items:
            name = entity.get("name", "") if isinstance(entity, dict) else ""
            click.echo(f"  {ident or '-'}  {name}".rstrip())

    _run(ctx, work)


@directory.command("show")
@click.argument("kind", type=KIND_CHOICE)
@click.argument("ident", metavar="ID", required=False, default="")
@click.pass_context
def show_cmd(ctx: click.Context, kind: str, ident: str) -> None:
    """Print one entity as JSON (singletons such as routing need no ID)."""

    def work(client: HubClient) -> None:
        found = client.entity(kind, ident)
        if found is None:
            raise CliFailure(f"no {kind} {ident!r}")
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))

    _run(ctx, work)


def _change_command(name: str, must_exist: bool) -> Callable[..., None]:
    @directory.command(name)
    @click.argument("kind", type=KIND_CHOICE)
    @click.argument("ident", metavar="[ID]", required=False, default="")
    @click.option(
        "--file",
        "file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The entity as a table (.toml or .json).",
    )
    @click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help='Set one field (a.b=... for nested; JSON values such as 5, ["x"]).',
    )
    @click.pass_context
    def command(
        ctx: click.Context, kind: str, ident: str, file: Path | None, sets: tuple[str, ...]
    ) -> None:
        if file is None and not sets:
            raise CliFailure("give --file or at least one --set")

        def work(client: HubClient) -> None:
            entity = read_entity_file(file) if file is not None else {}
            key = _entity_id(kind, entity, ident)
            current = client.entity(kind, key) if (key or KINDS[kind].singleton) else None
            if must_exist and current is None:
                raise CliFailure(f"no {kind} {key!r} to update; use add")
            if not must_exist and current is not None and not KINDS[kind].singleton:
                raise CliFailure(f"{kind} {key!r} exists already; use update")
            if file is None and isinstance(current, dict):
                entity = dict(current)
            entity = apply_sets(entity, sets)
            reply = client.apply([upsert(kind, key, entity)])
            click.echo(
                f"{kind} {key or ''} {'updated' if must_exist else 'added'}: "
                f"directory version {reply.version}".replace("  ", " ")
            )

        _run(ctx, work)

    command.__doc__ = (
        "Update an existing entity (whole with --file, or fields with --set)."
        if must_exist
        else "Add a new entity from --file and/or --set."
    )
    return command


add_cmd = _change_command("add", must_exist=False)
update_cmd = _change_command("update", must_exist=True)


@directory.command("remove")
@click.argument("kind", type=KIND_CHOICE)
@click.argument("ident", metavar="ID")
@click.pass_context
def remove_cmd(ctx: click.Context, kind: str, ident: str) -> None:
    """Remove an entity (refused while something still refers to it)."""

    def work(client: HubClient) -> None:
        change = h.DirectoryChange(
            op=h.DirectoryChange.OP_DELETE,
            kind=KIND_ENUM[kind],  # type: ignore[arg-type]
            entity_id=ident,
        )
        reply = client.apply([change])
        click.echo(f"{kind} {ident} removed: directory version {reply.version}")

    _run(ctx, work)


@directory.command("assign")
@click.argument("business")
@click.option(
    "--sites", required=True, help="Sites that accept the business, e.g. KM,DL (or 'all')."
)
@click.pass_context
def assign_cmd(ctx: click.Context, business: str, sites: str) -> None:
    """Set which sites accept BUSINESS."""
    chosen: Any = (
        "all" if sites.strip() == "all" else [s.strip() for s in sites.split(",") if s.strip()]
    )
    if not chosen:
        raise CliFailure("--sites: give at least one site")

    def work(client: HubClient) -> None:
        current = client.entity("business", business)
        if not isinstance(current, dict):
            raise CliFailure(f"no business {business!r}")
        entity = {**current, "accepting_sites": chosen}
        reply = client.apply([upsert("business", business, entity)])
        click.echo(f"business {business} accepted at {sites}: directory version {reply.version}")

    _run(ctx, work)


@directory.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def import_cmd(ctx: click.Context, path: Path) -> None:
    """Replace the whole directory with a province file (one new version)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliFailure(f"cannot read {path}: {exc}") from None

    def work(client: HubClient) -> None:
        with working(f"importing {path} at the hub"):
            reply = client.import_toml(text)
        click.echo(f"imported {path}: directory version {reply.version}")

    _run(ctx, work)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(directory())
