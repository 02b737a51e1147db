"""The site's web gateway as a child process the site starts, watches and stops.

The gateway (:mod:`vcc_site.web.gateway`) serves the pages in a process of its own, so
their HTTP, event streams and gRPC calls run beside the site's event loop, on another
core, instead of in it. The site waits for the gateway to serve before it says it
serves itself (so the pages are up once the site is healthy, as in one process).

The child dies with the site: it arms the kernel's parent-death signal at its start (a
site killed by SIGKILL takes its gateway with it); a site that stops sends it SIGTERM
and waits for it. A gateway that ends on its own while the site runs is started again
after a pause (1 s, doubling up to 30 s while it keeps failing), unless it ended cleanly
(exit code 0: somebody stopped it on purpose).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import replace

from vcc_domain.errors import ConfigError
from vcc_proto.server import free_tcp_port
from vcc_site.web.gateway import READY, GatewayConfig, child_env
from vcc_site.web.server import LOOPBACK
from vcc_site.web.settings import WebSettings

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0  # a loaded machine: the child imports its web stack first
STOP_TIMEOUT_S = 10.0
FIRST_PAUSE_S, LONGEST_PAUSE_S = 1.0, 30.0
STEADY_S = 60.0  # a gateway that ran this long had not been failing: the pause starts over


class GatewayChild:
    """One gateway process at a time; :meth:`start` returns once it serves."""

    def __init__(self, config: GatewayConfig, web: WebSettings) -> None:
        if web.port == 0:  # chosen once: a gateway started again serves the same URL
            web = replace(web, port=free_tcp_port(config.host if web.https else LOOPBACK))
        self.env = {**os.environ, **child_env(config, web)}
        self.url = ""
        self._proc: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        """Start the gateway and wait for it to serve (ConfigError when it cannot)."""
        self._proc, self.url = await self._spawn()
        self._watch = asyncio.create_task(self._keep_up(), name="web-gateway")
        log.info("agent desktop at %s (web gateway process %d)", self.url, self._proc.pid)

    async def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._proc is not None:
            await _end(self._proc)

    async def _spawn(self) -> tuple[asyncio.subprocess.Process, str]:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "vcc_site.web.gateway"),
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            url = await asyncio.wait_for(_ready_line(proc), START_TIMEOUT_S)
        except TimeoutError:
            await _end(proc)
            raise ConfigError(
                f"the web gateway did not serve in {START_TIMEOUT_S:.0f} s", field="VCC_WEB_PORT"
            ) from None
        except BaseException:
            await _end(proc)
            raise
        if url is None:
            code = await proc.wait()
            raise ConfigError(
                f"the web gateway exited at its start with code {code}; see the site's log",
                field="VCC_WEB_PORT",
            )
        return proc, url

    async def _keep_up(self) -> None:
        """Read the child's output to its end; start it again if it ends while wanted."""
        pause = FIRST_PAUSE_S
        loop = asyncio.get_running_loop()
        while True:
            assert self._proc is not None
            began = loop.time()
            code = await _drain(self._proc)
            if self._stopping:
                return
            if code == 0:
                log.warning("the web gateway stopped (exit 0): the pages are down")
                return
            if loop.time() - began > STEADY_S:
                pause = FIRST_PAUSE_S
            log.error("the web gateway ended with code %s; starting it in %.0f s", code, pause)
            await asyncio.sleep(pause)
            pause = min(2 * pause, LONGEST_PAUSE_S)
            try:
                self._proc, self.url = await self._spawn()
            except ConfigError as err:
                log.error("the web gateway did not start again: %s", err)
                continue  # _drain of the ended process returns at once: the next pause
            log.info("agent desktop at %s (web gateway process %d)", self.url, self._proc.pid)


async def _ready_line(proc: asyncio.subprocess.Process) -> str | None:
    """The URL from the child's ready line; None if its output ended first."""
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        text = line.decode(errors="replace").strip()
        if text.startswith(READY):
            return text.removeprefix(READY)
    return None


async def _drain(proc: asyncio.subprocess.Process) -> int:
    assert proc.stdout is not None
    while await proc.stdout.read(4096):
        pass
    return await proc.wait()


async def _end(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT_S`; waits for the exit."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def start_gateway(config: GatewayConfig, web: WebSettings) -> GatewayChild:
    child = GatewayChild(config, web)
    await child.start()
    return child
