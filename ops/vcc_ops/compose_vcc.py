"""Checks of the compose file's vcc processes against the project's own code.

* The argv of every service built from ``ops/docker/Dockerfile`` is parsed with the real
  click command objects of ``vcc_ops.cli.main``: the command must exist and take every
  option given, with values of the right type.
* Every ``VCC_*`` variable must be read by that process: the ``envvar`` of one of the
  command's options, or a variable of one of the process's settings classes
  (:mod:`vcc_ops.settings_registry`), with a value its type accepts.
* Settings are resolved as the process resolves them (flag, else variable, else
  default) and every address is checked against the services of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import click

from vcc_ops import compose_model
from vcc_ops.compose_model import Compose, Service, host_port, is_ipv4
from vcc_ops.env_file import ENV_FILE
from vcc_ops.settings_registry import PROCESSES, parts_for, variables_for
from vcc_proto.settings import SettingsError, load

LISTEN_ALL = ("0.0.0.0", "::")


@dataclass
class VccProcess:
    svc: Service
    command: str  # "hub" or "site"
    settings: dict[str, Any]  # click parameter name -> resolved value
    envvars: set[str]  # VCC_* names the process reads
    valid: bool = True  # False: a setting is missing or malformed (already reported)


def settings_env() -> dict[str, frozenset[str]]:
    """The ``VCC_*`` variables each process's settings classes read."""
    return {kind: frozenset(variables_for(kind)) for kind in PROCESSES}


def check_settings(
    c: Compose, where: str, kind: str, env: dict[str, str], flags: dict[str, object]
) -> None:
    """Each settings class of the process loads from the service's flags and environment."""
    for part in parts_for(kind):
        try:
            load(part, env, flags)
        except SettingsError as exc:
            c.problems.append(f"{where}: {exc}")


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | Path) else None


def resolve_process(
    c: Compose, svc: Service, cli: click.Group, code_env: dict[str, frozenset[str]]
) -> VccProcess | None:
    """Parse the service's argv with the click command it names; None if it is wrong."""
    argv = svc.argv
    if not argv or PurePosixPath(argv[0]).name != "vcc":
        c.problem(svc.name, f"runs {argv[:1] or 'nothing'}, not `vcc` (the image's entrypoint)")
        return None
    cmd: click.Command = cli
    ctx = click.Context(cli, info_name="vcc")
    path, args = ["vcc"], list(argv[1:])
    while isinstance(cmd, click.Group):
        sub = cmd.get_command(ctx, args[0]) if args and not args[0].startswith("-") else None
        if sub is None:
            c.problem(
                svc.name,
                f"`{' '.join(path)}` has no command {args[:1] or '(none given)'}; "
                f"commands: {', '.join(cmd.list_commands(ctx))}",
            )
            return None
        path.append(args.pop(0))
        ctx, cmd = click.Context(sub, info_name=path[-1], parent=ctx), sub
    where = f"{svc.name}: `{' '.join(path)}`"
    try:
        opts, rest, _ = cmd.make_parser(ctx).parse_args(args)
    except click.UsageError as exc:
        c.problems.append(f"{where}: {exc.format_message()}")
        return None
    if rest and not any(isinstance(p, click.Argument) for p in cmd.params):
        c.problems.append(f"{where} takes no arguments, given {rest}")
    settings: dict[str, Any] = {}
    valid = True
    for param in cmd.params:
        envvar = param.envvar if isinstance(param.envvar, str) else None
        if param.name in opts:
            raw, source = opts[param.name], f"option {param.opts[0]}"
        elif envvar is not None and envvar in svc.env:
            raw, source = svc.env[envvar], envvar
        else:
            raw, source = _plain(param.default), "default"
        if raw is None and param.required:
            c.problems.append(f"{where} needs {param.opts[0]} (or {envvar})")
            valid = False
        try:
            settings[str(param.name)] = None if raw is None else param.type_cast_value(ctx, raw)
        except click.BadParameter as exc:
            c.problems.append(f"{where}: {source}: {exc.format_message()}")
            valid = False
    kind = path[1] if len(path) == 2 and path[1] in PROCESSES else ""
    envvars = {p.envvar for p in cmd.params if isinstance(p.envvar, str)} | code_env.get(
        kind, frozenset()
    )
    envvars.add(ENV_FILE)  # read by `vcc` itself before any command (vcc_ops.env_file)
    for key in sorted(svc.env):
        if key.startswith("VCC_") and key not in envvars:
            c.problems.append(
                f"{where} does not read {key}: it is neither an option's variable "
                f"(see `{' '.join(path)} --help`) nor a setting of the process "
                f"(see `vcc settings`)"
            )
    if not kind:
        c.problems.append(f"{where} is not a hub or site process")
        return None
    flags = {
        p.envvar: settings.get(str(p.name))
        for p in cmd.params
        if isinstance(p.envvar, str) and p.envvar in code_env.get(kind, frozenset())
    }
    check_settings(c, where, kind, svc.env, flags)
    return VccProcess(svc, kind, settings, envvars, valid)


