"""The compose file as ``vcc compose check`` sees it: services, what each one runs, the
names it is reached by, the ports it listens on; plus the checks that need nothing but
the file itself (images, mounts, dependencies, host ports).

Docker is never run: the file is read with PyYAML (anchors and ``<<`` merges resolved
the way Compose resolves them), and the image built from ``ops/docker/Dockerfile`` is
read from that Dockerfile (``WORKDIR``, ``COPY``, ``ENTRYPOINT``, ``CMD``).
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

DOCKERFILE = "ops/docker/Dockerfile"

# Public images the compose file may use (repository -> kind), always with a version tag.
PUBLIC_IMAGES = {
    "nats": "nats",
    "quay.io/coreos/etcd": "etcd",
    "cockroachdb/cockroach": "crdb",
    "prom/prometheus": "prometheus",
    "natsio/prometheus-nats-exporter": "nats-exporter",
    "grafana/grafana": "grafana",
    "busybox": "tool",  # the volume-ownership job
}


def load_yaml(text: str) -> Any:
    """Parse YAML with PyYAML's safe loader (imported here: only this checker needs it)."""
    yaml: Any = importlib.import_module("yaml")
    return yaml.safe_load(text)


def as_argv(value: Any) -> list[str]:
    """A compose ``command``/``entrypoint`` (list or shell-form string) as an argv."""
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def go_flags(argv: Sequence[str], booleans: Iterable[str] = ()) -> tuple[dict[str, str], list[str]]:
    """``--name=v``, ``--name v``, ``-name v`` and boolean flags -> ({name: value}, positionals)."""
    flags: dict[str, str] = {}
    positional: list[str] = []
    bools = set(booleans)
    i = 0
    while i < len(argv):
        token = argv[i]
        if token.startswith("-") and len(token) > 1:
            name, eq, value = token.lstrip("-").partition("=")
            if not eq:
                nxt = argv[i + 1] if i + 1 < len(argv) else None
                if name not in bools and nxt is not None and not nxt.startswith("-"):
                    value, i = nxt, i + 1
                else:
                    value = "true"
            flags[name] = value
        else:
            positional.append(token)
        i += 1
    return flags, positional


def host_port(address: str, default_port: int) -> tuple[str, int]:
    """``host[:port]`` (or a URL) -> (host, port)."""
    rest = address.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep:
        return rest, default_port
    return host, int(port) if port.isdigit() else -1


def is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


@dataclass
class Dockerfile:
    """What the checker needs from the vcc image's Dockerfile."""

    path: Path
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    copies: list[tuple[str, str]] = field(default_factory=list)  # (context path, image path)
    user: str = ""  # USER: who the processes run as

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        df = cls(path)
        workdir = PurePosixPath("/")
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            instr, _, arg = line.partition(" ")
            instr, arg = instr.upper(), arg.strip()
            if instr == "WORKDIR":
                workdir = workdir / arg
            elif instr == "USER":
                df.user = arg
            elif instr in ("ENTRYPOINT", "CMD"):
                argv = json.loads(arg) if arg.startswith("[") else ["/bin/sh", "-c", arg]
                setattr(df, "entrypoint" if instr == "ENTRYPOINT" else "cmd", argv)
            elif instr in ("COPY", "ADD"):
                parts = [p for p in arg.split() if not p.startswith("--")]
                for src in parts[:-1]:
                    df.copies.append((src, str(workdir / parts[-1])))
        return df

    def local_file(self, image_path: str, context: Path) -> Path | None:
        """The file of the build context that ends up at ``image_path`` in the image."""
        target = PurePosixPath(image_path)
        for src, dest in self.copies:
            try:
                rel = target.relative_to(dest)
            except ValueError:
                continue
            return (context / src / rel).resolve()
        return None


@dataclass(eq=False)  # compared and hashed by identity
class Service:
    name: str
    spec: dict[str, Any]
    kind: (
        str  # vcc | nats | nats-exporter | etcd | crdb | crdb-job | prometheus | grafana | unknown
    )
    argv: list[str]
    env: dict[str, str]
    names: set[str]  # how other containers reach it
    ipv4: str | None = None
    listens: dict[str, int] = field(default_factory=dict)  # role -> port, filled by checks
    locality: set[str] = field(default_factory=set)  # CockroachDB locality tier values


