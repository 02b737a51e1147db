"""A child process that never outlives its parent.

Each child starts in its own session (so its whole process group can be signalled) and
with ``PR_SET_PDEATHSIG = SIGKILL`` (so the kernel kills it if the thread that started it
dies, even by SIGKILL). The death signal is armed after any user switch, because Linux
clears it when the credentials change. The signal follows the starting *thread*, not the
process: a child started from a short-lived thread (``asyncio.to_thread``, say) would be
killed when that thread ends, so starts from any thread other than the main one go
through one spawner thread that lives as long as the process.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


class StartupError(RuntimeError):
    """A server did not become healthy; the message points at its log file."""


# Resolved once in the parent: the child between fork and exec must not load libraries
# (dlopen takes the loader lock, which another thread of the parent - gRPC's, say - may
# have held at the moment of the fork; the child would then die or hang before exec).
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None

_SH = shutil.which("sh") or "/bin/sh"


def _parent_guard(parent_pid: int) -> list[str]:
    """A shell prefix that exits instead of running the command when the parent died
    before setpriv armed the death signal (nobody would ever signal the orphan), and
    otherwise execs the command (same pid, the signal kept)."""
    script = f'if [ "$PPID" != "{parent_pid}" ]; then exit 1; fi; exec "$0" "$@"'
    return [_SH, "-c", script]


_spawner_lock = threading.Lock()
_spawner: ThreadPoolExecutor | None = None


def _spawn(start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Run ``start`` on a thread that lives as long as this process (see the module doc)."""
    global _spawner
    if threading.current_thread() is threading.main_thread():
        return start()
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vcc-spawner")
        spawner = _spawner
    return spawner.submit(start).result()


def _arm_parent_death_signal(parent_pid: int) -> Callable[[], None]:
    """Build the ``preexec_fn`` run in the child between fork and exec."""
    prctl, kill = _PRCTL, int(signal.SIGKILL)

    def preexec() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody would signal us.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


class ManagedProcess:
    """One OS process with a log file, stopped by signalling its process group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path | str,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        *,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.stop_signal = stop_signal
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        """True while the process runs; does not reap it, so its group id stays reserved."""
        if self._proc is None or self._proc.returncode is not None:
            return False
        try:
            info = os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self._proc.poll() is None
        return info is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> None:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._log.write(f"--- start {self.name}: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        if _SETPRIV is not None:
            # No Python code between fork and exec: a parent with gRPC threads can crash a
            # child that runs any (seen as SIGSEGV before exec). util-linux's setpriv sets
            # the parent-death signal after any user switch, then execs the command (same
            # pid). It also switches the user: Popen's user=/group= would make CPython
            # fork() instead of vfork(), and fork() runs gRPC's atfork handlers, whose
            # restarted event-engine thread segfaults the child (a PostgreSQL restarted as
            # its system user under a live drill died with SIGSEGV before exec).
            extra: dict[str, Any] = {}
            argv = [
                *[_SETPRIV, *setpriv_user(self.user), "--pdeathsig", "KILL", "--"],
                *_parent_guard(os.getpid()),
                *self.argv,
            ]
            preexec = None
        else:
            extra = run_as(self.user)
            argv, preexec = self.argv, _arm_parent_death_signal(os.getpid())
        log = self._log
        self._proc = _spawn(
            lambda: subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=preexec,
                **extra,
            )
        )

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the process to exit; return its code, or None on timeout."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 10) -> None:
        """Send the stop signal to the process group, then SIGKILL after ``timeout``."""
        if self._proc is None:
            return
        if self.alive:
            self._signal_group(self.stop_signal)
            deadline = time.monotonic() + timeout
            while self.alive and time.monotonic() < deadline:
                time.sleep(0.05)
        self._reap()

    def kill(self) -> None:
        """SIGKILL the whole process group at once."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self._reap()

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def _reap(self) -> None:
        """SIGKILL what is left of the group, then reap the leader.

        The leader is reaped last: until then its pid (the group id) cannot be reused, so
        the SIGKILL reaches only our own leftovers (e.g. postgres backends).
        """
        assert self._proc is not None
        if self._proc.returncode is None:
            self._signal_group(signal.SIGKILL)
        self._proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def run_as(user: str | None) -> dict[str, Any]:
    """``subprocess`` keyword arguments that switch to ``user`` and drop root's groups."""
    if user is None:
        return {}
    import pwd

    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def setpriv_user(user: str | None) -> list[str]:
    """``setpriv`` options that switch to ``user`` and drop root's groups."""
    if user is None:
        return []
    import pwd

    entry = pwd.getpwnam(user)
    return [f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    abort: Callable[[], str | None] | None = None,
) -> None:
    """Poll ``condition`` until true; ``abort`` returns a reason to give up early."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        reason = abort() if abort is not None else None
        if reason is not None:
            raise StartupError(f"{what}: {reason}")
        if time.monotonic() > deadline:
            raise StartupError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(interval)


def http_get_json(url: str, timeout: float = 2.0) -> Any:
    """GET ``url`` and decode JSON; None when unreachable or not JSON."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read().decode())
    except (OSError, ValueError, urllib.error.URLError):
        return None


def exited_early(proc: ManagedProcess) -> Callable[[], str | None]:
    """An ``abort`` for :func:`wait_until`: the process died while we waited."""

    def check() -> str | None:
        if proc.alive:
            return None
        return f"exited with code {proc.returncode}; log {proc.log_path}:\n{proc.log_tail()}"

    return check


START_ATTEMPTS = 3  # a server whose free port was taken meanwhile gets fresh ports


class ServerProcess:
    """The life cycle every server we start shares: launch it, wait until its own health
    check passes, retry on fresh ports when ours were taken (unless they were fixed), stop
    and restart it on the same ports and data. Subclasses provide :meth:`launch`,
    :meth:`healthy`, :meth:`describe` and, to allow retries, :meth:`_move_ports`."""

    _proc: ManagedProcess | None = None
    stop_timeout_s: float = 10.0
    start_timeout_s: float = 60.0
    health_interval_s: float = 0.1

    def launch(self) -> None:
        raise NotImplementedError

    def healthy(self) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def _move_ports(self) -> bool:
        """Pick fresh ports for a retry; False when the ports may not move."""
        return False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.alive

    def wait_healthy(self, timeout: float | None = None) -> None:
        assert self._proc is not None, "launch() first"
        wait_until(
            self.healthy,
            timeout=self.start_timeout_s if timeout is None else timeout,
            what=self.describe(),
            interval=self.health_interval_s,
            abort=exited_early(self._proc),
        )

    def start(self) -> None:
        """Start and wait until healthy; retry on fresh ports if ours were taken."""
        for attempt in range(1, START_ATTEMPTS + 1):
            self.launch()
            try:
                self.wait_healthy()
                return
            except StartupError:
                self.stop()
                if attempt == START_ATTEMPTS or not self._move_ports():
                    raise

    def stop(self, timeout: float | None = None) -> None:
        if self._proc is not None:
            self._proc.stop(self.stop_timeout_s if timeout is None else timeout)

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()

    def restart(self) -> None:
        """Stop and start again on the same ports with the same data."""
        self.stop()
        self.launch()
        self.wait_healthy()