def province_file(c: Compose, procs: list[VccProcess]) -> Path | None:
    """The province file (in the project) every process reads; None after a problem."""
    from vcc_ops.cli import example_province_path

    files: dict[str, Path] = {}
    for proc in procs:
        image_path = proc.settings.get("province_file")
        if image_path is None:
            files[proc.svc.name] = example_province_path()
            continue
        local = (
            None
            if c.dockerfile is None
            else c.dockerfile.local_file(str(image_path), c.project_dir)
        )
        if local is None or not local.is_file():
            c.problem(
                proc.svc.name,
                f"province file {image_path} is not a file of the project "
                f"that {compose_model.DOCKERFILE} copies into the image",
            )
            return None
        files[proc.svc.name] = local
    if len(set(files.values())) > 1:
        c.problem(
            "vcc",
            f"processes read different province files: {sorted(set(map(str, files.values())))}",
        )
        return None
    return next(iter(files.values()), None)


def check_processes(
    c: Compose, procs: list[VccProcess], site_ids: list[str] | None, databases: set[str]
) -> None:
    """Every process's settings; the sites against ``site_ids`` (None: not known)."""
    hubs = [p for p in procs if p.command == "hub"]
    if len(hubs) < 2:
        c.problem(
            "vcc", f"{len(hubs)} hub process(es); the province runs two hubs (leader and standby)"
        )
    sites: dict[str, list[str]] = {}
    for proc in procs:
        if proc.command == "site":
            sites.setdefault(str(proc.settings.get("site_id")), []).append(proc.svc.name)
    for site in site_ids or []:
        if len(sites.get(site, [])) != 1:
            c.problem(
                "vcc",
                f"site {site} of the province has {len(sites.get(site, []))} services "
                f"({', '.join(sites.get(site, [])) or 'none'}); it needs exactly one",
            )
    for site, names in sites.items():
        if site_ids is not None and site not in site_ids:
            c.problem(
                names[0], f"runs site {site}, which is not a site of the province ({site_ids})"
            )
    node_ids: dict[str, str] = {}
    procs = [p for p in procs if p.valid]  # the rest cannot start: reported already
    for proc in procs:
        node_id = str(proc.settings.get("node_id") or "")
        if not node_id or node_id in node_ids:
            c.problem(
                proc.svc.name, f"node id {node_id!r} is empty or also {node_ids.get(node_id)}'s"
            )
        node_ids[node_id] = proc.svc.name
        _check_listening(c, proc)
    for proc in procs:
        _check_connections(c, proc, databases)
    hub_dbs = {_db_name(p) for p in hubs}
    if len(hub_dbs) > 1:
        c.problem(
            "vcc", f"the hubs use different databases {sorted(map(str, hub_dbs))}; they share one"
        )
    site_dbs = [_db_name(p) for p in procs if p.command == "site"]
    if len(set(site_dbs)) != len(site_dbs) or hub_dbs & set(site_dbs):
        c.problem("vcc", f"sites must each have their own database: {site_dbs}")


def _check_listening(c: Compose, proc: VccProcess) -> None:
    s, svc = proc.settings, proc.svc
    if s["host"] not in LISTEN_ALL:
        c.problem(
            svc.name, f"listens on {s['host']} only; other containers cannot reach it (0.0.0.0)"
        )
    advertise = s["advertise_host"] or s["host"]
    if advertise not in svc.names:
        c.problem(
            svc.name,
            f"advertises {advertise}, which is not its name ({', '.join(sorted(svc.names))})",
        )
    for role, key in (("grpc", "grpc_port"), ("metrics", "metrics_port")):
        if not s[key]:
            c.problem(svc.name, f"{key} is 0 (any free port / off): it needs a fixed port")
        svc.listens[role] = int(s[key])
    for variable in ("VCC_CONSOLE_PORT", "VCC_WEB_PORT"):  # the hub's console, a site's desk
        port = svc.env.get(variable, "")
        if port.isdigit() and int(port) > 0:
            svc.listens["console"] = int(port)
    deps = svc.spec.get("depends_on") or {}
    jobs = [j.name for j in c.of_kind("crdb-job")]
    for job in jobs:
        if (
            not isinstance(deps, dict)
            or (deps.get(job) or {}).get("condition") != "service_completed_successfully"
        ):
            c.problem(
                svc.name, f"does not wait for {job} (condition: service_completed_successfully)"
            )