@dataclass
class Compose:
    """The parsed file and the problems found so far (``problem`` adds one)."""

    path: Path
    project_dir: Path
    data: dict[str, Any]
    services: dict[str, Service] = field(default_factory=dict)
    dockerfile: Dockerfile | None = None
    problems: list[str] = field(default_factory=list)

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def of_kind(self, kind: str) -> list[Service]:
        return [s for s in self.services.values() if s.kind == kind]

    def resolve(self, host: str) -> Service | None:
        """The service a host name or address reaches, if any."""
        for svc in self.services.values():
            if host in svc.names or (svc.ipv4 is not None and host == svc.ipv4):
                return svc
        return None

    def local(self, host_path: str) -> Path:
        return (self.project_dir / host_path).resolve()

    def mounted_file(self, svc: Service, container_path: str) -> Path | None:
        """The host file bind-mounted at ``container_path`` of ``svc``, if any."""
        for source, target in bind_mounts(svc.spec):
            if target == container_path:
                return self.local(source)
        return None


def bind_mounts(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of every bind mount of a service."""
    out: list[tuple[str, str]] = []
    for vol in spec.get("volumes") or []:
        if isinstance(vol, str):
            parts = vol.split(":")
            if len(parts) >= 2 and parts[0].startswith((".", "/", "~")):
                out.append((parts[0], parts[1]))
        elif isinstance(vol, dict) and vol.get("type") == "bind":
            out.append((str(vol.get("source")), str(vol.get("target"))))
    return out


def _environment(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        pairs = (str(item).partition("=") for item in env)
        return {k: v for k, _, v in pairs}
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _kind(spec: dict[str, Any], argv: list[str]) -> str:
    if "build" in spec:
        return "vcc-job" if argv[1:2] == ["compose"] else "vcc"
    repo = str(spec.get("image", "")).split("@")[0].rsplit(":", 1)[0]
    kind = PUBLIC_IMAGES.get(repo, "unknown")
    if kind == "crdb" and (not argv or argv[0] != "start"):
        return "crdb-job"
    return kind


def load(path: Path, project_dir: Path | None = None) -> Compose:
    """Parse the file; a file that does not parse yields a Compose with that problem."""
    compose = Compose(path, (project_dir or path.parent).resolve(), {})
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except Exception as exc:  # any parse error is the finding itself
        compose.problem(path.name, f"does not parse as YAML: {exc}")
        return compose
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        compose.problem(path.name, "has no `services` mapping")
        return compose
    compose.data = data
    df_path = compose.local(DOCKERFILE)
    if df_path.is_file():
        compose.dockerfile = Dockerfile.read(df_path)
    for name, spec in data["services"].items():
        spec = spec or {}
        argv = as_argv(spec.get("entrypoint")) + as_argv(spec.get("command"))
        if "build" in spec and compose.dockerfile is not None:
            entry = (
                as_argv(spec["entrypoint"])
                if "entrypoint" in spec
                else compose.dockerfile.entrypoint
            )
            cmd = as_argv(spec["command"]) if "command" in spec else compose.dockerfile.cmd
            argv = entry + cmd
        names = {name, *[str(x) for x in (spec.get("hostname"), spec.get("container_name")) if x]}
        ipv4 = None
        networks = spec.get("networks")
        if isinstance(networks, dict):
            for net in networks.values():
                names.update((net or {}).get("aliases") or [])
                ipv4 = (net or {}).get("ipv4_address") or ipv4
        compose.services[name] = Service(
            name, spec, _kind(spec, argv), argv, _environment(spec), names, ipv4
        )
    return compose


# -- checks that need only the file -------------------------------------------------------


def check_images(c: Compose) -> None:
    for svc in c.services.values():
        image = str(svc.spec.get("image", ""))
        if "build" in svc.spec:
            build = svc.spec["build"]
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = (
                "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            )
            if c.local(context) != c.project_dir or dockerfile != DOCKERFILE:
                c.problem(
                    svc.name,
                    f"builds {context}/{dockerfile}; vcc images build {DOCKERFILE} "
                    "with the repository as context",
                )
            elif c.dockerfile is None:
                c.problem(svc.name, f"{DOCKERFILE} does not exist")
            if image.endswith(":latest"):
                c.problem(svc.name, f"image tag `{image}` is `latest`; name a version")
            continue
        if svc.kind == "unknown":
            c.problem(
                svc.name,
                f"image `{image}` is neither built from {DOCKERFILE} nor one of "
                f"the pinned public images ({', '.join(sorted(PUBLIC_IMAGES))})",
            )
            continue
        tag = image.split("@")[0].rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        if "@sha256:" not in image and (
            not tag or tag == "latest" or not any(ch.isdigit() for ch in tag)
        ):
            c.problem(svc.name, f"image `{image}` has no explicit version tag")


def check_references(c: Compose) -> None:
    """depends_on names services; named volumes are declared; bind-mounted files exist."""
    declared = set((c.data.get("volumes") or {}).keys())
    for svc in c.services.values():
        deps = svc.spec.get("depends_on") or []
        for dep in deps if isinstance(deps, list) else deps.keys():
            if dep not in c.services:
                c.problem(svc.name, f"depends_on `{dep}`, which is not a service of the file")
        for vol in svc.spec.get("volumes") or []:
            source = vol.split(":")[0] if isinstance(vol, str) else str(vol.get("source", ""))
            if source.startswith((".", "/", "~")):
                if not c.local(source).exists():
                    c.problem(svc.name, f"mounts {source}, which does not exist")
            elif source and source not in declared:
                c.problem(
                    svc.name, f"uses volume `{source}`, not declared under top-level `volumes`"
                )


def published(spec: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    """(host ip, host port, container port, protocol) of every published port."""
    out: list[tuple[str, int, int, str]] = []
    for entry in spec.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is not None:
                out.append(
                    (
                        str(entry.get("host_ip", "0.0.0.0")),
                        int(entry["published"]),
                        int(entry["target"]),
                        str(entry.get("protocol", "tcp")),
                    )
                )
            continue
        text, _, proto = str(entry).partition("/")
        parts = text.rsplit(":", 2)
        if len(parts) == 1:
            continue  # container port only: Docker picks a free host port
        ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        out.append((ip, int(parts[-2]), int(parts[-1]), proto or "tcp"))
    return out


def check_ports(c: Compose) -> None:
    """Host port mappings do not collide and go to a port the service listens on."""
    taken: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for svc in c.services.values():
        for ip, host, target, proto in published(svc.spec):
            for other_ip, other in taken.get((host, proto), []):
                if "0.0.0.0" in (ip, other_ip) or ip == other_ip:
                    c.problem(svc.name, f"host port {host}/{proto} is already published by {other}")
            taken.setdefault((host, proto), []).append((ip, svc.name))
            if svc.listens and target not in svc.listens.values():
                c.problem(
                    svc.name,
                    f"publishes container port {target}, but it listens on "
                    f"{sorted(set(svc.listens.values()))}",
                )


def check_network(c: Compose) -> None:
    """Fixed addresses lie in the network's subnet, outside the range Docker hands out."""
    configs = (((c.data.get("networks") or {}).get("default") or {}).get("ipam") or {}).get(
        "config"
    ) or []
    for svc in c.services.values():
        if svc.ipv4 is None:
            continue
        addr = ipaddress.IPv4Address(svc.ipv4)
        inside = [
            cfg for cfg in configs if addr in ipaddress.ip_network(cfg.get("subnet", "0.0.0.0/32"))
        ]
        if not inside:
            c.problem(
                svc.name, f"fixed address {svc.ipv4} is not in a subnet of the default network"
            )
        elif any(
            cfg.get("ip_range") and addr in ipaddress.ip_network(cfg["ip_range"]) for cfg in inside
        ):
            c.problem(
                svc.name,
                f"fixed address {svc.ipv4} lies in ip_range, where Docker may give "
                "it to another container first",
            )
