"""The site's web gateway in its own process: it serves the sign-in page, dies with a
site killed by SIGKILL, is started again after a crash and stopped by a stopping site.

The parent is a stand-in site (``_helpers/gateway_parent.py``) that starts the gateway
exactly as a site node does; ``test_bench_web.py`` runs it under a real site.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from vcc_ops.cli import example_province_path

HELPER = Path(__file__).parent / "_helpers" / "gateway_parent.py"
GENEROUS_S = 60.0


def gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_for(condition: object, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + GENEROUS_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {GENEROUS_S} s")
        time.sleep(0.1)


def is_gateway(pid: int) -> bool:
    """A live web gateway process (a zombie has no command line)."""
    try:
        return "vcc_site.web.gateway" in psutil.Process(pid).cmdline()
    except psutil.Error:
        return False


def gateways_of(parent: int) -> list[int]:
    return [p.pid for p in psutil.Process(parent).children() if is_gateway(p.pid)]


def serves(url: str) -> bool:
    try:
        return 'id="login-form"' in sign_in_page(url)
    except OSError:  # not listening yet
        return False


def sign_in_page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as reply:
        assert reply.status == 200
        return str(reply.read().decode())


@pytest.fixture
def site() -> Iterator[tuple[subprocess.Popen[str], int, str]]:
    """The stand-in site, its gateway's pid and the pages' URL."""
    proc = subprocess.Popen(
        [sys.executable, str(HELPER), str(example_province_path())],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2:
        proc.kill()
        pytest.fail(f"the stand-in site did not start its gateway (exit {proc.wait()})")
    gateway = int(line[0])
    try:
        yield proc, gateway, line[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in [gateway, *(p.pid for p in psutil.Process().children(recursive=True))]:
            if is_gateway(pid):  # a failed test must not leave one behind
                psutil.Process(pid).kill()


def test_gateway_serves_the_sign_in_page_and_dies_with_its_sigkilled_site(
    site: tuple[subprocess.Popen[str], int, str],
) -> None:
    proc, gateway, url = site
    assert gateways_of(proc.pid) == [gateway], "the pages run in a child process"
    assert 'id="login-form"' in sign_in_page(url)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=GENEROUS_S)
    wait_for(lambda: gone(gateway), f"gateway {gateway} gone with its site")


def test_a_crashed_gateway_is_started_again_and_a_stopping_site_stops_it(
    site: tuple[subprocess.Popen[str], int, str],
) -> None:
    proc, gateway, url = site
    psutil.Process(gateway).kill()
    wait_for(lambda: gateways_of(proc.pid) not in ([], [gateway]), "a new gateway")
    (again,) = gateways_of(proc.pid)
    wait_for(lambda: serves(url), "the new gateway serving the same URL")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=GENEROUS_S) == 0
    assert gone(again), "the site waited for its gateway to end"
