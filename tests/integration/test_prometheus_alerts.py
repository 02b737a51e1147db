"""A real Prometheus scraping a running province (`vcc up`, real processes).

``promtool check metrics`` passes on every process's ``/metrics``; a Prometheus started
here (Debian's ``prometheus`` package) with the shipped rules scrapes the hub and the
sites, evaluates every rule without error (the service-level rules find the target's
bucket on real data), answers every query of the dashboard, and fires VccSiteDown for a
site that is killed (the rules are a copy with a short ``for:``) and for no other.

The province is shared by the tests of this module; the alert test, last, kills a site.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vcc_ops.infra import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "ops" / "prometheus" / "rules"
DASHBOARD = REPO / "ops" / "grafana" / "dashboards" / "vcc-province.json"
VCC = [sys.executable, "-m", "vcc_ops.cli"]
SITES = ("KM", "DL")
START_TIMEOUT_S = 240.0
WAIT_S = 180.0  # generous: the machine may be shared
SITE_DOWN_RULE = 'expr: up{job="vcc-site"} == 0\n        for: 1m'


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(
            f"{name} not installed: apt-get install prometheus (Debian's package "
            "provides prometheus and promtool)"
        )
    return path


def _wait(predicate: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.5)


def _status(workdir: Path) -> dict[str, Any]:
    out = subprocess.run(
        [*VCC, "status", "--workdir", str(workdir), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(out.stdout) if out.stdout.strip() else {"running": False, "nodes": []}


def _healthy(workdir: Path, proc: subprocess.Popen[bytes]) -> dict[str, Any] | None:
    if proc.poll() is not None:
        raise AssertionError(f"vcc up exited early with {proc.returncode}")
    report = _status(workdir)
    nodes = [n for n in report.get("nodes", []) if n["kind"] in ("hub", "site")]
    ok = (
        report.get("running")
        and len(nodes) == 1 + len(SITES)
        and all(n["health"] == "healthy" for n in report["nodes"])
    )
    return report if ok else None


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """The running province's hub and site nodes by name (``metrics``: host:port, ``pid``)."""
    tmp = tmp_path_factory.mktemp("province")
    log = (tmp / "vcc-up.log").open("wb")
    proc = subprocess.Popen(
        [*VCC, "up", "--workdir", str(tmp / "run"), "--sites", ",".join(SITES)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        report = _wait(lambda: _healthy(tmp / "run", proc), "a healthy province", START_TIMEOUT_S)
        yield {n["name"]: n for n in report["nodes"] if n["kind"] in ("hub", "site")}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
        log.close()


def _scrape(endpoint: str) -> str:
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as resp:
        return str(resp.read().decode())


def test_promtool_check_metrics_on_every_process(province: dict[str, dict[str, Any]]) -> None:
    promtool = _tool("promtool")
    for name, node in province.items():
        text = _scrape(node["metrics"])
        done = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
            f"{name}: {done.stdout}{done.stderr}"
        )
        assert "grpc_server_handled_total{" in text, name  # health checks went through
        if node["kind"] == "site":
            assert 'vcc_site_answer_wait_seconds_bucket{business="fault"' in text
            assert "vcc_site_service_level_target{" in text
        else:
            assert f'vcc_hub_leader{{node="{name}"}} 1.0' in text


# -- a real Prometheus ------------------------------------------------------------------


class Prometheus:
    def __init__(self, tmp: Path, hub: list[str], sites: list[str]) -> None:
        rules = tmp / "rules"
        rules.mkdir()
        for path in RULES.glob("*.yml"):
            text = path.read_text(encoding="utf-8")
            if SITE_DOWN_RULE in text:  # fire within seconds, not a minute
                text = text.replace(SITE_DOWN_RULE, SITE_DOWN_RULE.replace("for: 1m", "for: 3s"))
            (rules / path.name).write_text(text, encoding="utf-8")
        assert "for: 3s" in (rules / "vcc-alerts.yml").read_text(encoding="utf-8")
        conf = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [f"{rules}/*.yml"],
            "scrape_configs": [
                {"job_name": "vcc-hub", "static_configs": [{"targets": hub}]},
                {"job_name": "vcc-site", "static_configs": [{"targets": sites}]},
            ],
        }
        (tmp / "prometheus.yml").write_text(json.dumps(conf), encoding="utf-8")  # JSON is YAML
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (tmp / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                _tool("prometheus"),
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.log_path = tmp / "prometheus.log"

    def get(self, path: str, **params: str) -> Any:
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=5) as resp:
                return bool(resp.status == 200)
        except OSError as exc:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"prometheus exited: {self.log_path.read_text()[-2000:]}"
                ) from exc
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/query", query=expr)["result"])

    def alerts(self, name: str, state: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self.get("/api/v1/alerts")["alerts"]
            if a["labels"]["alertname"] == name and a["state"] == state
        ]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


@pytest.fixture
def prometheus(tmp_path: Path, province: dict[str, dict[str, Any]]) -> Iterator[Prometheus]:
    hub = [n["metrics"] for n in province.values() if n["kind"] == "hub"]
    sites = [n["metrics"] for n in province.values() if n["kind"] == "site"]
    prom = Prometheus(tmp_path, hub, sites)
    try:
        _wait(prom.ready, "Prometheus to be ready")
        yield prom
    finally:
        prom.stop()


def _rules_healthy(prom: Prometheus) -> bool:
    rules = [r for g in prom.get("/api/v1/rules")["groups"] for r in g["rules"]]
    errors = [f"{r['name']}: {r.get('lastError')}" for r in rules if r["health"] == "err"]
    assert not errors, errors
    return len(rules) >= 19 and all(r["health"] == "ok" for r in rules)


def _dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    subs = {f"${v['name']}": ".*" for v in board["templating"]["list"]}
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, value in subs.items():
                expr = expr.replace(var, value)
            out.append((panel["title"], expr))
    return out


def test_prometheus_evaluates_the_rules_and_fires_site_down(
    province: dict[str, dict[str, Any]],
    prometheus: Prometheus,
) -> None:
    prom = prometheus
    _wait(lambda: len([s for s in prom.query("up == 1")]) == len(province), "every process scraped")
    _wait(lambda: _rules_healthy(prom), "every rule evaluated without error")
    # the target's bucket is found on real data: one series per (site, business, tier)
    # each site's series appears once a scrape of it and an evaluation after that are done
    query = 'site_business_tier:vcc_answered_within_target:rate5m{business="fault", tier="vip"}'

    def every_sites_series() -> list[dict[str, Any]] | None:
        rows: list[dict[str, Any]] = prom.query(query)
        return rows if len(rows) >= len(SITES) else None

    within = _wait(every_sites_series, "the answered-within-target rate of every site")
    assert sorted(s["metric"]["site"] for s in within) == sorted(SITES)
    assert _wait(lambda: prom.query("vcc_hub_leader == 1"), "a leading hub")
    for title, expr in _dashboard_queries():
        prom.query(expr)  # a bad query is an HTTP 400: urlopen raises, naming it
        del title
    assert prom.alerts("VccSiteDown", "firing") == prom.alerts("VccSiteDown", "pending") == []
    assert prom.alerts("VccHubWithoutLeader", "pending") == []

    victim = province["site-DL"]
    os.kill(victim["pid"], signal.SIGKILL)
    firing = _wait(lambda: prom.alerts("VccSiteDown", "firing"), "VccSiteDown to fire")
    assert [a["labels"]["instance"] for a in firing] == [victim["metrics"]]
    assert firing[0]["labels"]["severity"] == "critical"
    assert firing[0]["annotations"]["summary"] == f"Site node {victim['metrics']} is down"
