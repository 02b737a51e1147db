"""Checks of the monitoring the compose file mounts: Prometheus rules and Grafana.

* every ``rule_files`` pattern of the Prometheus config matches at least one file mounted
  from the project, and each such file is a rule file (groups of rules, each with a
  ``record`` or ``alert`` name and an ``expr``); the rules' own syntax is checked by
  ``promtool check rules`` in the tests;
* Grafana: its provisioning folder is mounted; every provisioned Prometheus datasource
  points at the Prometheus service and its port; every dashboard folder a provider
  names is mounted and holds dashboards (JSON with a uid and panels) whose panels use
  a provisioned datasource uid.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from vcc_ops.compose_model import Compose, Service, bind_mounts, go_flags, load_yaml


def mounted_path(c: Compose, svc: Service, container_path: str) -> Path | None:
    """The host path that ``container_path`` of ``svc`` is, through a bind mount of it or
    of a folder above it (the deepest mount wins)."""
    target = PurePosixPath(container_path)
    best: tuple[int, Path] | None = None
    for source, mount in bind_mounts(svc.spec):
        mount_path = PurePosixPath(mount)
        if target == mount_path or mount_path in target.parents:
            depth = len(mount_path.parts)
            if best is None or depth > best[0]:
                best = (depth, c.local(source) / target.relative_to(mount_path))
    return None if best is None else best[1]


def _glob(c: Compose, svc: Service, pattern: str) -> list[Path]:
    folder, name = str(PurePosixPath(pattern).parent), PurePosixPath(pattern).name
    local = mounted_path(c, svc, folder)
    if local is None or not local.is_dir():
        return []
    return sorted(p for p in local.glob(name) if p.is_file())


def _rule_problems(path: Path) -> list[str]:
    try:
        doc = load_yaml(path.read_text(encoding="utf-8")) or {}
    except Exception as exc:  # the parse error is the finding
        return [f"does not parse as YAML: {exc}"]
    groups = doc.get("groups") if isinstance(doc, dict) else None
    if not isinstance(groups, list) or not groups:
        return ["has no rule `groups`"]
    out: list[str] = []
    for group in groups:
        for rule in (group or {}).get("rules") or []:
            name = rule.get("record") or rule.get("alert")
            if not name or not rule.get("expr"):
                out.append(
                    f"group {group.get('name')}: a rule without a record/alert name or an expr"
                )
    return out


def check_prometheus_rules(c: Compose, prom: Service, conf: dict[str, Any]) -> None:
    """Every rule file pattern matches mounted rule files."""
    config_dir = PurePosixPath(
        go_flags(prom.argv)[0].get("config.file", "/etc/prometheus/prometheus.yml")
    ).parent
    for pattern in conf.get("rule_files") or []:
        full = str(config_dir / str(pattern))  # relative patterns: from the config's folder
        files = _glob(c, prom, full)
        if not files:
            c.problem(prom.name, f"rule_files {pattern}: matches no file mounted from the project")
        for path in files:
            for problem in _rule_problems(path):
                c.problem(prom.name, f"rule file {path.name}: {problem}")


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.y*ml") if p.is_file()) if folder.is_dir() else []


def check_grafana(c: Compose) -> None:
    proms = c.of_kind("prometheus")
    for svc in c.of_kind("grafana"):
        svc.listens["web"] = int(svc.env.get("GF_SERVER_HTTP_PORT") or 3000)
        provisioning = mounted_path(c, svc, "/etc/grafana/provisioning")
        if provisioning is None or not provisioning.is_dir():
            c.problem(
                svc.name, "/etc/grafana/provisioning is not a folder mounted from the project"
            )
            continue
        uids = _check_datasources(c, svc, provisioning / "datasources", proms)
        _check_dashboards(c, svc, provisioning / "dashboards", uids)


def _check_datasources(c: Compose, svc: Service, folder: Path, proms: list[Service]) -> set[str]:
    uids: set[str] = set()
    for path in _yaml_files(folder):
        for ds in (load_yaml(path.read_text(encoding="utf-8")) or {}).get("datasources") or []:
            uids.add(str(ds.get("uid", "")))
            if ds.get("type") != "prometheus":
                continue
            url = urlsplit(str(ds.get("url", "")))
            target = c.resolve(url.hostname or "")
            if target is None or target not in proms:
                c.problem(
                    svc.name,
                    f"datasource {ds.get('name')}: {ds.get('url')} is not the Prometheus service",
                )
            elif url.port != target.listens.get("web", 9090):
                c.problem(
                    svc.name,
                    f"datasource {ds.get('name')}: {ds.get('url')}: "
                    f"{target.name} listens on {target.listens.get('web', 9090)}",
                )
    if not uids:
        c.problem(svc.name, "provisions no datasource (provisioning/datasources)")
    return uids


def _check_dashboards(c: Compose, svc: Service, folder: Path, uids: set[str]) -> None:
    providers = [
        p
        for path in _yaml_files(folder)
        for p in (load_yaml(path.read_text(encoding="utf-8")) or {}).get("providers") or []
    ]
    if not providers:
        c.problem(svc.name, "provisions no dashboard provider (provisioning/dashboards)")
    for provider in providers:
        where = str((provider.get("options") or {}).get("path", ""))
        local = mounted_path(c, svc, where) if where else None
        boards = sorted(local.glob("*.json")) if local is not None and local.is_dir() else []
        if not boards:
            c.problem(
                svc.name,
                f"dashboard provider {provider.get('name')}: {where or '(no path)'} "
                "holds no dashboard mounted from the project",
            )
        for board in boards:
            for problem in dashboard_problems(board, uids):
                c.problem(svc.name, f"dashboard {board.name}: {problem}")


def dashboard_problems(path: Path, datasource_uids: set[str]) -> list[str]:
    """What is wrong with a dashboard JSON file: parse, uid, panels and their datasources."""
    try:
        board = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return [f"is not JSON: {exc}"]
    out = [] if board.get("uid") else ["has no uid"]
    panels = [p for p in board.get("panels") or [] if p.get("type") != "row"]
    if not panels:
        out.append("has no panels")
    for panel in panels:
        for ds in [
            panel.get("datasource") or {},
            *((t.get("datasource") or {}) for t in panel.get("targets") or []),
        ]:
            uid = ds.get("uid") if isinstance(ds, dict) else None
            if uid is not None and uid not in datasource_uids:
                out.append(
                    f"panel {panel.get('title')!r} uses datasource uid {uid!r}, not "
                    f"provisioned ({', '.join(sorted(datasource_uids))})"
                )
                break
    return out
