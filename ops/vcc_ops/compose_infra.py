"""Checks of the compose file's infrastructure: the NATS JetStream cluster (and its
Prometheus exporters), the etcd cluster, the CockroachDB cluster with its init job, and
Prometheus. Each check records the ports a service listens on (``Service.listens``) so
that addresses given to the vcc processes can be checked against them.
"""

from __future__ import annotations

import re
from typing import Any

from vcc_ops import compose_monitoring
from vcc_ops.compose_model import Compose, Service, go_flags, host_port, load_yaml

NATS_NODES = ETCD_NODES = CRDB_NODES = 3


# -- NATS server configuration files --------------------------------------------------


class NatsConf:
    """A reader for the NATS server configuration format (``key: value``, ``key = value``,
    ``key value``, ``{}`` maps, ``[]`` arrays, ``#`` and ``//`` comments)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    @classmethod
    def parse(cls, text: str) -> dict[str, Any]:
        return cls(text)._map(closing=None)

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip(self, also: str = "") -> None:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t\r\n" + also:
                self.pos += 1
            elif ch == "#" or self.text.startswith("//", self.pos):
                while self.pos < len(self.text) and self.text[self.pos] != "\n":
                    self.pos += 1
            else:
                return

    def _map(self, closing: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            self._skip(",;")
            if self._peek() == (closing or ""):
                self.pos += 1 if closing else 0
                return out
            start = self.pos
            while self._peek() and self._peek() not in " \t\r\n:={":
                self.pos += 1
            key = self.text[start : self.pos].strip("\"'")
            if not key:
                raise ValueError(f"expected a key at offset {start}")
            self._skip()
            if self._peek() in (":", "="):
                self.pos += 1
            self._skip()
            out[key] = self._value()

    def _value(self) -> Any:
        ch = self._peek()
        if ch in ("{", "["):
            self.pos += 1
            return self._map("}") if ch == "{" else self._array()
        if ch in ('"', "'"):
            end = self.text.index(ch, self.pos + 1)
            value, self.pos = self.text[self.pos + 1 : end], end + 1
            return value
        start = self.pos
        while (
            self._peek()
            and self._peek() not in "\n,;]}"
            and not (self._peek() == "#" and self.text[self.pos - 1] in " \t")
        ):
            self.pos += 1
        raw = self.text[start : self.pos].strip()
        if raw.isdigit():
            return int(raw)
        return {"true": True, "false": False}.get(raw.lower(), raw)

    def _array(self) -> list[Any]:
        items: list[Any] = []
        while True:
            self._skip(",")
            if self._peek() == "]":
                self.pos += 1
                return items
            if not self._peek():
                raise ValueError("unterminated array")
            items.append(self._value())


# -- NATS ---------------------------------------------------------------------------------


def _no_stray(c: Compose, svc: Service, stray: list[str]) -> None:
    if stray:
        c.problem(
            svc.name,
            f"stray argument(s) {stray}: a comma inside a YAML flow sequence "
            "[a, b] splits the item; quote flags whose value has commas",
        )


def check_nats(c: Compose) -> None:
    nodes = c.of_kind("nats")
    if len(nodes) != NATS_NODES:
        c.problem("nats", f"{len(nodes)} NATS servers; the JetStream cluster needs {NATS_NODES}")
    confs: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}
    for svc in nodes:
        argv = svc.argv[1:] if svc.argv[:1] == ["nats-server"] else svc.argv
        flags, stray = go_flags(argv, booleans=("js", "jetstream", "D", "V", "DV", "T"))
        _no_stray(c, svc, stray)
        conf_path = flags.get("c") or flags.get("config")
        conf: dict[str, Any] = {}
        if conf_path is None:
            c.problem(
                svc.name, "runs NATS without --config; the cluster is set up in a config file"
            )
        elif (local := c.mounted_file(svc, conf_path)) is None or not local.is_file():
            c.problem(svc.name, f"--config {conf_path} is not a file mounted from the project")
        else:
            try:
                conf = NatsConf.parse(local.read_text(encoding="utf-8"))
            except ValueError as exc:
                c.problem(svc.name, f"{conf_path} does not parse: {exc}")
        confs[svc.name] = conf
        name = (
            flags.get("server_name")
            or flags.get("n")
            or flags.get("name")
            or conf.get("server_name")
        )
        if not name:
            c.problem(svc.name, "has no server_name; JetStream clustering needs one per node")
        elif name in names:
            c.problem(svc.name, f"server_name {name} is also the name of {names[name]}")
        else:
            names[str(name)] = svc.name
        cluster = conf.get("cluster") or {}
        svc.listens["client"] = int(flags.get("p") or flags.get("port") or conf.get("port", 4222))
        svc.listens["http"] = int(
            flags.get("m") or flags.get("http_port") or conf.get("http_port", 0)
        )
        svc.listens["cluster"] = (
            int(cluster.get("port", 0)) or host_port(str(cluster.get("listen", "")), 0)[1]
        )
    for svc in nodes:
        _check_nats_conf(c, svc, confs[svc.name], nodes)


def _check_nats_conf(c: Compose, svc: Service, conf: dict[str, Any], nodes: list[Service]) -> None:
    if not conf:
        return
    js = conf.get("jetstream")
    if not isinstance(js, dict):
        c.problem(svc.name, "its config has no `jetstream { ... }` block")
    else:
        if not js.get("store_dir"):
            c.problem(svc.name, "jetstream has no store_dir: streams need file storage")
        if (
            str(js.get("sync_interval", "")).lower() != "always"
            and js.get("sync_always") is not True
        ):
            c.problem(svc.name, "jetstream does not sync every write (sync_interval: always)")
    if not svc.listens["http"]:
        c.problem(svc.name, "has no http_port: its monitoring endpoint cannot be scraped")
    cluster = conf.get("cluster")
    if not isinstance(cluster, dict) or not cluster.get("name"):
        c.problem(svc.name, "its config has no named `cluster { ... }` block")
        return
    routes = cluster.get("routes") or []
    routed: set[str] = set()
    for route in routes:
        host, port = host_port(str(route), -1)
        target = c.resolve(host)
        if target is None or target.kind != "nats":
            c.problem(svc.name, f"route {route} names no NATS service of the file")
        elif port != target.listens.get("cluster"):
            c.problem(
                svc.name,
                f"route {route}: {target.name} listens for routes on "
                f"{target.listens.get('cluster')}",
            )
        else:
            routed.add(target.name)
    missing = sorted({n.name for n in nodes} - routed)
    if len(routes) != NATS_NODES or missing:
        c.problem(
            svc.name,
            f"cluster routes {routes} do not name each of the {NATS_NODES} "
            f"NATS nodes once (missing: {', '.join(missing) or 'none'})",
        )


def check_nats_exporters(c: Compose) -> None:
    watched: set[str] = set()
    for svc in c.of_kind("nats-exporter"):
        flags, urls = go_flags(
            svc.argv,
            booleans=(
                "varz",
                "connz",
                "connz_detailed",
                "routez",
                "subz",
                "healthz",
                "gatewayz",
                "leafz",
                "accstatz",
                "channelz",
                "serverz",
                "use_internal_server_id",
                "use_server_name",
                "D",
                "V",
                "DV",
            ),
        )
        svc.listens["metrics"] = int(flags.get("p") or flags.get("port") or 7777)
        if len(urls) != 1:
            c.problem(svc.name, f"should name one NATS monitoring URL, names {urls}")
            continue
        host, port = host_port(urls[0], 80)
        target = c.resolve(host)
        if target is None or target.kind != "nats":
            c.problem(svc.name, f"watches {urls[0]}, which is no NATS service of the file")
        elif port != target.listens.get("http"):
            c.problem(
                svc.name,
                f"watches {urls[0]}, but {target.name} serves monitoring on "
                f"{target.listens.get('http')}",
            )
        else:
            watched.add(target.name)
    for svc in c.of_kind("nats"):
        if svc.name not in watched:
            c.problem(
                svc.name,
                "no prometheus-nats-exporter watches it (NATS monitoring is JSON, "
                "Prometheus cannot scrape it directly)",
            )


# -- etcd -----------------------------------------------------------------------------------


def _url_map(value: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in value.split(",") if "=" in item)


def check_etcd(c: Compose) -> None:
    nodes = c.of_kind("etcd")
    if len(nodes) != ETCD_NODES:
        c.problem("etcd", f"{len(nodes)} etcd members; the cluster needs {ETCD_NODES}")
    flags_of: dict[str, dict[str, str]] = {}
    for svc in nodes:
        argv = svc.argv[1:] if svc.argv[:1] and svc.argv[0].endswith("etcd") else svc.argv
        flags, stray = go_flags(argv)
        _no_stray(c, svc, stray)
        flags_of[svc.name] = flags
        svc.listens["client"] = host_port(flags.get("listen-client-urls", "").split(",")[0], 2379)[
            1
        ]
        svc.listens["peer"] = host_port(flags.get("listen-peer-urls", "").split(",")[0], 2380)[1]
        metrics = flags.get("listen-metrics-urls", "").split(",")[0]
        svc.listens["metrics"] = host_port(metrics, 2381)[1] if metrics else svc.listens["client"]
        for url in flags.get("advertise-client-urls", "").split(","):
            host, port = host_port(url, 2379)
            if c.resolve(host) is not svc or port != svc.listens["client"]:
                c.problem(svc.name, f"advertises client URL {url}, which does not reach it")
    clusters = {f.get("initial-cluster", "") for f in flags_of.values()}
    tokens = {f.get("initial-cluster-token", "") for f in flags_of.values()}
    if len(clusters) > 1 or len(tokens) > 1:
        c.problem("etcd", "members disagree on --initial-cluster / --initial-cluster-token")
    members = {f.get("name", ""): svc for svc in nodes for f in [flags_of[svc.name]]}
    for svc in nodes:
        flags = flags_of[svc.name]
        initial = _url_map(flags.get("initial-cluster", ""))
        if set(initial) != set(members):
            c.problem(
                svc.name,
                f"--initial-cluster names {sorted(initial)}, members are {sorted(members)}",
            )
        for member, url in initial.items():
            host, port = host_port(url, 2380)
            owner = members.get(member)
            if owner is None or c.resolve(host) is not owner or port != owner.listens["peer"]:
                c.problem(
                    svc.name,
                    f"--initial-cluster entry {member}={url} does not reach "
                    f"member {member}'s peer port",
                )
        own = initial.get(flags.get("name", ""))
        if own is not None and flags.get("initial-advertise-peer-urls") != own:
            c.problem(
                svc.name, "--initial-advertise-peer-urls differs from its --initial-cluster entry"
            )


# -- CockroachDB ----------------------------------------------------------------------------

CREATE_DB = re.compile(r"CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][\w]*)", re.I)
INIT = re.compile(r"cockroach\s+init\b[^\n;&|]*?--host[= ](\S+)")


def check_crdb(c: Compose, site_ids: set[str] | None) -> set[str]:
    """Check the nodes and the init job; return the databases the job creates. Each node's
    locality names a site of the province (``site_ids``; None: not known, not checked)."""
    nodes = c.of_kind("crdb")
    if len(nodes) != CRDB_NODES:
        c.problem("cockroachdb", f"{len(nodes)} CockroachDB nodes; the cluster needs {CRDB_NODES}")
    joins: dict[str, set[str]] = {}
    localities: dict[str, str] = {}
    for svc in nodes:
        flags, stray = go_flags(svc.argv[1:], booleans=("insecure", "background"))
        _no_stray(c, svc, stray)
        svc.listens["sql"] = host_port(
            flags.get("listen-addr") or flags.get("sql-addr") or "", 26257
        )[1]
        svc.listens["http"] = host_port(flags.get("http-addr", ""), 8080)[1]
        if c.resolve(host_port(flags.get("advertise-addr", ""), 26257)[0]) is not svc:
            c.problem(svc.name, f"--advertise-addr={flags.get('advertise-addr')} does not name it")
        joins[svc.name] = {j for j in flags.get("join", "").split(",") if j}
        locality = flags.get("locality", "")
        tiers = _url_map(locality)
        if not tiers or (site_ids is not None and not set(tiers.values()) & site_ids):
            c.problem(svc.name, f"--locality={locality!r} names no site of the province")
        elif locality in localities.values():
            c.problem(svc.name, f"--locality={locality} is also another node's locality")
        localities[svc.name] = locality
        svc.locality = set(tiers.values())
    if len({frozenset(j) for j in joins.values()}) > 1:
        c.problem("cockroachdb", f"nodes disagree on --join: {sorted(map(sorted, joins.values()))}")
    for name, join in joins.items():
        for entry in sorted(join):
            host, port = host_port(entry, 26257)
            target = c.resolve(host)
            if target is None or target.kind != "crdb" or port != target.listens.get("sql"):
                c.problem(name, f"--join entry {entry} is not a CockroachDB node's SQL address")
        if {c.resolve(host_port(j, 26257)[0]) for j in join} != set(nodes):
            c.problem(name, "--join does not list every CockroachDB node")
    return _check_crdb_init(c, nodes)


def _check_crdb_init(c: Compose, nodes: list[Service]) -> set[str]:
    jobs = c.of_kind("crdb-job")
    if len(jobs) != 1:
        c.problem("cockroachdb", f"{len(jobs)} init jobs; one job initialises the cluster")
        return set()
    job = jobs[0]
    script = "\n".join(job.argv)
    init = INIT.search(script)
    if init is None:
        c.problem(job.name, "does not run `cockroach init --host=...`")
    else:
        host, port = host_port(init.group(1), 26257)
        target = c.resolve(host)
        if target is None or target.kind != "crdb" or port != target.listens.get("sql"):
            c.problem(
                job.name, f"initialises {init.group(1)}, not a CockroachDB node's SQL address"
            )
    if str(job.spec.get("restart", "no")) not in ("no", "on-failure"):
        c.problem(job.name, 'a one-off job must not restart after it succeeds (restart: "no")')
    deps = job.spec.get("depends_on") or []
    if not {n.name for n in nodes} <= set(deps):
        c.problem(job.name, "does not depend on every CockroachDB node")
    databases = set(CREATE_DB.findall(script))
    if not databases:
        c.problem(job.name, "creates no database")
    return databases


# -- Prometheus -----------------------------------------------------------------------------

# kind -> (the role of the port metrics are served on, metrics path)
SCRAPE = {
    "vcc": ("metrics", "/metrics"),
    "etcd": ("metrics", "/metrics"),  # --listen-metrics-urls (plain), else the client port
    "crdb": ("http", "/_status/vars"),
    "nats-exporter": ("metrics", "/metrics"),
    "prometheus": ("web", "/metrics"),
}


def check_prometheus(c: Compose) -> None:
    proms = c.of_kind("prometheus")
    if len(proms) != 1:
        c.problem("prometheus", f"{len(proms)} Prometheus services; one scrapes everything")
        return
    prom = proms[0]
    flags, _ = go_flags(prom.argv)
    prom.listens["web"] = host_port(flags.get("web.listen-address", ""), 9090)[1]
    conf_path = flags.get("config.file", "/etc/prometheus/prometheus.yml")
    local = c.mounted_file(prom, conf_path)
    if local is None or not local.is_file():
        c.problem(prom.name, f"{conf_path} is not a file mounted from the project")
        return
    conf = load_yaml(local.read_text(encoding="utf-8")) or {}
    compose_monitoring.check_prometheus_rules(c, prom, conf)
    scraped: set[str] = set()
    for job in conf.get("scrape_configs") or []:
        path = job.get("metrics_path", "/metrics")
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                _check_target(c, str(job.get("job_name")), path, str(target), scraped)
    for svc in c.services.values():
        if svc.kind in SCRAPE and svc.kind != "prometheus" and svc.name not in scraped:
            c.problem(svc.name, f"is not scraped by Prometheus ({local.name} has no target for it)")


def _check_target(c: Compose, job: str, path: str, target: str, scraped: set[str]) -> None:
    where = f"prometheus job {job}"
    host, port = host_port(target, 80)
    svc = c.resolve(host)
    if svc is None:
        c.problem(where, f"target {target} is no service of the compose file")
        return
    if svc.kind not in SCRAPE:
        c.problem(
            where,
            f"target {target}: {svc.kind} serves no Prometheus metrics"
            + (" (scrape its prometheus-nats-exporter)" if svc.kind == "nats" else ""),
        )
        return
    role, expected_path = SCRAPE[svc.kind]
    if role not in svc.listens:  # its settings are malformed, reported already
        scraped.add(svc.name)
    elif port != svc.listens[role]:
        c.problem(where, f"target {target}: {svc.name} serves metrics on port {svc.listens[role]}")
    elif path != expected_path:
        c.problem(
            where, f"target {target}: {svc.name} serves metrics at {expected_path}, not {path}"
        )
    else:
        scraped.add(svc.name)