def _check_connections(c: Compose, proc: VccProcess, databases: set[str]) -> None:
    s, name = proc.settings, proc.svc.name
    nats_nodes = c.of_kind("nats")
    if "nats" in s:  # the edge talks to no broker (and keeps no database)
        if s["stream_replicas"] != len(nats_nodes):
            c.problem(
                name,
                f"stream replicas {s['stream_replicas']} (--stream-replicas / "
                f"VCC_STREAM_REPLICAS); the NATS cluster has {len(nats_nodes)} nodes",
            )
        _check_endpoints(c, name, "NATS URL", str(s["nats"]).split(","), "nats", "client", 4222)
    etcd = [e for e in str(s["etcd"]).split(",") if e]
    named = [e for e in etcd if not is_ipv4(host_port(e, 2379)[0])]
    if named:
        c.problem(
            name,
            f"etcd endpoints {', '.join(named)} are not IPv4 addresses: the etcd client "
            "(etcd3aio) dials an `ipv4:` gRPC target, which resolves no host names",
        )
    _check_endpoints(c, name, "etcd endpoint", etcd, "etcd", "client", 2379)
    hub = str(s.get("hub_endpoint") or "")
    if hub:
        _check_endpoints(c, name, "hub endpoint", [hub], "vcc", "grpc", -1, every=False)
    if proc.command != "edge":  # the edge keeps its ledger in a file, no database
        _check_database(c, proc, databases)


def _check_endpoints(
    c: Compose,
    where: str,
    what: str,
    endpoints: list[str],
    kind: str,
    role: str,
    default_port: int,
    *,
    every: bool = True,
) -> None:
    reached: set[str] = set()
    for endpoint in endpoints:
        host, port = host_port(endpoint, default_port)
        target = c.resolve(host)
        if target is None or target.kind != kind:
            c.problem(where, f"{what} {endpoint}: {host} is no {kind} service of the file")
        elif port != target.listens.get(role):
            c.problem(
                where,
                f"{what} {endpoint}: {target.name} listens on {target.listens.get(role)}, "
                f"not {port}",
            )
        else:
            reached.add(target.name)
    missing = sorted({n.name for n in c.of_kind(kind)} - reached)
    if every and missing:
        c.problem(where, f"{what}s leave out {', '.join(missing)}; name every node for failover")


def _db_name(proc: VccProcess) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(str(proc.settings.get("db"))).database
    except Exception:  # reported by _check_database
        return None


def _check_database(c: Compose, proc: VccProcess, databases: set[str]) -> None:
    from sqlalchemy.engine import make_url

    from vcc_replication.db import make_engine

    name, url = proc.svc.name, proc.settings.get("db")
    if not url:
        c.problem(
            name,
            "has no database URL (--db / VCC_DB): SQLite in a container is not the "
            "province's CockroachDB",
        )
        return
    try:
        parsed = make_url(str(url))
        make_engine(str(url)).sync_engine.dispose()  # dialect and async driver are installed
    except Exception as exc:
        c.problem(name, f"database URL {url} is not one the project can open: {exc}")
        return
    target = c.resolve(parsed.host or "")
    if target is None or target.kind != "crdb":
        c.problem(name, f"database host {parsed.host} is no CockroachDB node of the file")
    elif (parsed.port or 26257) != target.listens.get("sql"):
        c.problem(
            name,
            f"database port {parsed.port} is not {target.name}'s SQL port "
            f"{target.listens.get('sql')}",
        )
    if parsed.database not in databases:
        c.problem(
            name,
            f"database {parsed.database} is not created by the init job "
            f"(it creates {', '.join(sorted(databases)) or 'none'})",
        )
    site = str(proc.settings.get("site_id") or "")
    local = [n.name for n in c.of_kind("crdb") if site and site in n.locality]
    if local and (target is None or target.name not in local):
        c.problem(
            name,
            f"site {site} should use the CockroachDB node of its own locality "
            f"({', '.join(local)}), not {parsed.host}",
        )
